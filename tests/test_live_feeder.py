"""The demo live feeder: atomic files, an injected outage, a warehouse it can bootstrap."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from analytics import store
from analytics.live import feeder
from analytics.live.watch import Watcher


def test_writes_files_atomically_with_an_outage(tmp_path: Path) -> None:
    out = feeder.run(
        landing_dir=tmp_path, warehouse=None, interval_s=0, outage_every=2, max_files=6, step_s=600, demo_dir=None
    )
    files = sorted(tmp_path.glob("live_*.csv"))
    assert out["files"] == len(files) == 6 and not list(tmp_path.glob("*.tmp"))
    # outage_every=2: files 2 and 3 of each 6-file cycle are down, in one region
    assert len(out["outages"]) == 1
    region = out["outages"][0]["region"]
    frames = [pl.read_csv(f, infer_schema=False) for f in files]
    cells = feeder.own_world(7, demo_dir=None)[0].filter(pl.col("region") == region)["cell_id"]

    def failed_share(frame: pl.DataFrame) -> float:
        calls = frame.filter(
            pl.col("cell_id").is_in(cells.implode()) & (pl.col("service") == "voice") & (pl.col("direction") == "out")
        )
        return calls.filter(pl.col("disposition") == "failed").height / max(calls.height, 1)

    assert failed_share(frames[2]) > 0.6 and failed_share(frames[3]) > 0.6
    assert failed_share(frames[0]) < 0.3 and failed_share(frames[5]) < 0.3
    assert sum(f.height for f in frames) == out["rows"]


@pytest.mark.slow
def test_bootstraps_an_empty_warehouse_and_the_watcher_loads_its_files(tmp_path: Path) -> None:
    wh, landing = tmp_path / "wh.duckdb", tmp_path / "landing"
    out = feeder.run(landing_dir=landing, warehouse=wh, interval_s=0, outage_every=0, max_files=2, demo_dir=None)
    with store.reader(wh) as con:
        history = store.scalar(con, "select count(*) from records")
        cells = store.scalar(con, "select count(*) from cells")
    assert history > 0 and cells > 0  # reference + 22 days of history loaded first
    results = Watcher(landing, warehouse=wh, alerts=False).run_once()
    assert [r["status"] for r in results] == ["loaded", "loaded"]
    with store.reader(wh) as con:
        assert store.scalar(con, "select count(*) from records") == history + out["rows"]
    assert out["outages"] == []
