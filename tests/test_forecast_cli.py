"""``python -m analytics forecast`` on a small ingested warehouse, and the series read from the cubes."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from analytics import store
from analytics.forecast import cells, series
from analytics.ingest import ingest_files
from tests.conftest import REPO, record, write_v1

START = dt.datetime(2026, 1, 5)


def _rows(days: int, *, cells: tuple[str, ...] = ("N1", "S1", "E1"), seed: int = 1, prefix: str = "r") -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for d in range(days):
        day = START + dt.timedelta(days=d)
        weekly = 0.6 if day.weekday() >= 5 else 1.0
        for cell in cells:
            for k in range(int(8 * weekly) + rng.randint(0, 2)):
                svc = ("voice", "sms", "data", "voip")[k % 4]
                t = day + dt.timedelta(hours=rng.choice([9, 12, 15, 18]), minutes=rng.randint(0, 59))
                rows.append(
                    record(
                        record_id=f"{prefix}{cell}-{d}-{k}",
                        start_time=t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        service=svc,
                        cell_id=cell,
                        duration_s=rng.randint(60, 600) if svc in ("voice", "voip") else 0,
                        bytes_up=rng.randint(0, 10**6) if svc in ("data", "voip") else 0,
                        bytes_down=rng.randint(0, 10**7) if svc in ("data", "voip") else 0,
                    )
                )
    return rows


def _cli(warehouse: Path, *args: str, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANALYTICS_CONFIG": str(config), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "analytics", "forecast", "--warehouse", str(warehouse), "--json", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    path = tmp_path / "analytics.toml"
    path.write_text('[forecast]\nmodels_daily = ["seasonal_naive", "ets"]\nbacktest_windows = 2\nn_jobs = 2\n')
    return path


def test_daily_series_follow_the_summary_definitions(tmp_path, refs, warehouse):
    rows = [
        record(record_id="v1", start_time="2026-03-01T10:00:00Z", service="voice", duration_s=90, cell_id="N1"),
        record(
            record_id="v2",
            start_time="2026-03-01T11:00:00Z",
            service="voice",
            direction="in",
            duration_s=30,
            cell_id="N2",
        ),
        record(record_id="s1", start_time="2026-03-01T12:00:00Z", service="mms", duration_s=0, cell_id="N1"),
        record(
            record_id="d1",
            start_time="2026-03-03T23:30:00Z",
            service="video",
            duration_s=3600,
            cell_id="N1",
            bytes_up=10**9,
            bytes_down=2 * 10**9,
        ),
    ]
    ingest_files(
        [write_v1(tmp_path / "x.csv", rows)], warehouse=warehouse, cells=refs["cells"], timezone="Europe/Paris"
    )
    with store.reader(warehouse) as con:
        frame = series.daily_series(con, timezone="Europe/Paris")
    north = frame.filter(pl.col("region") == "North").pivot("metric", index="ds", values="y").sort("ds")
    # day 1: 2 voice minutes (90 + 30 s), 3 records, 1 sms (mms); day 2 has no rows at all: a gap;
    # the video record at 23:30 UTC on 03-03 is 00:30 on 03-04 in Paris
    assert north["ds"].dt.date().to_list() == [
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 3),
        dt.date(2026, 3, 4),
    ]
    assert north["voice_minutes"].to_list() == [2.0, None, None, 0.0]
    assert north["records"].to_list() == [3.0, None, None, 1.0]
    assert north["sms"].to_list()[0] == 1.0 and north["data_gb"].to_list()[3] == pytest.approx(3.0)
    assert north["busy_hour_erlangs"].to_list()[3] == pytest.approx(1.0)
    quiet = frame.filter(pl.col("region") == "Quiet")  # in the cell reference, no traffic: zeros
    assert quiet["y"].sum() == 0 and quiet.height == 4 * 5


def test_empty_warehouse_series_keep_their_schema(refs, warehouse):
    ingest_files([], warehouse=warehouse, cells=refs["cells"])
    with store.reader(warehouse) as con:
        assert series.daily_series(con).schema == series.empty().schema
        assert series.hourly_series(con).is_empty()


@pytest.mark.slow
def test_forecast_cli_json_incremental_and_fallbacks(tmp_path, refs, warehouse, fast_config):
    small = tmp_path / "cells_small.csv"  # N1 engineered for 0.01 E: over its capacity every day
    small.write_text(refs["cells"].read_text().replace("N1,North,54.9,-1.6,S1,4G,30", "N1,North,54.9,-1.6,S1,4G,0.01"))
    ingest_files([write_v1(tmp_path / "a.csv", _rows(70))], warehouse=warehouse, cells=small)
    out = _cli(warehouse, "--horizon-days", "10", config=fast_config)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    got = {(r["region"], r["metric"]) for r in data["regions"]}
    for region in ("North", "South", "East", "Quiet"):
        assert {(region, "voice_minutes"), (region, "data_gb"), (region, "records"), (region, "sms")} <= got
    for r in data["regions"]:
        assert set(r) >= {"region", "metric", "model", "mase", "forecast"}
        assert [f["ds"] for f in r["forecast"]][:2] == ["2026-03-16", "2026-03-17"] and len(r["forecast"]) == 10
        assert all(f["yhat_lower"] <= f["yhat"] <= f["yhat_upper"] for f in r["forecast"])
    quiet = next(r for r in data["regions"] if r["region"] == "Quiet" and r["metric"] == "voice_minutes")
    assert quiet["model"] == "seasonal_naive" and "no traffic" in quiet["reason"]
    north = next(r for r in data["regions"] if r["region"] == "North" and r["metric"] == "voice_minutes")
    assert north["reason"] is None and north["mase"] > 0
    assert data["series_refit"] == data["series"] == 4 * 5
    # the contract's keys stay; issue 22 adds ``cells`` (the ranked cells to act on) and ``total`` (coherent totals)
    assert set(data) == {
        "regions",
        "freq",
        "horizon_days",
        "data_cutoff",
        "series",
        "series_refit",
        "seconds",
        "capacity",
        "cells",
        "total",
    }
    total = data["total"]
    assert set(total) == {"freq", "metrics", "regions", "cells", "max_abs_diff"} and total["max_abs_diff"] < 1e-6
    assert {m["metric"] for m in total["metrics"]} == {"records", "voice_minutes", "sms", "data_gb"}
    for m in total["metrics"]:
        assert m["method"] in ("bottom_up", "mint_ols", "mint_wls_struct", "mint_shrink") and len(m["forecast"]) == 10
        assert m["forecast"][0]["ds"] == "2026-03-16"
        regions = [r for r in total["regions"] if r["metric"] == m["metric"]]
        assert {r["region"] for r in regions} == {"North", "South", "East"}  # regions with traffic
        for day, point in enumerate(m["forecast"]):
            assert sum(r["forecast"][day]["yhat"] for r in regions) == pytest.approx(point["yhat"], abs=1e-6)
    assert {(c["region"], c["cell_id"]) for c in total["cells"]} == {("North", "N1"), ("South", "S1"), ("East", "E1")}
    assert {c["region"] for c in data["capacity"]} == {"North", "South", "East", "Quiet"}
    assert data["cells"][0]["cell_id"] == "N1" and data["cells"][0]["rank"] == 1
    assert data["cells"][0]["channels_to_add"] > 0 and data["cells"][0]["exhaustion_date"] == "2026-03-16"
    with store.reader(warehouse) as con:
        to_act = cells.cells_to_act(con)
    assert [c["cell_id"] for c in data["cells"]] == to_act["cell_id"].to_list()
    assert all(set(c) == set(cells.ACT_COLUMNS) for c in data["cells"])

    again = json.loads(_cli(warehouse, "--horizon-days", "10", config=fast_config).stdout)
    assert again["series_refit"] == 0 and again["regions"] == data["regions"]

    # more East traffic inside the loaded period: only East's series change
    ingest_files([write_v1(tmp_path / "b.csv", _rows(70, cells=("E1",), seed=9, prefix="x"))], warehouse=warehouse)
    third = json.loads(_cli(warehouse, "--horizon-days", "10", config=fast_config).stdout)
    assert third["series_refit"] == 5
    with store.reader(warehouse) as con:
        refit = store.fetch(
            con,
            "select region from forecast_series where run_id = (select run_id from forecast_runs order by finished_at desc limit 1)",
        )
    assert set(refit["region"]) == {"East"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--horizon-days", "500"), "between 1 and 180"),
        (("--freq", "hourly", "--horizon-days", "15"), "between 1 and 14"),
    ],
)
def test_forecast_cli_refuses_bad_horizons(tmp_path, refs, warehouse, fast_config, args, message):
    ingest_files([write_v1(tmp_path / "a.csv", _rows(3))], warehouse=warehouse, cells=refs["cells"])
    out = _cli(warehouse, *args, config=fast_config)
    assert out.returncode == 2 and message in out.stderr and out.stdout == ""


@pytest.mark.slow
def test_forecast_cli_without_data(tmp_path, refs, fast_config):
    out = _cli(tmp_path / "missing.duckdb", config=fast_config)
    assert out.returncode == 2 and "no warehouse" in out.stderr
    empty = tmp_path / "wh" / "empty.duckdb"
    ingest_files([], warehouse=empty, cells=refs["cells"])
    out = _cli(empty, config=fast_config)
    assert out.returncode == 2 and "no usage" in out.stderr


@pytest.mark.slow
def test_forecast_cli_hourly(tmp_path, refs, warehouse, fast_config):
    ingest_files([write_v1(tmp_path / "a.csv", _rows(24, cells=("N1",)))], warehouse=warehouse, cells=refs["cells"])
    out = _cli(warehouse, "--freq", "hourly", "--horizon-days", "2", config=fast_config)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    north = next(r for r in data["regions"] if r["region"] == "North" and r["metric"] == "data_gb")
    with store.reader(warehouse) as con:
        last_hour = store.scalar(con, "select max(hour_at) from usage_hourly_cell")
    first = (last_hour + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # from the end of the loaded data
    assert len(north["forecast"]) == 48 and north["forecast"][0]["ds"] == first
    assert north["model"] in (
        "seasonal_naive",
        "ets",
        "sf_ets",
        "sf_theta",
        "sf_mstl",
        "combo_mean2",
        "combo_mean3",
        "combo_median3",
    )
    assert data["total"] is None  # coherent totals are daily
