"""The rating engine against hand-computed charges, one rule at a time.

Plan P1 (all hand-computed below): 5 voice min, 2 sms, 10 MB included;
voice 0.10/min, sms 0.05, data 0.0125/MB, international 0.50/min, roaming voice 1.00/min,
roaming data 0.20/MB. Plan P2: nothing included, voice 0.2345/min.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.rating import INPUT_SCHEMA, OUTPUT_COLUMNS, RULES, rate_records, resolve_plans

MONEY_COLS = (
    "monthly_fee",
    "voice_per_min",
    "sms_each",
    "data_per_mb",
    "intl_voice_per_min",
    "roaming_voice_per_min",
    "roaming_data_per_mb",
)
T0 = dt.datetime(2026, 3, 10, 12, 0, 0)


def plans() -> pl.LazyFrame:
    rows = [
        ("P1", "Basic", D("10"), 5, 2, 10, D("0.10"), D("0.05"), D("0.0125"), D("0.50"), D("1.00"), D("0.20")),
        ("P2", "Payg", D("0"), 0, 0, 0, D("0.2345"), D("0.07"), D("0.015"), D("0.90"), D("1.50"), D("0.30")),
    ]
    cols = [
        "plan_id",
        "name",
        "monthly_fee",
        "incl_voice_min",
        "incl_sms",
        "incl_data_mb",
        "voice_per_min",
        "sms_each",
        "data_per_mb",
        "intl_voice_per_min",
        "roaming_voice_per_min",
        "roaming_data_per_mb",
    ]
    return pl.DataFrame(
        rows, schema=cols, orient="row", schema_overrides={c: pl.Decimal(18, 4) for c in MONEY_COLS}
    ).lazy()


def rec(
    record_id: str,
    service: str = "voice",
    *,
    direction: str = "out",
    duration_s: int = 0,
    at: dt.datetime = T0,
    msisdn: str = "447700900001",
    disposition: str = "answered",
    bytes_up: int = 0,
    bytes_down: int = 0,
    roaming: bool = False,
    dest: str = "GB",
    plan_id: str | None = "P1",
) -> dict:
    return dict(
        record_id=record_id,
        start_at=at,
        msisdn=msisdn,
        service=service,
        direction=direction,
        duration_s=duration_s,
        disposition=disposition,
        bytes_up=bytes_up,
        bytes_down=bytes_down,
        is_roaming=roaming,
        destination_country=dest,
        plan_id=plan_id,
    )


SCHEMA = {**INPUT_SCHEMA, "duration_s": pl.Int32}  # as the records table stores them


def rate(rows: list[dict], **kw) -> pl.DataFrame:
    kw.setdefault("home_country", "GB")
    frame = pl.DataFrame(rows, schema=SCHEMA).lazy()
    return rate_records(frame, plans(), **kw).collect().sort("record_id")


def by_id(df: pl.DataFrame) -> dict[str, dict]:
    return {r["record_id"]: r for r in df.iter_rows(named=True)}


@pytest.mark.parametrize(
    ("row", "rule", "units", "charge"),
    [
        (rec("a", duration_s=61), "voice_domestic_allowance", 2, "0.00"),
        (rec("a", duration_s=60), "voice_domestic_allowance", 1, "0.00"),
        (rec("a", duration_s=0), "voice_domestic_allowance", 0, "0.00"),
        (rec("a", duration_s=361), "voice_domestic_overage", 7, "0.20"),  # 7 min - 5 incl = 2 x 0.10
        (rec("a", duration_s=125, dest="FR"), "voice_international", 3, "1.50"),
        (rec("a", duration_s=125, dest="fr"), "voice_international", 3, "1.50"),
        (rec("a", duration_s=125, dest=""), "voice_domestic_allowance", 3, "0.00"),
        (rec("a", duration_s=125, roaming=True), "voice_roaming", 3, "3.00"),
        (rec("a", direction="in", duration_s=125, roaming=True), "voice_roaming", 3, "3.00"),
        (rec("a", duration_s=125, roaming=True, dest="US"), "voice_roaming", 3, "3.00"),
        (rec("a", direction="in", duration_s=600), "voice_incoming_free", 0, "0.00"),
        (rec("a", duration_s=0, disposition="no_answer"), "unanswered_free", 0, "0.00"),
        (rec("a", duration_s=30, disposition="busy", roaming=True), "unanswered_free", 0, "0.00"),
        (rec("a", "sms"), "sms_allowance", 1, "0.00"),
        (rec("a", "mms"), "sms_allowance", 1, "0.00"),
        (rec("a", "sms", dest="DE"), "sms_international", 1, "0.05"),
        (rec("a", "mms", roaming=True), "sms_roaming", 1, "0.05"),
        (rec("a", "sms", direction="in"), "sms_incoming_free", 0, "0.00"),
        (rec("a", "sms", direction="in", roaming=True), "sms_incoming_free", 0, "0.00"),
        (rec("a", "data", bytes_up=1, bytes_down=0), "data_allowance", 1, "0.00"),
        (rec("a", "data", bytes_up=4_000_000, bytes_down=6_000_000), "data_allowance", 10, "0.00"),
        # 12 started MB - 10 incl = 2 x 0.0125 = 0.025 -> half-up 0.03
        (rec("a", "data", bytes_up=5_000_000, bytes_down=6_000_001), "data_overage", 12, "0.03"),
        # 11 MB - 10 = 1 x 0.0125 = 0.0125 -> 0.01
        (rec("a", "video", bytes_down=11_000_000), "data_overage", 11, "0.01"),
        (rec("a", "voip", bytes_up=500_000, roaming=True), "data_roaming", 1, "0.20"),
        (rec("a", "data", direction="in", bytes_down=2_500_000, roaming=True), "data_roaming", 3, "0.60"),
        (rec("a", "data"), "data_allowance", 0, "0.00"),
        (rec("a", duration_s=61, plan_id="NOPE"), "unknown_plan", 0, None),
    ],
)
def test_each_rule_hand_computed(row: dict, rule: str, units: int, charge: str | None) -> None:
    out = rate([row]).row(0, named=True)
    assert out["rule"] == rule
    assert rule in RULES
    assert out["billable_units"] == units
    assert out["expected_charge"] == (None if charge is None else D(charge))


def test_allowance_boundary_mid_call_and_record_order() -> None:
    # 5 incl min. Ordered by start_at then record_id: b (2 min) @T0, a (2 min) @T0, c (3 min) @T0+1s.
    # Ties on start_at go by record_id: a first, then b, then c which crosses the boundary.
    rows = [
        rec("b", duration_s=120),
        rec("a", duration_s=100),
        rec("c", duration_s=121, at=T0 + dt.timedelta(seconds=1)),
        rec("d", duration_s=59, at=T0 + dt.timedelta(minutes=5)),
    ]
    r = by_id(rate(rows))
    assert [r[k]["units_from_allowance"] for k in "abcd"] == [2, 2, 1, 0]
    assert [r[k]["allowance_left_after"] for k in "abcd"] == [3, 1, 0, 0]
    assert [r[k]["allowance_used"] for k in "abcd"] == [2, 4, 5, 5]
    assert r["c"]["rule"] == "voice_domestic_overage"
    assert r["c"]["expected_charge"] == D("0.20")  # 3 min, 1 from allowance, 2 x 0.10
    assert r["d"]["expected_charge"] == D("0.10")


def test_non_domestic_usage_leaves_allowance_untouched() -> None:
    rows = [
        rec("a", duration_s=600, dest="FR"),
        rec("b", duration_s=600, roaming=True, at=T0 + dt.timedelta(minutes=1)),
        rec("c", "sms", dest="FR", at=T0 + dt.timedelta(minutes=2)),
        rec("d", "sms", roaming=True, at=T0 + dt.timedelta(minutes=3)),
        rec("e", "data", roaming=True, bytes_down=50_000_000, at=T0 + dt.timedelta(minutes=4)),
        rec("f", duration_s=300, at=T0 + dt.timedelta(minutes=20)),
        rec("g", "sms", at=T0 + dt.timedelta(minutes=21)),
        rec("h", "sms", at=T0 + dt.timedelta(minutes=22)),
        rec("i", "sms", at=T0 + dt.timedelta(minutes=23)),
        rec("j", "data", bytes_down=10_000_000, at=T0 + dt.timedelta(minutes=24)),
    ]
    r = by_id(rate(rows))
    assert r["f"]["rule"] == "voice_domestic_allowance" and r["f"]["allowance_left_after"] == 0
    assert [r[k]["rule"] for k in "ghi"] == ["sms_allowance", "sms_allowance", "sms_overage"]
    assert r["i"]["expected_charge"] == D("0.05")
    assert r["j"]["rule"] == "data_allowance"
    assert r["e"]["expected_charge"] == D("10.00")  # 50 MB x 0.20
    assert r["a"]["units_from_allowance"] == 0 and r["a"]["allowance_left_after"] is None


def test_allowances_are_per_subscriber() -> None:
    rows = [rec("a", duration_s=300), rec("b", duration_s=300, msisdn="447700900002")]
    r = by_id(rate(rows))
    assert r["a"]["rule"] == r["b"]["rule"] == "voice_domestic_allowance"


def test_month_boundary_in_plus_one_offset() -> None:
    # Europe/Paris is UTC+01:00 in winter: 2026-02-01 00:30+01:00 is 2026-01-31 23:30 UTC.
    jan = dt.datetime(2026, 1, 31, 22, 0)  # 23:00 local, January
    feb = dt.datetime(2026, 1, 31, 23, 30)  # 00:30 local on 1 February
    rows = [rec("a", duration_s=300, at=jan), rec("b", duration_s=180, at=feb)]
    paris = by_id(rate(rows, timezone="Europe/Paris"))
    assert paris["a"]["month_date"] == dt.date(2026, 1, 1)
    assert paris["b"]["month_date"] == dt.date(2026, 2, 1)
    assert paris["b"]["rule"] == "voice_domestic_allowance"  # fresh February allowance
    assert paris["b"]["allowance_left_after"] == 2
    utc = by_id(rate(rows))
    assert utc["b"]["month_date"] == dt.date(2026, 1, 1)
    assert utc["b"]["rule"] == "voice_domestic_overage"
    assert utc["b"]["expected_charge"] == D("0.30")


def test_dst_day_orders_by_utc_instant() -> None:
    # Europe/London springs forward at 01:00 UTC on 2026-03-29; 00:30 UTC = 00:30 GMT, 01:30 UTC = 02:30 BST.
    rows = [
        rec("z", duration_s=240, at=dt.datetime(2026, 3, 29, 0, 30)),
        rec("a", duration_s=120, at=dt.datetime(2026, 3, 29, 1, 30)),
        rec("m", duration_s=60, at=dt.datetime(2026, 3, 31, 23, 30)),  # 00:30 BST on 1 April
    ]
    r = by_id(rate(rows, timezone="Europe/London"))
    assert r["z"]["units_from_allowance"] == 4
    assert r["a"]["units_from_allowance"] == 1 and r["a"]["expected_charge"] == D("0.10")
    assert r["m"]["month_date"] == dt.date(2026, 4, 1) and r["m"]["expected_charge"] == D("0.00")


def test_plan_override_and_exact_half_up() -> None:
    # P2: 0.2345/min, no allowance. 3 min = 0.7035 -> 0.70; 7 min = 1.6415 -> 1.64; 10 min = 2.345 -> 2.35
    rows = [rec("a", duration_s=180), rec("b", duration_s=420), rec("c", duration_s=600)]
    r = by_id(rate(rows, plan_override="P2"))
    assert [r[k]["expected_charge"] for k in "abc"] == [D("0.70"), D("1.64"), D("2.35")]
    assert {r[k]["plan_id"] for k in "abc"} == {"P2"}


def test_float_plan_rates_are_exact() -> None:
    p = plans().collect().with_columns(pl.col(c).cast(pl.Float64) for c in MONEY_COLS).lazy()
    frame = pl.DataFrame([rec("a", duration_s=600)], schema=SCHEMA).lazy()
    out = rate_records(frame, p, home_country="GB", plan_override="P2").collect()
    assert out["expected_charge"][0] == D("2.35")


def test_resolve_plans_record_first_then_subscribers() -> None:
    rows = [
        rec("a", plan_id="P2"),
        rec("b", plan_id=None),
        rec("c", plan_id=""),
        rec("d", plan_id=None, msisdn="440000"),
    ]
    subs = pl.LazyFrame({"msisdn": ["447700900001"], "plan_id": ["P1"]})
    out = resolve_plans(pl.DataFrame(rows, schema=SCHEMA).lazy(), subs).collect()
    assert out.columns == list(SCHEMA)
    assert out.sort("record_id")["plan_id"].to_list() == ["P2", "P1", "P1", None]
    rated = (
        rate_records(resolve_plans(pl.DataFrame(rows, schema=SCHEMA).lazy(), subs), plans(), home_country="GB")
        .collect()
        .sort("record_id")
    )
    assert rated["rule"][3] == "unknown_plan" and rated["expected_charge"][3] is None


def test_empty_input_keeps_schema() -> None:
    out = rate([])
    assert out.height == 0
    assert out.columns == [*SCHEMA, *OUTPUT_COLUMNS]
    assert out.schema["expected_charge"] == pl.Decimal(18, 4)
    assert out.schema["month_date"] == pl.Date


def _reference(rows: list[dict], incl: int) -> dict[str, int]:
    """A per-record loop (test oracle only): allowance units taken by each domestic call."""
    left: dict[str, int] = {}
    taken = {}
    for r in sorted(rows, key=lambda r: (r["start_at"], r["record_id"])):
        need = (r["duration_s"] + 59) // 60
        have = left.setdefault(r["msisdn"], incl)
        taken[r["record_id"]] = min(need, have)
        left[r["msisdn"]] = have - taken[r["record_id"]]
    return taken


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 5), st.sampled_from(["1", "2"])), min_size=1, max_size=25)
)
def test_vectorised_allowance_matches_sequential_loop(calls: list[tuple[int, int, str]]) -> None:
    rows = [
        rec(f"r{i:03d}", duration_s=d, at=T0 + dt.timedelta(seconds=s), msisdn=m) for i, (d, s, m) in enumerate(calls)
    ]
    out = rate(rows)
    expected = _reference(rows, incl=5)
    assert dict(zip(out["record_id"], out["units_from_allowance"], strict=True)) == expected
    paid = {r["record_id"]: (r["duration_s"] + 59) // 60 - expected[r["record_id"]] for r in rows}
    assert dict(zip(out["record_id"], out["expected_charge"], strict=True)) == {k: D(v) / 10 for k, v in paid.items()}
