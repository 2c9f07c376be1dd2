"""refresh_marts: billing, segments and fraud built in one writer, published as one snapshot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analytics import store
from analytics.demo import build
from analytics.marts import refresh_marts


@pytest.mark.slow
def test_one_refresh_publishes_one_snapshot_holding_all_three_marts(tmp_path: Path) -> None:
    wh = tmp_path / "wh.duckdb"
    build(wh, tmp_path / "demo", subscribers=200, months=1, end_date=dt.date(2026, 3, 31), marts=False)
    before = store.snapshot_version(wh)
    snaps_before = set(tmp_path.glob("wh.duckdb.snap-*[0-9]"))
    out = refresh_marts(wh)
    published = set(tmp_path.glob("wh.duckdb.snap-*[0-9]")) - snaps_before
    assert len(published) == 1  # was two: the fraud run published its own
    assert store.snapshot_version(wh) != before
    con = store.snapshot_reader(wh)
    try:  # the dashboard's view holds what this refresh built, fraud included
        assert store.scalar(con, "select count(*) from fraud_runs") == 1
        assert store.scalar(con, "select count(*) from fraud_alerts") == out["fraud_alerts"]
        assert store.scalar(con, "select count(*) from segment_months") == len(out["segment_months"]) == 1
    finally:
        con.close()
