"""Queries behind the dashboard pages (analytics.dashboard), on a hand-computed warehouse.

The warehouse is built through the real path: small v1 CSV files ingested with
``analytics.ingest.ingest_files``. Zone UTC (the contract default).

Fixture world (cells C1, C2 in North, C3, C4 in South; C4 never carries traffic):
* 2026-03-02 (Mon) 09:10 UTC: m1..m6 each one answered outgoing voice call of 120 s on
  C1, charge 0.10.
* 2026-03-03 (Tue) 22:05 UTC: m1, m2 one outgoing sms each on C3, charge 0.05.
* 2026-04-06 (Mon) 10:00 UTC: m1..m4 one data session each on C2, 300 MB up + 200 MB
  down, charge 1.00.
* 2026-04-07 (Tue) 12:00 UTC: m5 one roaming outgoing voice call of 60 s, no cell,
  charge 2.00.
* 2026-06-15 08:00 UTC: m3 one answered incoming voice call of 30 s on C1, charge 0
  (May has no data: a month gap).
* one bad row (service "fax") and one repeated record_id (r1 again).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from analytics import dashboard, store
from analytics.ingest import ingest_files

HEADER = (
    "record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge,bytes_up,bytes_down,roaming"
)


def _rows() -> list[str]:
    rows = []
    for i in range(1, 7):
        rows.append(f"r{i},2026-03-02T09:10:00Z,+4470000000{i},+4471111111,voice,out,120,C1,0.10,0,0,false")
    for i in (1, 2):
        rows.append(f"s{i},2026-03-03T22:05:00Z,+4470000000{i},+4471111111,sms,out,0,C3,0.05,0,0,false")
    for i in range(1, 5):
        rows.append(f"d{i},2026-04-06T10:00:00Z,+4470000000{i},internet,data,out,0,C2,1.00,300000000,200000000,false")
    rows.append("x1,2026-04-07T12:00:00Z,+447000000005,+3312345678,voice,out,60,,2.00,0,0,true")
    rows.append("j1,2026-06-15T08:00:00Z,+447000000003,+4471111111,voice,in,30,C1,0.00,0,0,false")
    rows.append("bad1,2026-04-07T12:00:00Z,+447000000006,+4471111111,fax,out,0,C1,0.00,0,0,false")
    rows.append("r1,2026-03-02T09:10:00Z,+447000000001,+4471111111,voice,out,120,C1,0.10,0,0,false")
    return rows


def write_world(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "extract": folder / "extract.csv",
        "cells": folder / "cells.csv",
        "plans": folder / "plans.csv",
    }
    paths["extract"].write_text("\n".join([HEADER, *_rows()]) + "\n", encoding="utf-8")
    paths["cells"].write_text(
        "cell_id,region,lat,lon,site_id,technology,capacity_erlangs\n"
        "C1,North,54.9,-1.6,S1,4G,10\nC2,North,54.8,-1.5,S1,5G,\nC3,South,50.9,-1.4,S2,4G,8\nC4,South,50.7,-1.9,S3,4G,8\n",
        encoding="utf-8",
    )
    paths["plans"].write_text(
        "plan_id,name,monthly_fee,incl_voice_min,incl_sms,incl_data_mb,voice_per_min,sms_each,data_per_mb,"
        "intl_voice_per_min,roaming_voice_per_min,roaming_data_per_mb\n"
        "P1,Basic,5.00,0,0,0,0.05,0.05,0.002,1.00,2.00,0.10\n",
        encoding="utf-8",
    )
    return paths


def build_small_warehouse(folder: Path) -> Path:
    paths = write_world(folder)
    warehouse = folder / "warehouse.duckdb"
    ingest_files([paths["extract"]], warehouse=warehouse, cells=paths["cells"], plans=paths["plans"])
    return warehouse


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    warehouse = build_small_warehouse(tmp_path_factory.mktemp("dash"))
    c = store.snapshot_reader(warehouse)
    yield c
    c.close()


MARCH = (date(2026, 3, 1), date(2026, 3, 31))
ALL = (date(2026, 3, 1), date(2026, 4, 30))


def test_bounds_and_dimensions(con):
    b = dashboard.bounds(con).row(0, named=True)
    assert (b["first_date"], b["last_date"], b["records"]) == (date(2026, 3, 2), date(2026, 6, 15), 14)
    dims = dashboard.dimensions(con)
    assert dims["region"] == ["North", "ROAMING", "South"]
    assert dims["service"] == ["data", "sms", "voice"]


def test_has_data(tmp_path, con):
    assert not dashboard.has_data(tmp_path / "nothing.duckdb")
    with store.writer(tmp_path / "empty.duckdb"):
        pass
    assert not dashboard.has_data(tmp_path / "empty.duckdb")


def test_trend_by_region_day(con):
    df = dashboard.trend(con, *ALL, grain="day", by="region")
    got = {
        (r["bucket_at"].date(), r["key"]): (r["records"], r["minutes"], r["data_gb"], r["revenue"])
        for r in df.iter_rows(named=True)
    }
    assert got == {
        (date(2026, 3, 2), "North"): (6, 12.0, 0.0, pytest.approx(0.6)),
        (date(2026, 3, 3), "South"): (2, 0.0, 0.0, pytest.approx(0.1)),
        (date(2026, 4, 6), "North"): (4, 0.0, 2.0, pytest.approx(4.0)),
        (date(2026, 4, 7), "ROAMING"): (1, 1.0, 0.0, pytest.approx(2.0)),
    }


def test_trend_filters_and_top_cells(con):
    df = dashboard.trend(con, *ALL, ("North",), ("voice",), grain="month", by="cell_id", top=1)
    assert df.select("bucket_at", "key", "records").rows() == [(datetime(2026, 3, 1), "C1", 6)]
    both = dashboard.trend(con, *ALL, ("North",), grain="month", by="cell_id", top=1)
    assert both.select("key", "records").rows() == [("C1", 6), ("other", 4)]
    assert dashboard.trend(con, *ALL, ("Nowhere",)).height == 0
    assert dashboard.trend(con, *ALL, ("Nowhere",)).columns == [
        "bucket_at",
        "key",
        "records",
        "minutes",
        "data_gb",
        "revenue",
    ]


def test_previous_period_aligns_with_the_range(con):
    # April range: 30 days; previous = 2026-03-02 .. 2026-03-31, shifted forward by 30 days.
    prev = dashboard.previous_period(con, date(2026, 4, 1), date(2026, 4, 30), grain="day")
    assert prev.select("bucket_at", "records").rows() == [(datetime(2026, 4, 1), 6), (datetime(2026, 4, 2), 2)]
    cur = dashboard.trend(con, date(2026, 4, 1), date(2026, 4, 30), grain="day", by="total")
    assert cur.select("bucket_at", "records").rows() == [(datetime(2026, 4, 6), 4), (datetime(2026, 4, 7), 1)]


def test_records_behind_a_point(con):
    df = dashboard.records_behind(con, datetime(2026, 3, 2, 9), "hour", ("North",))
    assert sorted(df["record_id"].to_list()) == [f"r{i}" for i in range(1, 7)]
    assert dashboard.records_behind(con, datetime(2026, 3, 2, 10), "hour").height == 0
    one = dashboard.records_behind(con, datetime(2026, 3, 1), "month", cell="C3", limit=1)
    assert one["record_id"].to_list() == ["s1"]


def test_busy_hour(con):
    df = dashboard.busy_hour(con, date(2026, 3, 2), date(2026, 3, 3), ("North",))
    row = df.row(0, named=True)
    # 6 calls x 120 s = 720 s = 0.2 erlang-hours at 09h, averaged over the 2 days of the range
    assert (row["region"], row["busy_hour"]) == ("North", 9)
    assert row["busy_hour_erlangs"] == pytest.approx(0.1)
    assert row["busy_hour_calls"] == pytest.approx(3.0)


def test_heatmaps_suppress_small_groups(con):
    hw = dashboard.hour_weekday(con, *MARCH)
    mon9 = hw.filter((pl.col("weekday") == 1) & (pl.col("hour") == 9)).row(0, named=True)
    assert (mon9["records"], mon9["subscribers"], mon9["suppressed"], mon9["weekday_name"]) == (6, 6, False, "Mon")
    tue22 = hw.filter((pl.col("weekday") == 2) & (pl.col("hour") == 22)).row(0, named=True)
    assert tue22["suppressed"] and tue22["records"] is None and tue22["subscribers"] is None
    rd = dashboard.region_day(con, *ALL)
    assert rd.filter(~pl.col("suppressed")).select("region", "day_date", "records").rows() == [
        ("North", date(2026, 3, 2), 6)
    ]
    assert rd.filter(pl.col("suppressed"))["records"].null_count() == 3
    # with k = 2 the sms pair shows
    assert dashboard.region_day(con, *MARCH, k=2)["suppressed"].to_list() == [False, False]


def test_record_months_match_a_scan_of_the_records(con):
    from analytics.calendar import record_months
    from analytics.config import settings

    months = record_months(con)
    assert months == [date(2026, 3, 1), date(2026, 4, 1), date(2026, 6, 1)]  # May has no data
    scan = con.execute(
        "select distinct date_trunc('month', timezone($tz, timezone('UTC', start_at)))::date from records order by 1",
        {"tz": settings().timezone},
    ).fetchall()
    assert months == [m for (m,) in scan]


def test_heatmaps_count_records_only_when_the_cube_cannot_decide(con):
    """The cubes give a lower bound of distinct subscribers per group; exact counts are
    read from records only when asked for or when a bound is under k."""
    hw = dashboard.hour_weekday(con, *MARCH, k=2)  # every bound (6 and 2) reaches k = 2
    assert hw["subscribers"].null_count() == hw.height and not hw["suppressed"].any()
    assert hw.select("weekday", "hour", "records", "subscribers_at_least").rows() == [(1, 9, 6, 6), (2, 22, 2, 2)]
    exact = dashboard.hour_weekday(con, *MARCH, k=2, exact=True)
    assert exact["subscribers"].to_list() == [6, 2]
    rd = dashboard.region_day(con, *ALL, k=1)
    north = rd.filter((pl.col("region") == "North") & (pl.col("day_date") == date(2026, 3, 2))).row(0, named=True)
    assert (north["records"], north["subscribers"]) == (6, 6)  # one service that day: exact from the cube
    assert (
        rd.select(pl.col("records").sum()).item()
        == dashboard.trend(con, *ALL, grain="month", by="total")["records"].sum()
    )


def test_cell_map_load_and_suppression(con):
    df = dashboard.cell_map(con, *MARCH, k=5)
    rows = {r["cell_id"]: r for r in df.iter_rows(named=True)}
    assert set(rows) == {"C1", "C2", "C3", "C4"}
    assert rows["C1"]["records"] == 6 and not rows["C1"]["suppressed"]
    assert rows["C1"]["busy_hour_erlangs"] == pytest.approx(0.2)
    assert rows["C1"]["busy_hour_load"] == pytest.approx(0.02)
    assert rows["C3"]["suppressed"] and rows["C3"]["records"] is None
    assert rows["C4"]["records"] == 0 and not rows["C4"]["suppressed"]
    assert rows["C2"]["busy_hour_load"] is None  # no capacity given
    assert dashboard.cell_map(con, *MARCH, ("South",))["cell_id"].to_list() == ["C3", "C4"]
    # C1's cube bound (6) decides it is not small: its exact count is read only when asked for
    assert rows["C1"]["subscribers"] is None and rows["C1"]["subscribers_at_least"] == 6
    exact = dashboard.cell_map(con, *MARCH, k=5, exact=True).filter(pl.col("cell_id") == "C1").row(0, named=True)
    assert exact["subscribers"] == 6


def test_quality_views(con):
    loads = dashboard.load_manifest(con)
    extract = loads.filter(pl.col("file_name") == "extract.csv").row(0, named=True)
    assert (extract["rows_read"], extract["rows_loaded"], extract["rows_duplicate"], extract["rows_rejected"]) == (
        16,
        14,
        1,
        1,
    )
    q = dashboard.quarantine_summary(con).filter(pl.col("source_file") == "extract.csv")
    assert q.select("reason", "rows").rows() == [("bad_enum:service", 1)]
    rows = dashboard.quarantine_rows(con, reason="bad_enum:service")
    assert rows["source_line"].to_list() == [16] and '"fax"' in rows["raw"][0]
    assert dashboard.quarantine_rows(con, reason="nope").height == 0
    assert dashboard.duplicates_by_load(con)["duplicates"].to_list() == [1]
    assert dashboard.duplicate_rows(con)["record_id"].to_list() == ["r1"]


def test_coverage_gaps(con):
    gaps = dashboard.coverage_gaps(con, date(2026, 3, 2), date(2026, 3, 3))
    got = {(r["region"], r["gap_start"], r["gap_end"], r["hours"]) for r in gaps.iter_rows(named=True)}
    assert got == {
        ("North", datetime(2026, 3, 2, 10), datetime(2026, 3, 4, 0), 38),
        ("South", datetime(2026, 3, 2, 9), datetime(2026, 3, 3, 22), 37),
        ("South", datetime(2026, 3, 3, 23), datetime(2026, 3, 4, 0), 1),
    }
    silent = dashboard.silent_cells(con, *MARCH)
    assert silent["cell_id"].to_list() == ["C2", "C4"]
    assert silent.filter(pl.col("cell_id") == "C2")["last_record_hour"][0] == datetime(2026, 4, 6, 10)
    assert dashboard.silent_cells(con, *ALL)["cell_id"].to_list() == ["C4"]


def test_month_report_changes_and_narrative(con):
    rep = dashboard.month_report(con, "2026-04")
    k = {r["metric"]: r for r in rep["kpis"].iter_rows(named=True)}
    assert (k["records"]["value"], k["records"]["previous_month"]) == (5, 8)
    assert k["subscribers"]["value"] == 5 and k["subscribers"]["previous_month"] == 6
    assert k["revenue"]["value"] == pytest.approx(6.0)
    assert k["revenue"]["mom_change_pct"] == pytest.approx((6.0 - 0.7) / 0.7 * 100)
    assert k["arpu"]["value"] == pytest.approx(1.2)
    assert k["roaming_share"]["value"] == pytest.approx(20.0)
    assert k["voice_minutes"]["value"] == pytest.approx(1.0) and k["data_gb"]["value"] == pytest.approx(2.0)
    assert k["records"]["previous_year"] is None and k["records"]["yoy_change_pct"] is None
    movers = rep["movers"].select("dimension", "name", "revenue_change").rows()
    # data 0 -> 4.00, North 0.60 -> 4.00, voice 0.60 -> 2.00, ROAMING 0 -> 2.00, sms 0.10 -> 0, South 0.10 -> 0
    assert movers[0] == ("service", "data", pytest.approx(4.0))
    assert movers[1] == ("region", "North", pytest.approx(3.4))
    assert {m[1] for m in movers[2:4]} == {"voice", "ROAMING"}
    assert len(movers) == 5
    assert "up 757.1%" in rep["narrative"] and "North" in rep["narrative"]
    html = dashboard.printable_html(rep)
    assert html.startswith("<!doctype html>") and "North" in html


def test_month_report_without_data(con):
    rep = dashboard.month_report(con, "2025-01")
    assert not rep["has_data"] and rep["narrative"] == ""
    assert rep["kpis"].height == 8 and rep["regions"].height == 0
    assert dashboard.available_months(con) == ["2026-06", "2026-04", "2026-03"]
    assert dashboard.available_months(con, contiguous=True) == ["2026-06", "2026-05", "2026-04", "2026-03"]
    with pytest.raises(ValueError, match="YYYY-MM"):
        dashboard.month_report(con, "April")


def test_month_report_matches_summary_command(con):
    """One definition (analytics.summary): the page shows the command's figures exactly."""
    from analytics import summary

    for month in ("2026-03", "2026-04", "2026-06"):
        s = summary.monthly_summary(con, month)
        k = {r["metric"]: r["value"] for r in dashboard.month_report(con, month)["kpis"].iter_rows(named=True)}
        for key in ("records", "subscribers", "voice_minutes", "sms", "data_gb"):
            assert s[key] == k[key], (month, key)
        assert round(k["revenue"], 4) == s["revenue"] and round(k["arpu"], 4) == s["arpu"], month
        assert k["roaming_share"] == s["roaming_share"] * 100.0, month
