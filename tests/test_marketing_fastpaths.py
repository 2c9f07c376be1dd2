"""The fast paths of the marketing queries give the general queries' values.

* the local clock (UTC offsets by segments) equals ICU's conversion, DST changes included;
* a month's bandicoot indicators without sorting (``marketing_indicators_month.sql``) equal
  the general query that orders every record (ties on start_at, several antennas per chunk,
  roaming records without cell, a spring-forward month), and so do its batches by msisdn range;
* the current plan resolved on the latest records only equals resolving every record;
* a month's usage indicators (active days as a bit set) equal the general usage query.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_marketing_support import make_warehouse, records_frame

from analytics import rating, store
from analytics.calendar import month_bounds
from analytics.marketing.indicators import (
    INDICATOR_SCHEMA,
    bandicoot_indicators,
    clock_params,
    conform,
    local_clock,
    msisdn_batches,
)
from analytics.marketing.usage import USAGE_SCHEMA, usage_indicators


@pytest.mark.parametrize(
    ("tz", "month"),
    [("UTC", 3), ("Europe/London", 3), ("Europe/London", 10), ("Australia/Lord_Howe", 4), ("America/St_Johns", 11)],
)
def test_local_clock_equals_icu(tz: str, month: int) -> None:
    start_at, end_at = month_bounds(dt.date(2026, month, 1), tz)
    clock = local_clock(start_at, end_at, timezone=tz)
    assert clock["local_cut_1"] is not None
    text = f"select start_at, {store._fragment('marketing_local_at')} as got, timezone($tz, timezone('UTC', start_at)) as want"
    text += " from (select unnest(generate_series($start_at::timestamp, $end_at::timestamp, interval 7 minute)) as start_at)"
    df = duckdb.connect().sql(text, params=clock_params(clock) | {"start_at": start_at, "end_at": end_at}).pl()
    assert df.height > 6000
    assert (df["got"] == df["want"]).all()


def test_local_clock_of_an_open_window_falls_back_to_icu() -> None:
    clock = local_clock(None, None, timezone="Europe/London")
    assert clock["local_cut_1"] is None and not clock["monotone"]
    start_at, end_at = month_bounds(dt.date(2026, 10, 1), "Europe/London")
    assert not local_clock(start_at, end_at, timezone="Europe/London")["monotone"]  # fall-back month


UNBOUNDED = {"msisdn_from": None, "msisdn_to": None}

CELLS = pl.DataFrame(
    {
        "cell_id": ["C1", "C2", "C3", "C4"],
        "region": ["N"] * 4,
        "lat": [51.5, 48.85, 50.85, 51.5],
        "lon": [-0.1, 2.35, 4.35, -0.1],
    }
)
interaction = st.fixed_dictionaries(
    {
        "minute": st.sampled_from([0, 0, 1, 10, 29, 30, 31, 60, 61, 400, 1440 * 27 + 60, 1440 * 27 + 90]),
        "second": st.sampled_from([0, 0, 0, 59]),  # ties on start_at
        "msisdn": st.sampled_from(["A", "B"]),
        "service": st.sampled_from(["voice", "voice", "sms", "data"]),
        "direction": st.sampled_from(["out", "in"]),
        "duration_s": st.integers(0, 300),
        "cell_id": st.sampled_from(["C1", "C2", "C3", "C4", None]),
        "other_party": st.sampled_from(["x", "y", "z"]),
    }
)


@pytest.mark.slow
@pytest.mark.parametrize("tz", ["UTC", "Europe/London"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=st.lists(interaction, min_size=1, max_size=40))
def test_month_indicators_equal_the_ordered_query(tz: str, drawn: list[dict]) -> None:
    t0 = dt.datetime(2026, 3, 1, 0, 5)  # London's March: the clocks go forward on the 29th
    rows = [
        {
            "record_id": f"r{(i * 17) % 41:02d}",
            "start_at": t0 + dt.timedelta(minutes=d.pop("minute"), seconds=d.pop("second")),
            "is_roaming": d["cell_id"] is None,
            "region": "ROAMING" if d["cell_id"] is None else "N",
            **d,
        }
        for i, d in enumerate(drawn)
    ]
    rows = list({r["record_id"]: r for r in rows}.values())
    with tempfile.TemporaryDirectory() as tmp:
        path = make_warehouse(Path(tmp) / "wh.duckdb", records_frame(rows), cells=CELLS)
        with store.reader(path) as con:
            month = dt.date(2026, 3, 1)
            start_at, end_at = month_bounds(month, tz)
            assert local_clock(start_at, end_at, timezone=tz)["monotone"]
            got = bandicoot_indicators(con, month=month, timezone=tz)
            ordered = store.fetch(
                con, "@marketing_indicators", {"tz": tz, "start_at": start_at, "end_at": end_at} | UNBOUNDED
            )
    want = conform(ordered, INDICATOR_SCHEMA)
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


plan_record = st.fixed_dictionaries(
    {
        "minute": st.sampled_from([0, 0, 5, 5, 60]),  # ties on start_at
        "msisdn": st.sampled_from(["A", "B", "D"]),  # D: no subscriber row (no plan but its records' own)
        "plan_id": st.sampled_from([None, None, "", " W ", "S", "NOPE"]),
    }
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(plan_record, min_size=1, max_size=25))
def test_current_plan_equals_resolving_every_record(drawn: list[dict]) -> None:
    t0 = dt.datetime(2026, 3, 3, 10, 0)
    rows = [
        {
            "record_id": f"r{(i * 7) % 29:02d}",
            "start_at": t0 + dt.timedelta(minutes=d.pop("minute")),
            "service": "sms",
            **d,
        }
        for i, d in enumerate(drawn)
    ]
    rows = list({r["record_id"]: r for r in rows}.values())
    subscribers = pl.DataFrame(
        {"msisdn": ["A", "B"], "plan_id": ["S", "W"]}, schema={"msisdn": pl.String, "plan_id": pl.String}
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = make_warehouse(Path(tmp) / "wh.duckdb", records_frame(rows), subscribers=subscribers)
        with store.reader(path) as con:
            start_at, end_at = dt.datetime(2026, 3, 1), dt.datetime(2026, 4, 1)
            got = store.fetch(con, "@marketing_current_plan", {"start_at": start_at, "end_at": end_at})
    resolved = rating.resolve_plans(records_frame(rows).lazy(), subscribers.lazy()).collect()
    want = (
        resolved.sort("start_at", "record_id")
        .group_by("msisdn", maintain_order=True)
        .agg(pl.col("plan_id").drop_nulls().last().alias("current_plan"))
        .sort("msisdn")
    )
    assert got.select(pl.col("msisdn", "current_plan").cast(pl.String)).to_dicts() == want.to_dicts()


usage_record = st.fixed_dictionaries(
    {
        "minute": st.sampled_from([0, 1, 59, 60 * 23 + 59, 60 * 24, 1440 * 28 + 60 * 23 + 30, 1440 * 30 + 60 * 22]),
        "msisdn": st.sampled_from(["A", "B"]),
        "service": st.sampled_from(["voice", "sms", "mms", "data", "video"]),
        "direction": st.sampled_from(["out", "in"]),
        "duration_s": st.integers(0, 300),
        "bytes_down": st.integers(0, 3_000_000),
        "is_roaming": st.booleans(),
        "destination_country": st.sampled_from(["GB", "gb ", "", "FR"]),
        "charge": st.sampled_from([None, "0.10", "1.25"]),
    }
)


@pytest.mark.slow
@pytest.mark.parametrize("tz", ["UTC", "Europe/London"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=st.lists(usage_record, min_size=1, max_size=30))
def test_month_usage_equals_the_general_query(tz: str, drawn: list[dict]) -> None:
    """marketing_usage_month.sql (active days as a bit set) = marketing_usage.sql (distinct dates)."""
    t0 = dt.datetime(2026, 2, 28, 23, 30)  # local dates around both month ends, London's spring-forward
    rows = [
        {"record_id": f"r{i:02d}", "start_at": t0 + dt.timedelta(minutes=d.pop("minute")), **d}
        for i, d in enumerate(drawn)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = make_warehouse(Path(tmp) / "wh.duckdb", records_frame(rows), cells=CELLS)
        with store.reader(path) as con:
            month = dt.date(2026, 3, 1)
            start_at, end_at = month_bounds(month, tz)
            got = usage_indicators(con, month=month, timezone=tz, home_country="GB")
            params = clock_params(local_clock(start_at, end_at, timezone=tz))
            general = store.fetch(
                con, "@marketing_usage", params | {"start_at": start_at, "end_at": end_at, "home": "GB"}
            )
    assert_frame_equal(got, conform(general, USAGE_SCHEMA))
    assert got.height == len({r["msisdn"] for r in rows if start_at <= r["start_at"] < end_at})


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=st.lists(interaction, min_size=1, max_size=40),
    msisdns=st.lists(st.sampled_from(["+441", "+442", "+443", "+4430", "+449", "A"]), min_size=1, max_size=40),
    batch=st.integers(1, 12),
)
def test_batched_month_indicators_equal_one_pass(drawn: list[dict], msisdns: list[str], batch: int) -> None:
    """Batches by msisdn range (cut at subscribers' quantiles) give the one-pass values,
    for subscribers on a cut point, between cuts, before the first and unknown ones."""
    t0 = dt.datetime(2026, 3, 1, 0, 5)
    rows = [
        {
            "record_id": f"r{i:02d}",
            "start_at": t0 + dt.timedelta(minutes=d.pop("minute"), seconds=d.pop("second")),
            "is_roaming": d["cell_id"] is None,
            "region": "ROAMING" if d["cell_id"] is None else "N",
            **d,
            "msisdn": msisdns[i % len(msisdns)],
        }
        for i, d in enumerate(drawn)
    ]
    known = pl.DataFrame({"msisdn": ["+441", "+442", "+443", "+444"], "plan_id": ["S"] * 4})
    with tempfile.TemporaryDirectory() as tmp:
        path = make_warehouse(Path(tmp) / "wh.duckdb", records_frame(rows), cells=CELLS, subscribers=known)
        with store.reader(path) as con:
            month = dt.date(2026, 3, 1)
            start_at, end_at = month_bounds(month, "UTC")
            batches = msisdn_batches(con, start_at, end_at, batch_records=batch)
            got = bandicoot_indicators(con, month=month, timezone="UTC", batch_records=batch)
            one = bandicoot_indicators(con, month=month, timezone="UTC", batch_records=10**9)
            # a 1-bit subscriber key: batches of 3+ subscribers collide (the general query
            # then runs), batches of 1-2 may not (the hashed query on 1 bit is exact then)
            narrow = bandicoot_indicators(con, month=month, timezone="UTC", batch_records=batch, key_bits=1)
    calls_and_texts = sum(r["service"] in ("voice", "sms") for r in rows)
    wanted = -(-calls_and_texts // batch)  # ranges asked for; the 4 subscribers give at most 4 distinct cuts
    assert len(batches) == 1 if wanted <= 1 else 2 <= len(batches) <= min(wanted, 5)
    assert_frame_equal(got, one)
    assert_frame_equal(narrow, one, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert got["msisdn"].to_list() == sorted({r["msisdn"] for r in rows if r["service"] in ("voice", "sms")})


def test_colliding_subscriber_keys_fall_back_to_the_general_query(caplog: pytest.LogCaptureFixture) -> None:
    """Three subscribers on a 1-bit hash key must share a key: every seed collides, the
    batch is computed by the general query, and the values are those of the 64-bit key."""
    t0 = dt.datetime(2026, 3, 2, 9, 0)
    rows = [
        {
            "record_id": f"r{i}",
            "start_at": t0 + dt.timedelta(minutes=7 * i),
            "msisdn": f"+4470{i % 3}",
            "other_party": f"+4479{i % 4}",
            "service": "voice" if i % 2 else "sms",
            "direction": "out" if i % 3 else "in",
            "duration_s": 30 * i if i % 2 else 0,
            "cell_id": ["C1", "C2", None][i % 3],
            "is_roaming": i % 3 == 2,
            "region": "ROAMING" if i % 3 == 2 else "N",
        }
        for i in range(12)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = make_warehouse(Path(tmp) / "wh.duckdb", records_frame(rows), cells=CELLS)
        with store.reader(path) as con:
            month = dt.date(2026, 3, 1)
            wide = bandicoot_indicators(con, month=month, timezone="UTC")
            with caplog.at_level("WARNING", logger="analytics.marketing.indicators"):
                narrow = bandicoot_indicators(con, month=month, timezone="UTC", key_bits=1)
    assert wide["msisdn"].to_list() == ["+44700", "+44701", "+44702"]
    assert_frame_equal(narrow, wide, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert sum("share a hash key" in r.getMessage() for r in caplog.records) == 3
