"""The stored segment mart: built == segment_report on the fly; a load rebuilds only the
months whose inputs it changed; a month not built (or without records) says so.

World: tests/test_marketing_segments.py's population (60 subscribers in March 2026, 20 of
them also in February), written to a real warehouse; later loads append records with a
new load_id and refresh the cubes as the ingest does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_billing_reconcile import warehouse as billing_warehouse  # noqa: F401 - a fixture
from test_marketing_segments import PLANS, _population
from test_marketing_support import make_warehouse, records_frame

from analytics import config, marts, store
from analytics.cli import main as cli_main
from analytics.config import settings
from analytics.ingest import cubes
from analytics.marketing.report import segment_report

FEB, MARCH, APRIL = dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 4, 1)


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    subs = pl.DataFrame(
        {"msisdn": [f"{g}{i:02d}" for g in "DVT" for i in range(20)], "plan_id": ["XL"] * 20 + ["S"] * 40}
    )
    return make_warehouse(tmp_path / "wh.duckdb", _population(), plans=PLANS, subscribers=subs)


def _load(wh: Path, rows: list[dict]) -> None:
    """Append ``rows`` as one new load and refresh its cubes (what an ingest commits)."""
    with store.writer(wh) as con:
        load_id = con.execute("select coalesce(max(load_id), 0) + 1 from records").fetchall()[0][0]
        con.execute("begin")
        frame = records_frame(rows).with_columns(pl.lit(load_id).alias("load_id"))
        store.append_records(con, frame, load_id=load_id)
        lo, hi = frame["start_at"].min(), frame["start_at"].max()
        cubes.refresh_cubes(
            con, load_id=load_id, lo=lo, hi=hi, timezone=settings().timezone, home_country=settings().home_country
        )
        con.execute("commit")


def _status(wh: Path, month: dt.date) -> str:
    with store.reader(wh) as con:
        return marts.stored_segment_report(con, month)["status"]


@pytest.mark.slow
def test_stored_report_equals_segment_report_on_the_fly(warehouse: Path) -> None:
    with store.writer(warehouse) as con:
        assert marts.refresh_segments(con) == {"2026-02": 20, "2026-03": 60}
    with store.reader(warehouse) as con:
        got = marts.stored_segment_report(con, MARCH)
        want = segment_report(con, month=MARCH)
    assert got["status"] == "current" and got["built_at"] is not None
    report = got["report"]
    assert report["month"] == want["month"] == MARCH
    assert report["totals"] == want["totals"]  # Decimals, the silhouette dict's int keys kept
    for part in marts.SEGMENT_PARTS:
        assert_frame_equal(report[part], want[part])
    assert report["subscribers"].height == 60


@pytest.mark.slow
def test_a_load_rebuilds_only_the_months_it_changed(warehouse: Path) -> None:
    with store.writer(warehouse) as con:
        marts.refresh_segments(con)
        assert marts.refresh_segments(con) == {}  # nothing stale: no work
    _load(
        warehouse,
        [
            {
                "record_id": "n1",
                "start_at": "2026-04-02 10:00:00",
                "msisdn": "D00",
                "service": "data",
                "bytes_down": 5_000_000,
            }
        ],
    )
    # April is new; March is untouched (April's records are after its window)
    assert (_status(warehouse, MARCH), _status(warehouse, APRIL)) == ("current", "missing")
    with store.writer(warehouse) as con:
        assert marts.refresh_segments(con) == {"2026-04": 1}
    _load(warehouse, [{"record_id": "n2", "start_at": "2026-03-20 10:00:00", "msisdn": "X01", "service": "sms"}])
    # a late March record: March and April (whose churn signal compares with March) are stale
    assert [_status(warehouse, m) for m in (FEB, MARCH, APRIL)] == ["current", "stale", "stale"]
    with store.reader(warehouse) as con:
        stale = marts.stored_segment_report(con, MARCH)["report"]
    assert stale["subscribers"].height == 60  # a stale report is the one built before the load
    with store.writer(warehouse) as con:
        # March is complete and rebuilt; April, the open month, was built under a day ago: left stale
        assert marts.refresh_segments(con) == {"2026-03": 61}
    with store.reader(warehouse) as con:
        assert marts.stored_segment_report(con, MARCH)["report"]["subscribers"].height == 61
    assert _status(warehouse, APRIL) == "stale"
    with store.writer(warehouse) as con:
        assert marts.refresh_segments(con, [APRIL]) == {"2026-04": 1}  # on request (the page's button)


@pytest.mark.slow
def test_a_daily_file_into_the_open_month_leaves_its_segments_stale_for_a_day(warehouse: Path) -> None:
    with store.writer(warehouse) as con:
        marts.refresh_segments(con)
    _load(warehouse, [{"record_id": "d1", "start_at": "2026-03-21 10:00:00", "msisdn": "X02", "service": "sms"}])
    with store.writer(warehouse) as con:
        assert marts.refresh_segments(con) == {}  # March is the open month, built minutes ago
        built = marts.stored_segment_report(con, MARCH)["built_at"]
        later = built + dt.timedelta(hours=25)
        assert marts.refresh_segments(con, now=later) == {"2026-03": 61}
    _load(warehouse, [{"record_id": "d2", "start_at": "2026-04-01 10:00:00", "msisdn": "X02", "service": "sms"}])
    _load(warehouse, [{"record_id": "d3", "start_at": "2026-03-22 10:00:00", "msisdn": "X03", "service": "sms"}])
    with store.writer(warehouse) as con:  # April has records now: March is complete and rebuilt at once
        assert "2026-03" in marts.refresh_segments(con)


def test_month_not_built_and_month_without_records(warehouse: Path) -> None:
    with store.reader(warehouse) as con:  # never built: no table at all in this warehouse
        assert marts.stored_segment_report(con, MARCH) == {"status": "missing", "report": None, "built_at": None}
    with store.writer(warehouse) as con:
        assert marts.refresh_segments(con, [MARCH]) == {"2026-03": 60}
        assert marts.stored_segment_report(con, FEB)["status"] == "missing"
        assert marts.refresh_segments(con, [APRIL]) == {"2026-04": 0}  # no records: an empty report, stored
    with store.reader(warehouse) as con:
        empty = marts.stored_segment_report(con, APRIL)
        want = segment_report(con, month=APRIL)
    assert empty["status"] == "current" and empty["report"]["subscribers"].height == 0
    assert_frame_equal(empty["report"]["subscribers"], want["subscribers"])


@pytest.mark.slow
def test_settings_change_makes_every_month_stale(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.writer(warehouse) as con:
        marts.refresh_segments(con)
    toml = (config.ROOT / "analytics.toml").read_text(encoding="utf-8")
    (tmp_path / "analytics.toml").write_text(toml + "\n[marts_test_marketing]\n", encoding="utf-8")
    monkeypatch.setenv(config.CONFIG_ENV, str(tmp_path / "analytics.toml"))
    config.settings.cache_clear()
    try:
        assert _status(warehouse, MARCH) == "current"  # another section: nothing to rebuild
        assert "\nseed = 7\n" in toml
        changed = toml.replace("\nseed = 7\n", "\nseed = 8\n", 1)  # [marketing]'s k-means seed
        (tmp_path / "analytics.toml").write_text(changed, encoding="utf-8")
        config.settings.cache_clear()
        assert _status(warehouse, FEB) == "stale" and _status(warehouse, MARCH) == "stale"
    finally:
        monkeypatch.delenv(config.CONFIG_ENV)
        config.settings.cache_clear()


@pytest.mark.slow
def test_ingest_command_builds_both_marts(billing_warehouse: Path, tmp_path: Path) -> None:  # noqa: F811
    """``python -m analytics ingest`` refreshes the marts after its loads (as the demo build does)."""
    extra = tmp_path / "cdr_extra.csv"
    extra.write_text(
        "record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge,disposition,bytes_up,"
        "bytes_down,roaming,destination_country\n"
        "x1,2026-04-03T09:00:00Z,447700900001,447700999999,sms,out,0,C1,0.05,answered,0,0,false,\n",
        encoding="utf-8",
    )
    assert cli_main(["ingest", str(extra), "--warehouse", str(billing_warehouse), "--json"]) == 0
    with store.reader(billing_warehouse) as con:
        built = store.fetch(con, "select month_date from segment_months order by 1")["month_date"].to_list()
        reconciled = store.fetch(con, "select month_date from reconcile_months order by 1")["month_date"].to_list()
    assert built == reconciled == [MARCH, APRIL]
