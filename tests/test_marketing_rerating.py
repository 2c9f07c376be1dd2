"""The aggregated re-rating of the recommendations against the rating engine itself.

Reference: every chargeable record rated by ``analytics.rating.rate_records`` once per
plan (``plan_override``) and summed per subscriber, and rated under its own plan for the
upsell months. Random warehouses cross every rule, plans with whole-cent and sub-cent
rates (where per-record rounding depends on the order the allowance is spent in), ties on
start_at, blank / lower-case destinations, record plan ids with spaces, plan changes
within a month, unknown plans and a non-UTC month.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_marketing_support import make_warehouse, plans_frame, records_frame

from analytics import rating, store
from analytics.calendar import month_bounds, shift_month
from analytics.marketing import recommend
from analytics.marketing.indicators import msisdn_batches
from analytics.marketing.report import allowance_use

MONTH = dt.date(2026, 3, 1)
TZ = "Europe/Paris"
PLANS = plans_frame(
    [
        # plan, name, fee, voice min, sms, MB, voice/min, sms, data/MB, intl/min, roam voice/min, roam data/MB
        ("S", "Small", "10", 3, 2, 5, "0.10", "0.05", "0.0125", "0.55", "2.00", "0.5050"),
        ("W", "Whole", "15", 8, 4, 20, "0.07", "0.0450", "0.01", "0.80", "1.50", "0.25"),
        ("T", "Tiny", "2", 0, 0, 0, "0.2345", "0.0333", "0.0075", "0.4449", "0.9999", "0.1234"),
    ]
)
SUBSCRIBERS = pl.DataFrame({"msisdn": ["A", "B", "C"], "plan_id": ["S", "W", "T"]})

record = st.fixed_dictionaries(
    {
        "day": st.sampled_from([-40, -20, 0, 0, 0, 10, 30]),  # Jan, Feb, March (Paris), early April UTC
        "minute": st.integers(0, 1),  # ties on start_at
        "msisdn": st.sampled_from(["A", "B", "C", "D"]),  # D: no subscriber row
        "service": st.sampled_from(["voice", "voice", "sms", "mms", "data", "data", "voip", "video"]),
        "direction": st.sampled_from(["out", "out", "in"]),
        "duration_s": st.integers(0, 400),
        "disposition": st.sampled_from(["answered", "answered", "answered", "busy"]),
        "bytes_up": st.integers(0, 2_000_000),
        "bytes_down": st.integers(0, 6_000_000),
        "is_roaming": st.sampled_from([False, False, False, True]),
        "destination_country": st.sampled_from(["GB", "gb", " GB", "", "FR"]),
        "plan_id": st.sampled_from([None, None, None, "W", " T ", "", "NOPE"]),
    }
)


def reference_costs(con, month: dt.date) -> pl.DataFrame:
    start_at, end_at = month_bounds(month, TZ)
    records = recommend.rating_input(con, start_at, end_at).lazy()
    plans = recommend.plans_table(con)
    parts = []
    for plan_id in plans["plan_id"]:
        rated = rating.rate_records(records, plans.lazy(), home_country="GB", timezone=TZ, plan_override=plan_id)
        kind = pl.col("allowance_kind")
        parts.append(
            rated.group_by("msisdn", "plan_id").agg(
                pl.col("expected_charge").sum().cast(recommend.MONEY).alias("usage_cost"),
                *[
                    pl.col("billable_units").filter(kind == k).sum().alias(f"{k}_units")
                    for k in ("voice", "sms", "data")
                ],
                pl.col("rule").str.ends_with("_overage").any().alias("exceeded"),
            )
        )
    return pl.concat(parts).collect()


def reference_allowance_use(con, month: dt.date) -> pl.DataFrame:
    start_at, end_at = month_bounds(month, TZ)
    records = recommend.rating_input(con, start_at, end_at).lazy()
    plans = recommend.plans_table(con)
    rated = rating.rate_records(records, plans.lazy(), home_country="GB", timezone=TZ)
    kind = pl.col("allowance_kind")
    per = rated.group_by("msisdn", "plan_id").agg(
        pl.col("billable_units").filter(kind == k).sum().alias(k) for k in ("voice", "sms", "data")
    )
    incl = plans.lazy().select("plan_id", "incl_voice_min", "incl_sms", "incl_data_mb")
    return (
        per.join(incl, on="plan_id")
        .select(
            "msisdn",
            *[
                pl.when(pl.col(inc) > 0).then(pl.col(k) / pl.col(inc)).alias(f"{k}_allowance_use")
                for k, inc in (("voice", "incl_voice_min"), ("sms", "incl_sms"), ("data", "incl_data_mb"))
            ],
        )
        .group_by("msisdn")
        .agg(pl.all().max())
        .collect()
        .sort("msisdn")
    )


def reference_exceeded(con, month: dt.date) -> dict[str, int]:
    start_at, _ = month_bounds(shift_month(month, -2), TZ)
    _, end_at = month_bounds(month, TZ)
    records = recommend.rating_input(con, start_at, end_at).lazy()
    rated = rating.rate_records(records, recommend.plans_table(con).lazy(), home_country="GB", timezone=TZ)
    per = rated.group_by("msisdn", "plan_id", "month_date").agg(pl.col("rule").str.ends_with("_overage").any())
    out = per.group_by("msisdn").agg(pl.col("rule").sum()).collect()
    return dict(zip(out["msisdn"], out["rule"], strict=True))


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, min_size=1, max_size=45))
def test_aggregated_rerating_equals_engine(drawn: list[dict]) -> None:
    t0 = dt.datetime(2026, 3, 1, 0, 0)  # 01:00 in Paris: March there; -1 day is February
    rows = [
        {
            "record_id": f"r{(i * 13) % 47:02d}",
            "start_at": t0 + dt.timedelta(days=d.pop("day"), minutes=d.pop("minute")),
            "cell_id": None if d["is_roaming"] else "C1",
            "region": "ROAMING" if d["is_roaming"] else "NORTH",
            **d,
        }
        for i, d in enumerate(drawn)
    ]
    rows = list({r["record_id"]: r for r in rows}.values())  # record ids are unique in records
    with tempfile.TemporaryDirectory() as tmp:
        path = make_warehouse(Path(tmp) / "wh.duckdb", records_frame(rows), plans=PLANS, subscribers=SUBSCRIBERS)
        with store.reader(path) as con:
            start_at, end_at = month_bounds(MONTH, TZ)
            population = pl.DataFrame({"msisdn": ["A", "B", "C", "D", "E"]})
            got = recommend.plan_costs(con, population, recommend.plans_table(con), start_at, end_at, home_country="GB")
            batches = msisdn_batches(con, start_at, end_at, batch_records=3, calls_and_texts=False)
            batched = recommend.plan_costs(
                con, population, recommend.plans_table(con), start_at, end_at, home_country="GB", batch_records=3
            )
            want = reference_costs(con, MONTH)
            exceeded = recommend.exceeded_months(con, MONTH, window_months=3, home_country="GB", timezone=TZ)
            exceeded_batched = recommend.exceeded_months(
                con, MONTH, window_months=3, home_country="GB", timezone=TZ, batch_records=3
            )
            want_exceeded = reference_exceeded(con, MONTH)
            # the month itself read off the plan costs (valid when no record of it names a
            # plan: then the current plan is each record's plan)
            current = store.fetch(con, "@marketing_current_plan", {"start_at": start_at, "end_at": end_at})
            current = current.select(pl.col("msisdn", "current_plan").cast(pl.String))
            costs_all = recommend.plan_costs(
                con, current, recommend.plans_table(con), start_at, end_at, home_country="GB"
            )
            exceeded_shared = recommend.exceeded_months(
                con,
                MONTH,
                window_months=3,
                home_country="GB",
                timezone=TZ,
                this_month=recommend.own_plan_exceeded(costs_all, current),
            )
            named_this_month = any(
                start_at <= r["start_at"] < end_at and (r.get("plan_id") or "").strip() for r in rows
            )
            use = allowance_use(con, MONTH, timezone=TZ, home_country="GB").sort("msisdn")
            want_use = reference_allowance_use(con, MONTH)
    assert got.height == population.height * PLANS.height
    assert_frame_equal(batched, got)  # batches of subscribers (msisdn ranges) = one pass
    assert len(batches) > 1 or len([r for r in rows if start_at <= r["start_at"] < end_at]) <= 3
    by_key = {(r["msisdn"], r["plan_id"]): r for r in want.iter_rows(named=True)}
    for r in got.iter_rows(named=True):
        ref = by_key.get((r["msisdn"], r["plan_id"]))
        fee = PLANS.filter(pl.col("plan_id") == r["plan_id"])["monthly_fee"][0]
        if ref is None:  # no chargeable record this month: the fee only
            assert (r["usage_cost"], r["total_cost"], r["exceeded"]) == (Decimal("0"), fee, False)
            assert (r["voice_units"], r["sms_units"], r["data_units"]) == (0, 0, 0)
            continue
        assert r["usage_cost"] == ref["usage_cost"], (r, ref)
        assert r["total_cost"] == ref["usage_cost"] + fee
        assert r["exceeded"] == ref["exceeded"]
        assert (r["voice_units"], r["sms_units"], r["data_units"]) == (
            ref["voice_units"],
            ref["sms_units"],
            ref["data_units"],
        )
    want_exceeded = {k: v for k, v in want_exceeded.items() if v}  # subscribers that ran out at least once
    assert dict(zip(exceeded["msisdn"], exceeded["months_exceeded"], strict=True)) == want_exceeded
    if not named_this_month:
        assert dict(zip(exceeded_shared["msisdn"], exceeded_shared["months_exceeded"], strict=True)) == want_exceeded
    assert_frame_equal(exceeded_batched.sort("msisdn"), exceeded.sort("msisdn"))
    assert use.to_dicts() == want_use.to_dicts()


def test_sub_cent_rate_rounds_each_record_in_record_order(tmp_path: Path) -> None:
    # S: 5 MB included, 0.0125/MB. Three records at the same instant, spent in record_id order:
    # r1 5 MB fills the allowance, r2 and r3 pay 1 MB each: 0.0125 -> 0.01 twice = 0.02
    # (in reverse order r3, r2 would fit and r1 would pay 2 MB = 0.025 -> 0.03).
    # T: nothing included, 0.0075/MB: 0.0375 -> 0.04, 0.0075 -> 0.01, 0.01 = 0.06.
    when = dt.datetime(2026, 3, 10, 12, 0)
    rows = [
        {"record_id": "r1", "start_at": when, "msisdn": "A", "service": "data", "bytes_down": 5_000_000},
        {"record_id": "r2", "start_at": when, "msisdn": "A", "service": "data", "bytes_down": 1_000_000},
        {"record_id": "r3", "start_at": when, "msisdn": "A", "service": "data", "bytes_down": 1_000_000},
    ]
    path = make_warehouse(tmp_path / "wh.duckdb", records_frame(rows), plans=PLANS, subscribers=SUBSCRIBERS)
    with store.reader(path) as con:
        start_at, end_at = month_bounds(MONTH, TZ)
        costs = recommend.plan_costs(
            con, pl.DataFrame({"msisdn": ["A"]}), recommend.plans_table(con), start_at, end_at, home_country="GB"
        )
    got = dict(zip(costs["plan_id"], costs["total_cost"], strict=True))
    assert got == {"S": Decimal("10.02"), "T": Decimal("2.06"), "W": Decimal("15")}
    assert costs.filter(pl.col("plan_id") == "S")["exceeded"][0]
    assert costs["data_units"].to_list() == [7, 7, 7]
