"""The landing-folder watcher: atomic pick-up, moves, reasons, restarts and signals."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analytics import store
from analytics.config import ROOT
from analytics.ingest import ingest_files
from analytics.live.feeder import generate, synthetic_profile, write_atomically
from analytics.live.watch import Watcher

CELLS = pl.DataFrame(
    {"cell_id": ["a1", "a2", "b1"], "region": ["A", "A", "B"], "lat": [51.0, 51.1, 52.0], "lon": [0.0, 0.1, 1.0]}
)


def setup(tmp_path: Path) -> tuple[Path, Path]:
    """A warehouse holding the cell reference, and an empty landing folder."""
    wh = tmp_path / "wh.duckdb"
    CELLS.write_csv(tmp_path / "cells.csv")
    ingest_files([], warehouse=wh, cells=tmp_path / "cells.csv")
    landing = tmp_path / "landing"
    landing.mkdir()
    return wh, landing


def extract(rows: int, *, seed: int, start: dt.datetime = dt.datetime(2026, 3, 10, 9)) -> pl.DataFrame:
    """About ``rows`` v1 rows of synthetic traffic (unique record ids per start/seed)."""
    profile = synthetic_profile(CELLS)
    rng = np.random.default_rng(seed)
    per_hour = profile.filter(pl.col("hour_of_week") == start.weekday() * 24 + start.hour)["records_per_hour"].sum()
    return generate(
        profile,
        pl.Series(["447700000001", "447700000002"]),
        start=start,
        seconds=3600.0,
        rng=rng,
        scale=rows / per_hour,
        id_prefix=f"S{seed}-",
    )


def records(wh: Path) -> int:
    with store.reader(wh) as con:
        return store.scalar(con, "select count(*) from records")


def test_loads_ready_files_skips_tmp_and_files_away(tmp_path: Path) -> None:
    wh, landing = setup(tmp_path)
    good = extract(300, seed=1)
    write_atomically(good, landing / "good.csv")
    extract(50, seed=2).write_csv(landing / "partial.csv.tmp")  # still being written
    good.drop("msisdn").write_csv(landing / "nomsisdn.csv")  # header lacks a required column
    (landing / ".hidden.csv").write_text("x")
    results = Watcher(landing, warehouse=wh, alerts=False).run_once()
    assert sorted(r["status"] for r in results) == ["loaded", "refused"]
    assert records(wh) == good.height
    assert (landing / "processed" / "good.csv").exists()
    assert (landing / "rejected" / "nomsisdn.csv").exists()
    assert "msisdn" in (landing / "rejected" / "nomsisdn.csv.reason.txt").read_text()
    assert (landing / "partial.csv.tmp").exists() and (landing / ".hidden.csv").exists()
    # the client finishes the partial file: renamed, it is picked up on the next pass
    os.replace(landing / "partial.csv.tmp", landing / "partial.csv")
    assert [r["status"] for r in Watcher(landing, warehouse=wh, alerts=False).run_once()] == ["loaded"]
    assert records(wh) == good.height + pl.read_csv(landing / "processed" / "partial.csv").height


def test_same_file_delivered_twice_is_counted_once(tmp_path: Path) -> None:
    wh, landing = setup(tmp_path)
    frame = extract(200, seed=3)
    write_atomically(frame, landing / "a.csv")
    watcher = Watcher(landing, warehouse=wh, alerts=False)
    watcher.run_once()
    write_atomically(frame, landing / "a.csv")  # same name and content again
    assert [r["status"] for r in watcher.run_once()] == ["already_loaded"]
    assert records(wh) == frame.height
    assert len(list((landing / "processed").glob("a.csv*"))) == 2  # both copies kept


def test_markers_gate_files_when_in_use(tmp_path: Path) -> None:
    wh, landing = setup(tmp_path)
    write_atomically(extract(100, seed=4), landing / "m.csv")
    watcher = Watcher(landing, warehouse=wh, markers="always", alerts=False)
    assert watcher.run_once() == []
    (landing / "m.csv.done").touch()
    assert [r["status"] for r in watcher.run_once()] == ["loaded"]
    assert (landing / "processed" / "m.csv.done").exists() and not (landing / "m.csv.done").exists()
    # auto mode: a marker seen once (here in processed/) makes markers required
    write_atomically(extract(100, seed=5), landing / "n.csv")
    assert Watcher(landing, warehouse=wh, alerts=False).pending() == []


def _watch(landing: Path, wh: Path, *extra: str, verbose: bool = False) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analytics",
            *(["-v"] if verbose else []),
            "watch",
            str(landing),
            "--warehouse",
            str(wh),
            "--json",
            "--interval",
            "0.2",
            "--no-alerts",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_s", [0.0, 0.4, 0.9])
def test_killed_mid_file_then_restarted_gives_exact_totals(tmp_path: Path, kill_after_s: float) -> None:
    wh, landing = setup(tmp_path)
    frames = [extract(60_000, seed=10 + i, start=dt.datetime(2026, 3, 10, 9 + i)) for i in range(2)]
    for i, frame in enumerate(frames):
        write_atomically(frame, landing / f"big{i}.csv")
    proc = _watch(landing, wh, verbose=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.time() + 120
    while not any("big0.csv: loading" in line for line in lines) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(kill_after_s)  # 0: before the load commits; later: during it, or between commit and move
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    again = _watch(landing, wh, "--once")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert records(wh) == sum(f.height for f in frames)
    assert sorted(p.name for p in (landing / "processed").glob("big*.csv")) == ["big0.csv", "big1.csv"]
    assert not list(landing.glob("big*.csv"))
    with store.reader(wh) as con:  # one manifest row per file: nothing loaded twice
        assert store.scalar(con, "select count(*) from loads where file_name like 'big%' and status = 'loaded'") == 2


@pytest.mark.slow
def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    wh, landing = setup(tmp_path)
    write_atomically(extract(100, seed=6), landing / "s.csv")
    proc = _watch(landing, wh)
    deadline = time.time() + 60
    while not (landing / "processed" / "s.csv").exists() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["stopped"] is True and summary["files_loaded"] == 1
    assert "s.csv: loaded" in err and " s -> processed" in err  # one line per file, rows and seconds


def test_file_committed_but_not_moved_is_a_no_op_on_restart(tmp_path: Path) -> None:
    """The exact state a kill between the load's commit and the move leaves behind."""
    wh, landing = setup(tmp_path)
    frame = extract(500, seed=7)
    write_atomically(frame, landing / "c.csv")
    ingest_files([landing / "c.csv"], warehouse=wh)  # committed, still in the landing folder
    results = Watcher(landing, warehouse=wh, alerts=False).run_once()
    assert [(r["status"], r["rows_loaded"]) for r in results] == [("already_loaded", 0)]
    assert records(wh) == frame.height
    assert (landing / "processed" / "c.csv").exists()


@pytest.mark.slow
def test_marts_refresh_once_the_folder_is_quiet(tmp_path: Path) -> None:
    """A burst of files costs one marts refresh, made only after ``marts_idle_s`` without a
    load; nothing new since the last refresh: no refresh."""
    wh, landing = setup(tmp_path)
    watcher = Watcher(landing, warehouse=wh, alerts=False, marts_idle_s=30)
    assert watcher.refresh_marts_if_due(force=True) is None  # nothing loaded yet
    write_atomically(extract(300, seed=21), landing / "m1.csv")
    watcher.run_once()
    assert watcher.refresh_marts_if_due(now=time.monotonic() + 29) is None  # not quiet long enough
    write_atomically(extract(300, seed=22, start=dt.datetime(2026, 4, 2, 9)), landing / "m2.csv")
    watcher.run_once()  # a second file: the quiet period starts again
    assert watcher.refresh_marts_if_due(now=time.monotonic() + 29) is None
    with store.reader(wh) as con:
        assert (
            not store.has_table(con, "segment_months") or store.scalar(con, "select count(*) from segment_months") == 0
        )
    out = watcher.refresh_marts_if_due(now=time.monotonic() + 31)
    assert out is not None
    with store.reader(wh) as con:  # both months' segments built by the one refresh
        months = store.fetch(con, "select strftime(month_date, '%Y-%m') as m from segment_months order by 1")["m"]
    assert months.to_list() == ["2026-03", "2026-04"]
    assert watcher.refresh_marts_if_due(force=True) is None  # nothing new since


@pytest.mark.slow
def test_watch_once_leaves_the_marts_current_and_no_marts_skips_them(tmp_path: Path) -> None:
    wh, landing = setup(tmp_path)
    write_atomically(extract(300, seed=23), landing / "o.csv")
    totals = Watcher(landing, warehouse=wh, alerts=False, marts_idle_s=None).run(once=True)
    assert totals["files_loaded"] == 1 and "marts_refreshes" not in totals
    with store.reader(wh) as con:
        assert (
            not store.has_table(con, "segment_months") or store.scalar(con, "select count(*) from segment_months") == 0
        )
    write_atomically(extract(300, seed=24, start=dt.datetime(2026, 3, 11, 9)), landing / "p.csv")
    totals = Watcher(landing, warehouse=wh, alerts=False).run(once=True)
    assert totals["files_loaded"] == 1 and totals["marts_refreshes"] == 1
    with store.reader(wh) as con:
        assert store.scalar(con, "select count(*) from segment_months") == 1
