"""The stored reconciliation mart: built == computed on the fly, rebuilt only for changed months.

World: tests/test_billing_reconcile.py (11 March records with every mismatch class, one
April record, two duplicate rows of which one billed), loaded through the real ingest.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from test_billing_reconcile import EXPECTED_CLASS, HEADER, MARCH, B, _csv, _with_other
from test_billing_reconcile import warehouse as billing_world  # noqa: F401 - a fixture

from analytics import store
from analytics.billing import stored
from analytics.billing.reconcile import month_report, refresh_reconciliation
from analytics.cli import main as cli_main
from analytics.config import settings
from analytics.ingest import ingest_files

APRIL = dt.date(2026, 4, 1)
FRAMES = ("by_region", "by_plan", "by_service", "by_class", "mismatches")


@pytest.fixture()
def warehouse(billing_world: Path) -> Path:  # noqa: F811 - the imported fixture, by another name
    return billing_world


def _assert_same_report(got: dict, want: dict) -> None:
    assert got["summary"] == want["summary"]
    for name in FRAMES:
        assert_frame_equal(got[name], want[name])


def _current(wh: Path, month: dt.date) -> bool:
    with store.reader(wh) as con:
        return stored.is_current(con, month, timezone=settings().timezone)


def test_stored_report_equals_the_report_computed_on_the_fly(warehouse: Path) -> None:
    with store.reader(warehouse) as con:
        fly = {m: month_report(con, m) for m in (MARCH, APRIL)}
    assert not _current(warehouse, MARCH)  # nothing stored yet: those were computed
    with store.writer(warehouse) as con:
        assert refresh_reconciliation(con) == {"2026-03": len(EXPECTED_CLASS), "2026-04": 0}
    for month in (MARCH, APRIL):
        assert _current(warehouse, month)
        with store.reader(warehouse) as con:
            _assert_same_report(month_report(con, month), fly[month])
    assert set(fly[MARCH]["mismatches"]["record_id"]) == set(EXPECTED_CLASS)


@pytest.mark.slow
def test_a_load_rebuilds_only_the_months_it_changed(warehouse: Path, tmp_path: Path) -> None:
    with store.writer(warehouse) as con:
        refresh_reconciliation(con)
        assert refresh_reconciliation(con) == {}  # nothing stale: no work
    # an April sms billed 0.30 (expected 0.05: over-charged)
    extra = _csv(
        tmp_path / "cdr_3.csv",
        HEADER,
        [_with_other(("r20", "2026-04-02T09:00:00Z", B, "sms", "out", 0, "C2", "0.30", "answered", 0, 0, "false", ""))],
    )
    ingest_files([extra], warehouse=warehouse)
    assert _current(warehouse, MARCH) and not _current(warehouse, APRIL)
    with store.reader(warehouse) as con:  # stale: computed on the fly, never the old stored report
        fly = month_report(con, APRIL)
    assert fly["summary"]["records_checked"] == 2 and fly["mismatches"]["record_id"].to_list() == ["r20"]
    with store.writer(warehouse) as con:
        assert refresh_reconciliation(con) == {"2026-04": 1}
    with store.reader(warehouse) as con:
        _assert_same_report(month_report(con, APRIL), fly)


@pytest.mark.slow
def test_a_billed_duplicate_alone_makes_its_month_stale(warehouse: Path, tmp_path: Path) -> None:
    with store.writer(warehouse) as con:
        refresh_reconciliation(con)
        before = month_report(con, APRIL)["summary"]["duplicate_billed_total"]
    dup = _csv(
        tmp_path / "cdr_4.csv",
        HEADER,
        [_with_other(("r12", "2026-04-01T00:30:00Z", B, "sms", "out", 0, "C2", "0.05", "answered", 0, 0, "false", ""))],
    )
    assert ingest_files([dup], warehouse=warehouse)["rows_duplicate"] == 1
    assert _current(warehouse, MARCH) and not _current(warehouse, APRIL)
    with store.writer(warehouse) as con:
        assert refresh_reconciliation(con) == {"2026-04": 1}
        after = month_report(con, APRIL)["summary"]
    assert after["duplicate_billed_total"] - before == Decimal("0.0500")
    assert after["by_class"]["duplicate_charge"]["count"] == 1


def test_a_month_without_records_stores_an_empty_report(warehouse: Path) -> None:
    may = dt.date(2026, 5, 1)
    with store.reader(warehouse) as con:
        fly = month_report(con, may)
    with store.writer(warehouse) as con:
        assert refresh_reconciliation(con, [may]) == {"2026-05": 0}
    with store.reader(warehouse) as con:
        got = month_report(con, may)
    assert _current(warehouse, may)
    assert got["summary"]["records_checked"] == 0 and got["mismatches"].height == 0
    _assert_same_report(got, fly)


def test_the_reconcile_command_stores_and_reads_the_mart(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["reconcile", "--warehouse", str(warehouse), "--no-store", "--json"]) == 0
    read_only = capsys.readouterr().out
    assert not _current(warehouse, MARCH)
    assert cli_main(["reconcile", "--warehouse", str(warehouse), "--json"]) == 0
    assert capsys.readouterr().out == read_only
    assert _current(warehouse, MARCH) and _current(warehouse, APRIL)
    assert cli_main(["reconcile", "--warehouse", str(warehouse), "--no-store", "--json"]) == 0  # from the mart now
    assert capsys.readouterr().out == read_only
