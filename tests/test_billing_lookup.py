"""Subscriber lookup (itemised bill), dispute notes and bill-shock alerts.

Reuses the hand-computed warehouse of test_billing_reconcile (plan P1: 5 min, 2 sms, 10 MB).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest
from test_billing_reconcile import MARCH, A, B, warehouse  # noqa: F401 - the fixture

from analytics import store
from analytics.billing.explain import bill_summary, find_subscribers, itemised_bill, usage_by_day
from analytics.billing.notes import add_note, list_notes
from analytics.billing.shock import allowance_alerts, bill_shock, spend_alerts


def test_itemised_bill_shows_allowance_after_each_record(warehouse: Path) -> None:  # noqa: F811
    with store.reader(warehouse) as con:
        bill = itemised_bill(con, A, MARCH)
        summary = bill_summary(con, bill, A)
        found = find_subscribers(con, "+44 7700 900 001")
    assert found["msisdn"].to_list() == [A]
    voice = bill.filter((pl.col("allowance_kind") == "voice") & (pl.col("source") == "record"))
    assert voice["record_id"].to_list() == ["r01", "r02"]
    assert voice["allowance_used"].to_list() == [2, 5]
    assert voice["allowance_left_after"].to_list() == [3, 0]
    dup = bill.filter(pl.col("source") == "duplicate").row(0, named=True)
    assert dup["record_id"] == "r02" and dup["mismatch_class"] == "duplicate_charge" and dup["billed"] == D("0.20")
    r03 = bill.filter(pl.col("record_id") == "r03").row(0, named=True)
    assert r03["rule"] == "voice_incoming_free" and r03["mismatch_class"] == "charged_but_free"
    assert r03["rule_text"].startswith("incoming call")
    # expected usage A: 0.20 + 2.00 + 0.60 + 0.50 = 3.30; billed incl. the duplicate: 1.95 + 0.20 = 2.15
    assert summary["expected_usage"] == D("3.3000") and summary["billed_usage"] == D("2.1500")
    assert summary["monthly_fee"] == D("10.0000") and summary["allowance_used"] == {"voice": 5, "sms": 1, "data": 0}
    assert summary["mismatches"] == 6
    # r08 starts 2026-03-03T10:00+01:00 = 09:00 UTC
    assert bill.filter(pl.col("record_id") == "r08")["start_at"][0] == dt.datetime(2026, 3, 3, 9, 0)
    days = usage_by_day(bill)
    assert days.filter((pl.col("day_date") == dt.date(2026, 3, 2)) & (pl.col("service") == "voice"))["minutes"][0] == (
        pytest.approx((61 + 300 + 120 + 0) / 60)
    )


def test_unknown_subscriber_and_short_query(warehouse: Path) -> None:  # noqa: F811
    with store.reader(warehouse) as con:
        assert itemised_bill(con, "449999", MARCH).height == 0
        assert find_subscribers(con, "44").height == 0  # fewer than 3 digits: no search
        assert find_subscribers(con, "900002")["msisdn"].to_list() == [B]


def test_dispute_note_saved_with_author_and_time(warehouse: Path) -> None:  # noqa: F811
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.reader(warehouse) as con:
        assert list_notes(con, A).height == 0
    first = add_note(
        warehouse,
        msisdn=A,
        note="Customer disputes r03",
        author="alice",
        author_role="support",
        month=MARCH,
        record_id="r03",
    )
    second = add_note(warehouse, msisdn=A, note="Refund agreed", author="bob", author_role="billing")
    with pytest.raises(ValueError, match="text"):
        add_note(warehouse, msisdn=A, note="   ", author="alice")
    with store.reader(warehouse) as con:
        notes = list_notes(con, A)
        assert list_notes(con, B).height == 0
    assert notes["note_id"].to_list() == [second, first]
    assert notes["author"].to_list() == ["bob", "alice"] and notes["record_id"].to_list() == [None, "r03"]
    assert notes["created_at"].min() >= before


def test_bill_shock_on_warehouse(warehouse: Path) -> None:  # noqa: F811
    with store.reader(warehouse) as con:
        alerts = bill_shock(con, MARCH)
    # A needs 2 + 5 = 7 of 5 voice min (140 %); B 7 + 1 = 8 of 5 (160 %); sms/data below 80 %.
    rows = {(r["msisdn"], r["alert"], r["kind"]): r for r in alerts.iter_rows(named=True)}
    assert set(rows) == {(A, "allowance_100", "voice"), (B, "allowance_100", "voice")}
    assert rows[(B, "allowance_100", "voice")]["pct_used"] == pytest.approx(1.6)
    assert rows[(B, "allowance_100", "voice")]["used"] == 5


def test_allowance_levels_and_spend_spike_from_frames() -> None:
    plans = pl.DataFrame({"plan_id": ["P1"], "incl_voice_min": [10], "incl_sms": [0], "incl_data_mb": [100]})
    rated = pl.DataFrame(
        {
            "msisdn": ["a", "b", "c", "d"],
            "plan_id": ["P1"] * 4,
            "allowance_kind": ["voice", "voice", "data", "sms"],
            "allowance_used": [8, 7, 100, 0],
            "billable_units": [8, 7, 130, 1],
            "charge": [D("30.00"), D("1.00"), None, D("0.05")],
            "expected_charge": [D("30.00"), D("1.00"), D("3.00"), D("0.05")],
        },
        schema_overrides={"charge": pl.Decimal(18, 4), "expected_charge": pl.Decimal(18, 4)},
    )
    al = allowance_alerts(rated, plans, levels=[0.8, 1.0])
    assert dict(zip(al["msisdn"], al["alert"], strict=True)) == {
        "a": "allowance_80",
        "c": "allowance_100",
    }  # sms incl 0: none
    history = pl.DataFrame({"msisdn": ["a", "a", "a", "b"], "charge": [10.0, 12.0, 50.0, 0.2]})
    sp = spend_alerts(rated, history, factor=2.0, min_increase=5.0)
    # a: 30 vs median 12 -> 2.5x and +18; b: 1.00 vs 0.2 is 5x but only +0.80; c, d: no history
    assert sp["msisdn"].to_list() == ["a"] and sp["spend_ratio"][0] == pytest.approx(2.5)


def test_empty_month_keeps_schema(warehouse: Path) -> None:  # noqa: F811
    with store.reader(warehouse) as con:
        alerts = bill_shock(con, dt.date(2025, 1, 1))
    assert alerts.height == 0 and "pct_used" in alerts.columns
