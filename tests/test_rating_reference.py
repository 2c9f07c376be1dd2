"""The vectorised rating engine against a per-record Python loop over every rule.

The loop below is a test oracle written from docs/billing.md (rules in their order, allowances
spent per subscriber-month in (start_at, record_id) order, half-up rounding to cents). Random
records cross every rule, unknown plans, empty/lower-case/blank destinations, ties on start_at,
a month boundary in a non-UTC zone and the plan override used by the recommendations.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.rating import INPUT_SCHEMA, rate_records

PLANS = {
    # incl voice, sms, MB; voice, sms, data, intl, roaming voice, roaming data
    "P1": (5, 2, 10, D("0.10"), D("0.05"), D("0.0125"), D("0.50"), D("1.00"), D("0.20")),
    "P2": (0, 0, 0, D("0.2345"), D("0.07"), D("0.015"), D("0.90"), D("1.50"), D("0.30")),
    "P3": (30, 0, 3, D("0.0333"), D("0.0050"), D("0.0075"), D("0.4449"), D("0.9999"), D("0.1234")),
}
COLUMNS = (
    "incl_voice_min",
    "incl_sms",
    "incl_data_mb",
    "voice_per_min",
    "sms_each",
    "data_per_mb",
    "intl_voice_per_min",
    "roaming_voice_per_min",
    "roaming_data_per_mb",
)
T0 = dt.datetime(2026, 3, 31, 20, 0)  # 22:00 in Europe/Paris: records cross into April there
SCHEMA = {**INPUT_SCHEMA, "duration_s": pl.Int32}  # as the records table stores them


def plans_frame() -> pl.LazyFrame:
    rows = [(pid, D("5"), *vals) for pid, vals in PLANS.items()]
    money = {c: pl.Decimal(18, 4) for c in ("monthly_fee", *COLUMNS[3:])}
    return pl.DataFrame(rows, schema=["plan_id", "monthly_fee", *COLUMNS], orient="row", schema_overrides=money).lazy()


def reference(rows: list[dict], *, home: str, timezone: str, override: str | None) -> dict[str, tuple]:
    """record_id -> (rule, billable_units, units_from_allowance, allowance_left_after, expected_charge)."""
    zone = ZoneInfo(timezone)
    used: dict[tuple, int] = {}
    out = {}
    for r in sorted(rows, key=lambda r: (r["start_at"], r["record_id"])):
        plan = PLANS.get(override if override is not None else r["plan_id"])
        local = r["start_at"].replace(tzinfo=dt.UTC).astimezone(zone)
        dest = (r["destination_country"] or "").strip().upper()
        abroad = dest not in ("", home)
        svc, out_dir, roam = r["service"], r["direction"] == "out", r["is_roaming"]
        minutes = (r["duration_s"] + 59) // 60
        mb = (r["bytes_up"] + r["bytes_down"] + 999_999) // 1_000_000
        kind = None
        if plan is None:
            out[r["record_id"]] = ("unknown_plan", 0, 0, None, None)
            continue
        incl, rates = plan[:3], dict(zip(COLUMNS[3:], plan[3:], strict=True))
        if svc == "voice" and r["disposition"] != "answered":
            rule, units, rate = "unanswered_free", 0, D(0)
        elif svc == "voice" and roam:
            rule, units, rate = "voice_roaming", minutes, rates["roaming_voice_per_min"]
        elif svc == "voice" and not out_dir:
            rule, units, rate = "voice_incoming_free", 0, D(0)
        elif svc == "voice" and abroad:
            rule, units, rate = "voice_international", minutes, rates["intl_voice_per_min"]
        elif svc == "voice":
            rule, units, rate, kind = "voice_domestic", minutes, rates["voice_per_min"], 0
        elif svc in ("sms", "mms") and not out_dir:
            rule, units, rate = "sms_incoming_free", 0, D(0)
        elif svc in ("sms", "mms") and (roam or abroad):
            rule, units, rate = ("sms_roaming" if roam else "sms_international"), 1, rates["sms_each"]
        elif svc in ("sms", "mms"):
            rule, units, rate, kind = "sms", 1, rates["sms_each"], 1
        elif roam:
            rule, units, rate = "data_roaming", mb, rates["roaming_data_per_mb"]
        else:
            rule, units, rate, kind = "data", mb, rates["data_per_mb"], 2
        taken, left = 0, None
        if kind is not None:
            key = (r["msisdn"], local.year, local.month, kind)
            before = used.get(key, 0)
            used[key] = before + units
            taken = max(0, min(units, incl[kind] - before))
            left = max(0, incl[kind] - used[key])
            rule += "_overage" if units - taken > 0 else "_allowance"
        charge = ((units - taken) * rate).quantize(D("0.01"), rounding=ROUND_HALF_UP)
        out[r["record_id"]] = (rule, units, taken, left, charge)
    return out


record = st.fixed_dictionaries(
    {
        "offset_s": st.integers(0, 3 * 3600),
        "msisdn": st.sampled_from(["A", "B"]),
        "service": st.sampled_from(["voice", "voice", "sms", "mms", "data", "voip", "video"]),
        "direction": st.sampled_from(["out", "out", "in"]),
        "duration_s": st.integers(0, 700),
        "disposition": st.sampled_from(["answered", "answered", "answered", "no_answer", "busy"]),
        "bytes_up": st.integers(0, 3_000_000),
        "bytes_down": st.integers(0, 9_000_000),
        "is_roaming": st.booleans(),
        "destination_country": st.sampled_from(["GB", "gb", " GB ", "", None, "FR", "us"]),
        "plan_id": st.sampled_from(["P1", "P2", "P3", "P1", "NOPE", None]),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(record, min_size=1, max_size=40),
    st.sampled_from(["UTC", "Europe/Paris"]),
    st.sampled_from([None, None, "P1", "P3", "NOPE"]),
)
def test_engine_matches_per_record_loop(drawn: list[dict], timezone: str, override: str | None) -> None:
    rows = []
    for i, d in enumerate(drawn):
        row = {k: v for k, v in d.items() if k != "offset_s"}
        # coarse offsets give ties on start_at, broken by record_id
        rows.append(
            {
                "record_id": f"r{(i * 7) % 41:02d}-{i}",
                "start_at": T0 + dt.timedelta(seconds=d["offset_s"] // 600 * 600),
                **row,
            }
        )
    frame = pl.DataFrame(rows, schema=SCHEMA).lazy()
    out = rate_records(frame, plans_frame(), home_country="GB", timezone=timezone, plan_override=override).collect()
    assert out["record_id"].to_list() == [r["record_id"] for r in rows]  # input order kept
    got = {
        r["record_id"]: (
            r["rule"],
            r["billable_units"],
            r["units_from_allowance"],
            r["allowance_left_after"],
            r["expected_charge"],
        )
        for r in out.iter_rows(named=True)
    }
    assert got == reference(rows, home="GB", timezone=timezone, override=override)
