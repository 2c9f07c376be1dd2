"""Exact aggregated re-rating of subscriber-months, for the recommendations.

The billing rating engine's rules (:mod:`analytics.rating`) applied by aggregation in DuckDB
(the rules enter the SQL as fragments generated from :data:`analytics.tariff.TARIFF`),
all subscribers and all plans at once (see :mod:`analytics.marketing.recommend` and
docs/marketing.md for why each aggregation is exact):

* :func:`plan_costs` (``marketing_plan_costs.sql``): one row per msisdn x plan, the
  month's usage cost, fee, total, allowance units and ``exceeded``;
* :func:`exceeded_months` (``marketing_exceeded_months.sql``): one row per msisdn, the
  months (per plan) an allowance of the subscriber's own plan ran out;
* :func:`allowance_units` (``marketing_allowance_units.sql``): one row per msisdn x own
  plan, the allowance units the month's usage counts.

``tests/test_marketing_rerating.py`` checks all three against the engine.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import duckdb
import polars as pl

from analytics import rating, store, tariff
from analytics.calendar import month_bounds, shift_month
from analytics.marketing import window
from analytics.marketing.indicators import (
    clock_params,
    conform,
    local_clock,
    msisdn_batches,
)
from analytics.marketing.settings import marketing_settings

log = logging.getLogger(__name__)

MONEY = pl.Decimal(18, 4)
PLAN_COST_SCHEMA = pl.Schema(
    {
        "msisdn": pl.String,
        "plan_id": pl.String,
        "usage_cost": MONEY,
        "monthly_fee": MONEY,
        "total_cost": MONEY,
        "voice_units": pl.Int64,
        "sms_units": pl.Int64,
        "data_units": pl.Int64,
        "exceeded": pl.Boolean,
    }
)


def plans_table(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return store.fetch(con, "@plans")


# rate class of the generated {include:rating_class} -> (allowance column or None, rate column); classes 1-3
# spend an allowance. Derived from the tariff rules (analytics/tariff.py), like the SQL.
CLASSES = {cls: (incl, rate) for cls, (incl, rate, _) in tariff.compile_tariff().classes.items()}
# classes whose records are one unit each (sms/mms): per-record rounding cannot change the sum
ONE_UNIT_CLASSES = [cls for cls, (_, _, unit) in tariff.compile_tariff().classes.items() if not unit.columns]


def _sql(con: duckdb.DuckDBPyConnection, name: str, params: dict, relations: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Run ``analytics/sql/<name>.sql`` on its own cursor with small frames registered."""
    cursor = getattr(store, "cursor", None)
    cur = cursor(con) if cursor else con.cursor()
    try:
        for key, frame in relations.items():
            cur.register(key, frame)
        return cur.sql(store.sql(name), params=params).pl()
    finally:
        cur.close()


def plan_rates(plans: pl.DataFrame) -> pl.DataFrame:
    """One row per plan the engine knows x rate class: ``incl`` units and ``rate_e4``
    (integer ten-thousandths, as the engine rounds them); ``order_free`` when per-record
    rounding cannot change the sum (whole cents per unit, or one message per record)."""
    frame = rating._plans_frame(plans.lazy())
    parts = [
        frame.select(
            "plan_id",
            pl.lit(cls, dtype=pl.Int64).alias("class"),
            (pl.col(incl) if incl else pl.lit(0, dtype=pl.Int64)).alias("incl"),
            pl.col(rate).alias("rate_e4"),
        )
        for cls, (incl, rate) in CLASSES.items()
    ]
    one_unit = pl.col("class").is_in(ONE_UNIT_CLASSES)
    return pl.concat(parts).with_columns((one_unit | (pl.col("rate_e4") % 100 == 0)).alias("order_free"))


def home_values(
    con: duckdb.DuckDBPyConnection, start_at: dt.datetime, end_at: dt.datetime, *, home_country: str
) -> list[str]:
    """The window's raw ``destination_country`` values the engine reads as home."""
    values = pl.Series("d", list(window.facts(con, start_at, end_at).destinations), dtype=pl.String)
    return tariff.sql_home_values(values, home_country=home_country)


def record_plan_map(con: duckdb.DuckDBPyConnection, start_at: dt.datetime, end_at: dt.datetime) -> pl.DataFrame:
    """raw record ``plan_id`` -> the plan :func:`analytics.rating.resolve_plans` reads in it
    (stripped; null when blank, so the subscriber's plan applies), for the window's values."""
    raw = pl.DataFrame({"raw": list(window.facts(con, start_at, end_at).raw_plans)}, schema={"raw": pl.String})
    stripped = pl.col("raw").str.strip_chars()
    return raw.select("raw", pl.when(stripped != "").then(stripped).alias("plan_id"))


def allowance_units(
    con: duckdb.DuckDBPyConnection, start_at: dt.datetime, end_at: dt.datetime, *, home_country: str
) -> pl.DataFrame:
    """One row per msisdn x own plan (known to the engine) with chargeable records in the
    window: the allowance units (``voice``, ``sms``, ``data``) the engine counts under it."""
    plans = rating._plans_frame(plans_table(con).lazy()).select("plan_id")
    params = {
        "start_at": start_at,
        "end_at": end_at,
        "home_values": home_values(con, start_at, end_at, home_country=home_country),
    }
    relations = {"_plan_map": record_plan_map(con, start_at, end_at), "_plans": plans}
    out = _sql(con, "marketing_allowance_units", params, relations)
    return out.select(pl.col("msisdn", "plan_id").cast(pl.String), pl.col("voice", "sms", "data").cast(pl.Int64))


def plan_costs(
    con: duckdb.DuckDBPyConnection,
    population: pl.DataFrame,
    plans: pl.DataFrame,
    start_at: dt.datetime,
    end_at: dt.datetime,
    *,
    home_country: str,
    batch_records: int | None = None,
) -> pl.DataFrame:
    """Cost of the month for every subscriber of ``population`` under every plan.

    ``[start_at, end_at)`` is one local month; subscribers without chargeable records pay the fee.
    The query runs in batches of subscribers (msisdn ranges) of about ``batch_records``
    records (default ``[marketing] rerate_batch_records``): at 100 M records its hash tables
    and the record-order sort spilled past the memory cap.
    """
    if plans.height == 0 or population.height == 0:
        return pl.DataFrame(schema=PLAN_COST_SCHEMA)
    rates = plan_rates(plans)
    params = {
        "start_at": start_at,
        "end_at": end_at,
        "home_values": home_values(con, start_at, end_at, home_country=home_country),
    }
    size = batch_records or marketing_settings().rerate_batch_records
    batches = msisdn_batches(con, start_at, end_at, batch_records=size, calls_and_texts=False)
    parts = [
        _sql(con, "marketing_plan_costs", params | {"msisdn_from": lo, "msisdn_to": hi}, {"_plan_rates": rates})
        for lo, hi in batches
    ]
    usage = pl.concat(parts, how="vertical_relaxed").lazy()
    usage = usage.select(
        pl.col("msisdn").cast(pl.String),
        pl.col("plan_id").cast(pl.String),
        (pl.col("cents").cast(pl.Int64).cast(MONEY) / 100).cast(MONEY).alias("usage_cost"),
        pl.col("voice_units", "sms_units", "data_units").cast(pl.Int64),
        pl.col("exceeded").cast(pl.Boolean),
    )
    grid = (
        population.select("msisdn")
        .lazy()
        .join(plans.lazy().select(pl.col("plan_id"), pl.col("monthly_fee").cast(MONEY)), how="cross")
    )
    out = (
        grid.join(usage, on=["msisdn", "plan_id"], how="left")
        .with_columns(
            pl.col("usage_cost").fill_null(Decimal("0")).cast(MONEY),
            pl.col("voice_units", "sms_units", "data_units").fill_null(0),
            pl.col("exceeded").fill_null(False),
        )
        .with_columns((pl.col("usage_cost") + pl.col("monthly_fee")).cast(MONEY).alias("total_cost"))
        .sort("msisdn", "plan_id")
        .collect()
    )
    return conform(out, PLAN_COST_SCHEMA)


def exceeded_months(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    window_months: int,
    home_country: str,
    timezone: str,
    batch_records: int | None = None,
    this_month: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """msisdn -> months_exceeded, one row per subscriber whose own plan's allowance ran out
    in at least one month of the window ending at ``month`` (records rated under their
    plans; a month counts once per plan the subscriber had in it, as the engine groups them).
    In batches of subscribers like :func:`plan_costs`.

    ``this_month``: the msisdns whose own plan ran out in ``month`` itself, when the caller
    already knows them (:func:`analytics.marketing.recommend.month_recommendations` reads
    them off the plan costs when no record of the month names a plan of its own); the
    month's records are then not read again, only the months before it.
    """
    start_at, _ = month_bounds(shift_month(month, 1 - window_months), timezone)
    month_start, month_end = month_bounds(month, timezone)
    end_at = month_start if this_month is not None else month_end  # the month itself: known or read
    plans = plans_table(con)
    schema = {"msisdn": pl.String, "months_exceeded": pl.Int64}
    if plans.height == 0:
        return pl.DataFrame(schema=schema)
    parts = (
        []
        if start_at >= end_at
        else _exceeded_parts(con, start_at, end_at, plans, home_country, timezone, batch_records)
    )
    if this_month is not None:
        parts.append(this_month.select("msisdn", pl.lit(1).alias("months_exceeded")))
    if not parts:
        return pl.DataFrame(schema=schema)
    out = pl.concat([p.select(pl.col(name).cast(dtype) for name, dtype in schema.items()) for p in parts])
    return out.group_by("msisdn").agg(pl.col("months_exceeded").sum()).sort("msisdn")


def _exceeded_parts(
    con: duckdb.DuckDBPyConnection,
    start_at: dt.datetime,
    end_at: dt.datetime,
    plans: pl.DataFrame,
    home_country: str,
    timezone: str,
    batch_records: int | None,
) -> list[pl.DataFrame]:
    """``marketing_exceeded_months.sql`` over ``[start_at, end_at)``, batch by batch."""
    incl = plan_rates(plans).filter(pl.col("class") <= 3).select("plan_id", "class", "incl")
    params = clock_params(local_clock(start_at, end_at, timezone=timezone)) | {
        "start_at": start_at,
        "end_at": end_at,
        "home_values": home_values(con, start_at, end_at, home_country=home_country),
    }
    size = batch_records or marketing_settings().rerate_batch_records
    relations = {"_plan_map": record_plan_map(con, start_at, end_at), "_plan_incl": incl}
    return [
        _sql(con, "marketing_exceeded_months", params | {"msisdn_from": lo, "msisdn_to": hi}, relations)
        for lo, hi in msisdn_batches(con, start_at, end_at, batch_records=size, calls_and_texts=False)
    ]
