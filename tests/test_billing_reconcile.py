"""Reconciliation on a real warehouse loaded through ingest, against hand-computed classes.

Plan P1: 5 voice min, 2 sms, 10 MB included; voice 0.10/min, sms 0.05, data 0.0125/MB,
international 0.50/min, roaming voice 1.00/min, roaming data 0.20/MB.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest

from analytics import store
from analytics.billing.rated import rated_month, refresh_rated_records, stored_is_current
from analytics.billing.reconcile import breakdown, month_items, month_report, reconcile, reconcile_frame
from analytics.cli import main as cli_main
from analytics.ingest import ingest_files

A, B = "447700900001", "447700900002"
HEADER = (
    "record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge,"
    "disposition,bytes_up,bytes_down,roaming,destination_country"
)
# record_id, time, msisdn, service, direction, duration_s, cell, charge, disposition, up, down, roaming, dest
ROWS = [
    ("r01", "2026-03-02T10:00:00Z", A, "voice", "out", 61, "C1", "0.00", "answered", 0, 0, "false", ""),  # 2 of 5 min
    (
        "r02",
        "2026-03-02T10:05:00Z",
        A,
        "voice",
        "out",
        300,
        "C1",
        "0.20",
        "answered",
        0,
        0,
        "false",
        "",
    ),  # 3 incl + 2 x 0.10
    (
        "r03",
        "2026-03-02T11:00:00Z",
        A,
        "voice",
        "in",
        120,
        "C1",
        "0.10",
        "answered",
        0,
        0,
        "false",
        "",
    ),  # charged_but_free
    ("r04", "2026-03-02T11:05:00Z", A, "voice", "out", 0, "C1", "0.00", "no_answer", 0, 0, "false", ""),  # ok
    (
        "r05",
        "2026-03-02T12:00:00Z",
        A,
        "sms",
        "out",
        0,
        "C1",
        "0.05",
        "answered",
        0,
        0,
        "false",
        "",
    ),  # allowance_not_applied
    (
        "r06",
        "2026-03-03T09:00:00Z",
        A,
        "voice",
        "out",
        120,
        "",
        "0.20",
        "answered",
        0,
        0,
        "true",
        "GB",
    ),  # wrong_rate_class (2.00)
    (
        "r07",
        "2026-03-03T09:30:00Z",
        A,
        "data",
        "out",
        0,
        "",
        "0.50",
        "answered",
        1_000_000,
        2_000_000,
        "true",
        "",
    ),  # under (0.60)
    (
        "r08",
        "2026-03-03T10:00:00+01:00",
        A,
        "voice",
        "out",
        60,
        "C1",
        "0.90",
        "answered",
        0,
        0,
        "false",
        "FR",
    ),  # over (0.50)
    (
        "r09",
        "2026-03-04T10:00:00Z",
        B,
        "voice",
        "out",
        420,
        "C1",
        "0.2049",
        "answered",
        0,
        0,
        "false",
        "",
    ),  # 0.20, within 0.005
    (
        "r10",
        "2026-03-04T11:00:00Z",
        B,
        "voice",
        "out",
        60,
        "C1",
        "0.1051",
        "answered",
        0,
        0,
        "false",
        "",
    ),  # 0.10 -> over by 0.0051
    (
        "r11",
        "2026-03-04T12:00:00Z",
        B,
        "data",
        "in",
        0,
        "C2",
        "0.04",
        "answered",
        1_500_000,
        1_500_000,
        "false",
        "",
    ),  # alloc n/a
    ("r12", "2026-04-01T00:30:00Z", B, "sms", "out", 0, "C2", "0.00", "answered", 0, 0, "false", ""),  # April, ok
]
DUPLICATES = [
    (
        "r02",
        "2026-03-02T10:05:00Z",
        A,
        "voice",
        "out",
        300,
        "C1",
        "0.20",
        "answered",
        0,
        0,
        "false",
        "",
    ),  # billed twice
    (
        "r01",
        "2026-03-02T10:00:00Z",
        A,
        "voice",
        "out",
        61,
        "C1",
        "0.00",
        "answered",
        0,
        0,
        "false",
        "",
    ),  # free twice: ok
]
EXPECTED_CLASS = {
    "r02": "duplicate_charge",
    "r03": "charged_but_free",
    "r05": "allowance_not_applied",
    "r06": "wrong_rate_class",
    "r07": "under_charged",
    "r08": "over_charged",
    "r10": "over_charged",
    "r11": "allowance_not_applied",
}
MARCH = dt.date(2026, 3, 1)


def _csv(path: Path, header: str, rows: list[tuple]) -> Path:
    path.write_text("\n".join([header, *(",".join(map(str, r)) for r in rows)]) + "\n", encoding="utf-8")
    return path


def _with_other(row: tuple) -> tuple:
    return (*row[:3], "447700999999", *row[3:])


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    cells = _csv(
        tmp_path / "cells.csv", "cell_id,region,lat,lon", [("C1", "North", 51.5, -0.1), ("C2", "South", 50.9, -1.4)]
    )
    plans = _csv(
        tmp_path / "plans.csv",
        "plan_id,name,monthly_fee,incl_voice_min,incl_sms,incl_data_mb,voice_per_min,sms_each,data_per_mb,"
        "intl_voice_per_min,roaming_voice_per_min,roaming_data_per_mb",
        [("P1", "Basic", "10.00", 5, 2, 10, "0.10", "0.05", "0.0125", "0.50", "1.00", "0.20")],
    )
    subs = _csv(tmp_path / "subscribers.csv", "msisdn,plan_id", [(A, "P1"), (B, "P1")])
    first = _csv(tmp_path / "cdr_1.csv", HEADER, [_with_other(r) for r in ROWS])
    second = _csv(tmp_path / "cdr_2.csv", HEADER, [_with_other(r) for r in DUPLICATES])
    wh = tmp_path / "wh.duckdb"
    out = ingest_files([first, second], warehouse=wh, cells=cells, plans=plans, subscribers=subs, home_country="GB")
    assert out["rows_loaded"] == len(ROWS) and out["rows_duplicate"] == len(DUPLICATES), out
    return wh


def test_every_class_found_and_nothing_else(warehouse: Path) -> None:
    with store.reader(warehouse) as con:
        summary, mism = reconcile(con, MARCH)
        items = month_items(con, MARCH)
    found = dict(zip(mism["record_id"], mism["mismatch_class"], strict=True))
    assert found == EXPECTED_CLASS
    assert summary["records_checked"] == 11  # March records; duplicates are not records
    assert summary["mismatches"] == len(EXPECTED_CLASS)
    # billed: 0+0.20+0.10+0+0.05+0.20+0.50+0.90+0.2049+0.1051+0.04 = 2.30
    assert summary["billed_total"] == D("2.3000")
    # expected: 0+0.20+0+0+0+2.00+0.60+0.50+0.20+0.10+0 = 3.60
    assert summary["expected_total"] == D("3.6000")
    # leakage: r06 1.80 + r07 0.10; overbilling: r03 .10 r05 .05 r08 .40 r10 .0051 r11 .04 + duplicate r02 .20
    assert summary["leakage"] == D("1.9000")
    assert summary["overbilling"] == D("0.7951")
    assert summary["by_class"]["over_charged"] == {"count": 2, "amount": D("0.4051")}
    assert summary["duplicate_billed_total"] == D("0.2000")
    assert set(summary["mismatch_record_ids"]) == set(EXPECTED_CLASS)
    r09 = items.filter(pl.col("record_id") == "r09").row(0, named=True)
    assert r09["diff"] == D("0.0049") and not r09["is_mismatch"]
    by_region = breakdown(items, "region").filter(pl.col("region") == "ROAMING").row(0, named=True)
    assert by_region["leakage"] == D("1.9000") and by_region["mismatches"] == 2


def test_whole_warehouse_and_month_report(warehouse: Path) -> None:
    with store.reader(warehouse) as con:
        all_summary, _ = reconcile(con)
        report = month_report(con, dt.date(2026, 4, 1))
    assert all_summary["months"] == ["2026-03", "2026-04"]
    assert all_summary["records_checked"] == 12 and all_summary["mismatches"] == len(EXPECTED_CLASS)
    assert report["summary"]["records_checked"] == 1 and report["summary"]["mismatches"] == 0
    assert report["mismatches"].height == 0
    assert report["by_service"]["service"].to_list() == ["sms"]


def test_stored_rating_refreshes_when_stale(warehouse: Path, tmp_path: Path) -> None:
    with store.writer(warehouse) as con:
        assert refresh_rated_records(con) == {"2026-03": 11, "2026-04": 1}
        assert stored_is_current(con, MARCH)
        assert refresh_rated_records(con) == {}  # nothing stale
    extra = _csv(
        tmp_path / "cdr_3.csv",
        HEADER,
        [_with_other(("r13", "2026-03-05T10:00:00Z", B, "sms", "in", 0, "C1", "0.00", "answered", 0, 0, "false", ""))],
    )
    ingest_files([extra], warehouse=warehouse)
    with store.reader(warehouse) as con:
        assert not stored_is_current(con, MARCH)
        assert rated_month(con, MARCH).height == 12  # rated on the fly, not the stale store
    with store.writer(warehouse) as con:
        assert refresh_rated_records(con) == {"2026-03": 12}
        stored = store.fetch(con, "select record_id, rule, expected_charge from rated_records order by record_id")
    assert stored.filter(pl.col("record_id") == "r13")["rule"][0] == "sms_incoming_free"
    assert stored.filter(pl.col("record_id") == "r02")["expected_charge"][0] == D("0.20")


def test_cli_json_has_contract_keys(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["reconcile", "--warehouse", str(warehouse), "--month", "2026-03", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("records_checked", "mismatches", "billed_total", "expected_total", "mismatch_record_ids"):
        assert key in out
    assert out["mismatches"] == len(EXPECTED_CLASS) and out["billed_total"] == pytest.approx(2.30)
    assert cli_main(["reconcile", "--warehouse", str(warehouse), "--month", "March", "--json"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_stores_each_stale_month_once_and_matches_read_only(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["reconcile", "--warehouse", str(warehouse), "--no-store", "--json"]) == 0
    read_only = json.loads(capsys.readouterr().out)
    with store.reader(warehouse) as con:
        assert not stored_is_current(con, MARCH)
    assert cli_main(["reconcile", "--warehouse", str(warehouse), "--json"]) == 0
    stored_run = json.loads(capsys.readouterr().out)
    with store.reader(warehouse) as con:
        assert stored_is_current(con, MARCH) and stored_is_current(con, dt.date(2026, 4, 1))
        from_store, _ = reconcile(con)
    assert stored_run == read_only
    assert json.loads(json.dumps(from_store, default=float)) == stored_run
    with store.writer(warehouse) as con:
        assert refresh_rated_records(con) == {}  # the command left nothing stale


def test_null_charge_is_rated_not_reconciled() -> None:
    rated = pl.LazyFrame(
        {
            "record_id": ["x", "y"],
            "month_date": [MARCH] * 2,
            "start_at": [dt.datetime(2026, 3, 1)] * 2,
            "msisdn": [A] * 2,
            "region": ["North"] * 2,
            "plan_id": ["P1"] * 2,
            "service": ["voice"] * 2,
            "rule": ["voice_domestic_overage"] * 2,
            "allowance_kind": ["voice"] * 2,
            "billable_units": [3, 3],
            "units_from_allowance": [0, 0],
            "expected_charge": [D("0.30"), D("0.30")],
            "charge": [None, D("0.30")],
        },
        schema_overrides={"expected_charge": pl.Decimal(18, 4), "charge": pl.Decimal(18, 4)},
    )
    plans = pl.LazyFrame(
        {
            "plan_id": ["P1"],
            **{
                c: [D("0.1")]
                for c in (
                    "voice_per_min",
                    "sms_each",
                    "data_per_mb",
                    "intl_voice_per_min",
                    "roaming_voice_per_min",
                    "roaming_data_per_mb",
                )
            },
        }
    )
    items = reconcile_frame(rated, plans).collect()
    assert items["record_id"].to_list() == ["y"] and not items["is_mismatch"][0]


def test_empty_warehouse_month(tmp_path: Path) -> None:
    wh = tmp_path / "empty.duckdb"
    with store.writer(wh):
        pass
    with store.reader(wh) as con:
        summary, mism = reconcile(con, MARCH)
        everything, _ = reconcile(con)
    assert summary["records_checked"] == 0 and summary["mismatch_record_ids"] == [] and mism.height == 0
    assert everything["months"] == [] and everything["billed_total"] == D("0")
