"""The dashboard's queries on dense data (many cells, few subscribers per cell and hour):
which stored tables they read, with the same figures (issue 18, pages on dense data).

Worlds are built through the real path (v1 CSV ingested with ``ingest_files``; zone UTC).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_pages_data import HEADER, build_small_warehouse

from analytics import dashboard, store
from analytics.dashboard import heatmaps
from analytics.dashboard._query import window
from analytics.ingest import ingest_files

ALL = (date(2026, 3, 1), date(2026, 6, 30))
DAILY = [(grain, by) for grain in ("day", "week", "month") for by in ("total", "region", "service")]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return build_small_warehouse(tmp_path_factory.mktemp("dense_small"))


def test_day_week_month_series_read_the_daily_cube(small, tmp_path):
    """The default traffic view (day by region) and the other splits the daily cube holds
    keep their figures with the hourly cube emptied: they read usage_daily_region."""
    copy = tmp_path / "copy.duckdb"  # the published snapshot (views over the lake's files), writable
    shutil.copy(store._current_snapshot(small), copy)
    con = duckdb.connect(str(copy))
    try:
        expected = {
            (grain, by): store.fetch(con, "@dashboard_trend", {"grain": grain, "dim": by, **window(*ALL)})
            for grain, by in DAILY
        }
        con.execute("create or replace view usage_hourly_cell as select * from usage_hourly_cell_schema")
        assert store.scalar(con, "select count(*) from usage_hourly_cell") == 0
        for (grain, by), want in expected.items():
            assert want.height > 0
            assert_frame_equal(dashboard.trend(con, *ALL, grain=grain, by=by), want)
        assert dashboard.trend(con, *ALL, grain="hour", by="region").height == 0  # hours: the hourly cube
    finally:
        con.close()


@pytest.mark.parametrize(("grain", "by"), [*DAILY, ("hour", "region"), ("day", "cell_id"), ("week", "direction")])
def test_series_match_a_scan_of_the_records(small, grain, by):
    """Every grain and split against the records themselves, filters included."""
    con = store.snapshot_reader(small)
    try:
        for regions, services in [((), ()), (("North",), ("voice", "data"))]:
            got = dashboard.trend(con, *ALL, regions, services, grain=grain, by=by)
            key = "'all'" if by == "total" else f"coalesce(r.{by}, '')"
            scan = store.fetch(
                con,
                f"""
                select date_trunc($grain, r.start_at) as bucket_at, {key} as key,
                       count(*)::bigint as records, sum(r.duration_s) / 60.0 as minutes,
                       sum(r.bytes_up + r.bytes_down) / 1e9 as data_gb, sum(r.charge)::double as revenue
                from records r
                where r.start_at >= $start::timestamp and r.start_at < ($end::date + 1)::timestamp
                  and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], r.region))
                  and (len($services::varchar[]) = 0 or list_contains($services::varchar[], r.service))
                group by all order by bucket_at, key
                """,
                {"grain": grain, **window(*ALL, regions, services)},
            )
            assert_frame_equal(got, scan, check_dtypes=False)
    finally:
        con.close()


def _dense_world(folder: Path) -> Path:
    """30 subscribers (m01..m30), one voice call each on Monday 2026-03-02 at 09:mm UTC,
    spread over five cells (six subscribers a cell) and both directions: every row of the
    hourly cube holds 3 subscribers (a bound under k = 5) though every group holds 6 or more.
    Tuesday 22:05: m01 and m02 send one sms each on C1 (a group of two)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        f"v{i},2026-03-02T09:{i:02d}:00Z,+4470000000{i:02d},+4471111111,voice,{'out' if i % 2 else 'in'},60,"
        f"C{(i - 1) % 5 + 1},0.10,0,0,false"
        for i in range(1, 31)
    ]
    rows += [f"s{i},2026-03-03T22:05:00Z,+4470000000{i:02d},+4471111111,sms,out,0,C1,0.05,0,0,false" for i in (1, 2)]
    (folder / "extract.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    (folder / "cells.csv").write_text(
        "cell_id,region,lat,lon,site_id,technology,capacity_erlangs\n"
        + "".join(f"C{c},North,54.{c},-1.{c},S{c},4G,10\n" for c in range(1, 6)),
        encoding="utf-8",
    )
    warehouse = folder / "warehouse.duckdb"
    ingest_files([folder / "extract.csv"], warehouse=warehouse, cells=folder / "cells.csv")
    return warehouse


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    con = store.snapshot_reader(_dense_world(tmp_path_factory.mktemp("dense")))
    yield con
    con.close()


MONDAY = (date(2026, 3, 2), date(2026, 3, 2))


def test_cube_bound_cannot_decide_on_dense_data(dense):
    hw = dashboard.hour_weekday(dense, *MONDAY, exact=True)
    assert hw.select("weekday", "hour", "records", "subscribers", "subscribers_at_least").rows() == [(1, 9, 30, 30, 3)]
    cells = dashboard.cell_map(dense, *MONDAY, exact=True)
    assert cells["subscribers"].to_list() == [6] * 5 and cells["subscribers_at_least"].to_list() == [3] * 5


def test_a_slice_of_the_records_decides_instead_of_a_full_count(dense, monkeypatch):
    """With the cube's bound under k everywhere, the distinct subscribers of the first 25
    records (m01..m25: 25 in the Monday group, 5 in each cell) decide that no group is
    small, so no exact count runs (``subscribers`` stays null) and nothing is suppressed."""
    monkeypatch.setattr(heatmaps, "SLICE_ROWS", 25)
    hw = dashboard.hour_weekday(dense, *MONDAY)
    assert hw.select("weekday", "hour", "records", "subscribers", "suppressed").rows() == [(1, 9, 30, None, False)]
    cells = dashboard.cell_map(dense, *MONDAY)
    assert cells["records"].to_list() == [6] * 5
    assert cells["subscribers"].null_count() == 5 and not cells["suppressed"].any()


@pytest.mark.parametrize("slice_rows", [1, 3, 25, 1000])
def test_suppression_stays_exact_whatever_the_slice(dense, monkeypatch, slice_rows):
    """A slice too small to decide falls back to the exact count: the same groups are
    suppressed as with exact counts everywhere."""
    monkeypatch.setattr(heatmaps, "SLICE_ROWS", slice_rows)
    week = (date(2026, 3, 2), date(2026, 3, 3))
    for fn in (dashboard.hour_weekday, dashboard.cell_map):
        got, exact = fn(dense, *week), fn(dense, *week, exact=True)
        assert got["suppressed"].to_list() == exact["suppressed"].to_list()
        assert_frame_equal(got.drop("subscribers"), exact.drop("subscribers"))
    hw = dashboard.hour_weekday(dense, *week).filter(pl.col("suppressed"))
    assert hw.select("weekday", "hour", "records").rows() == [(2, 22, None)]
