"""Plan recommendations: every subscriber's month re-rated under every plan.

The month is re-rated under all plans at once by an exact aggregation of the billing
rating engine's rules (:mod:`analytics.rating`), in one DuckDB query over all subscribers
(``marketing_plan_costs.sql``; no per-subscriber loop, no per-plan pass over the records):

* pay-as-you-go records (international, roaming) are priced one by one, so records of a
  subscriber with the same rate class and billable units are grouped:
  ``count x round_half_up(units x rate)``;
* allowance usage (domestic voice, sms, data) costs ``max(0, total - included) x rate``
  when a unit's price is a whole number of cents, or the unit is one message: per-record
  rounding changes nothing then and the order records spend the allowance in does not
  matter. Otherwise (e.g. 0.0125/MB) each record's paid units are rounded on their own:
  only the subscriber-month windows past such a plan's allowance are put in record order
  (``start_at``, ``record_id``) and summed record by record, exactly as the engine does;
* ``exceeded`` (an ``*_overage`` rule fired) = the total exceeds the allowance.

A plan's cost for a subscriber-month is that usage cost plus the plan's ``monthly_fee``
(billed once per subscriber-month, contract "Rating rules"). ``tests/test_marketing_rerating.py``
checks the aggregation against the engine rating every record under every plan.

Tables built here (Polars frames):

* ``plan_costs``: one row per msisdn x plan: ``usage_cost``, ``monthly_fee``,
  ``total_cost``, the units the allowances count (``voice_units`` started minutes,
  ``sms_units``, ``data_units`` started MB of domestic non-roaming usage) and
  ``exceeded`` (some allowance ran out, i.e. an ``*_overage`` rule fired).
* ``recommendations``: one row per msisdn: ``current_plan`` (the plan of its latest
  record in the month), ``current_cost``, ``best_plan`` / ``best_cost`` (cheapest total
  for the customer; ties go to the current plan, then the lower fee, then plan_id),
  ``recommended_plan`` / ``recommended_cost`` (the best plan when it saves at least
  ``min_saving``, else the current plan; the best plan when the current plan is unknown,
  which is then not counted as a recommendation), ``saving``, ``is_recommendation``, the
  revenue change for the operator ``revenue_delta`` (recommended - current cost) and the
  allowance use of the current plan (``*_allowance_use`` = units / included units;
  above 1 means the allowance was exceeded; null when the plan includes none).
* ``upsell``: one row per subscriber who exceeded an allowance of their current plan in
  at least ``upsell_min_months`` of the last ``upsell_window_months`` months, with the
  cheapest dearer plan for them this month (``marketing_exceeded_months.sql``: the same
  aggregation under each record's own plan; record order only where a plan changed
  within a subscriber-month).

Records free under every plan (unanswered, incoming at home, incoming sms/mms) are left
out first: under the contract they neither cost nor spend allowance under any plan.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import duckdb
import polars as pl

from analytics import rating, store
from analytics.calendar import month_bounds
from analytics.config import settings
from analytics.marketing import window
from analytics.marketing.indicators import conform
from analytics.marketing.rerate import (  # noqa: F401  (re-exported)
    CLASSES,
    PLAN_COST_SCHEMA,
    allowance_units,
    exceeded_months,
    home_values,
    plan_costs,
    plan_rates,
    plans_table,
    record_plan_map,
)
from analytics.marketing.settings import marketing_settings

log = logging.getLogger(__name__)

MONEY = pl.Decimal(18, 4)

RECOMMENDATION_SCHEMA = pl.Schema(
    {
        "msisdn": pl.String,
        "current_plan": pl.String,
        "current_cost": MONEY,
        "best_plan": pl.String,
        "best_cost": MONEY,
        "recommended_plan": pl.String,
        "recommended_cost": MONEY,
        "saving": MONEY,
        "is_recommendation": pl.Boolean,
        "revenue_delta": MONEY,
        "exceeded": pl.Boolean,
        "voice_allowance_use": pl.Float64,
        "sms_allowance_use": pl.Float64,
        "data_allowance_use": pl.Float64,
    }
)
UPSELL_SCHEMA = pl.Schema(
    {
        "msisdn": pl.String,
        "current_plan": pl.String,
        "months_exceeded": pl.Int64,
        "current_cost": MONEY,
        "upsell_plan": pl.String,
        "upsell_cost": MONEY,
    }
)


def rating_input(
    con: duckdb.DuckDBPyConnection, start_at: dt.datetime, end_at: dt.datetime, *, chargeable_only: bool = True
) -> pl.DataFrame:
    """The window's records as the rating engine takes them (plan_id resolved)."""
    records = store.fetch(
        con, "@marketing_rating_input", {"start_at": start_at, "end_at": end_at, "chargeable_only": chargeable_only}
    )
    subscribers = store.fetch(con, "@subscriber_plans")
    return rating.resolve_plans(records.lazy(), subscribers.lazy()).collect()


def recommend(
    costs: pl.DataFrame,
    current: pl.DataFrame,
    plans: pl.DataFrame,
    *,
    min_saving: float,
) -> pl.DataFrame:
    """The best plan per subscriber (``current``: msisdn, current_plan) from ``plan_costs``."""
    if costs.height == 0:
        return pl.DataFrame(schema=RECOMMENDATION_SCHEMA)
    fees = plans.select("plan_id", pl.col("monthly_fee").cast(MONEY).alias("_fee"))
    ranked = (
        costs.join(current, on="msisdn", how="left")
        .join(fees, on="plan_id", how="left")
        .with_columns((pl.col("plan_id") != pl.col("current_plan")).fill_null(True).alias("_not_current"))
        .sort("msisdn", "total_cost", "_not_current", "_fee", "plan_id")
    )
    best = (
        ranked.group_by("msisdn", maintain_order=True)
        .first()
        .select("msisdn", pl.col("plan_id").alias("best_plan"), pl.col("total_cost").alias("best_cost"))
    )
    incl = plans.select("plan_id", "incl_voice_min", "incl_sms", "incl_data_mb")
    on_current = (
        costs.join(current, left_on=["msisdn", "plan_id"], right_on=["msisdn", "current_plan"], how="inner")
        .join(incl, on="plan_id", how="left")
        .select(
            "msisdn",
            pl.col("total_cost").alias("current_cost"),
            "exceeded",
            *[
                pl.when(pl.col(inc) > 0).then(pl.col(units) / pl.col(inc)).alias(name)
                for units, inc, name in (
                    ("voice_units", "incl_voice_min", "voice_allowance_use"),
                    ("sms_units", "incl_sms", "sms_allowance_use"),
                    ("data_units", "incl_data_mb", "data_allowance_use"),
                )
            ],
        )
    )
    threshold = Decimal(str(min_saving))
    out = (
        current.join(best, on="msisdn", how="inner")
        .join(on_current, on="msisdn", how="left")
        .with_columns(
            (pl.col("current_cost") - pl.col("best_cost")).cast(MONEY).alias("_best_saving"),
        )
        .with_columns(
            (
                (pl.col("best_plan") != pl.col("current_plan")).fill_null(False)
                & (pl.col("_best_saving") >= threshold).fill_null(False)
            ).alias("is_recommendation"),
        )
        .with_columns(
            # unknown current plan (or one missing from plans): the best plan is the offer
            pl.when(pl.col("is_recommendation") | pl.col("current_cost").is_null())
            .then(pl.struct(plan="best_plan", cost="best_cost"))
            .otherwise(pl.struct(plan="current_plan", cost="current_cost"))
            .struct.unnest()
        )
        .rename({"plan": "recommended_plan", "cost": "recommended_cost"})
        .with_columns(
            (pl.col("current_cost") - pl.col("recommended_cost")).cast(MONEY).alias("saving"),
            (pl.col("recommended_cost") - pl.col("current_cost")).cast(MONEY).alias("revenue_delta"),
        )
        .sort("msisdn")
    )
    return conform(out, RECOMMENDATION_SCHEMA)


def own_plan_exceeded(costs: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """msisdn of the subscribers some allowance of whose current plan ran out (``costs``:
    :func:`plan_costs` rows; ``current``: msisdn, current_plan)."""
    mine = costs.join(current, left_on=["msisdn", "plan_id"], right_on=["msisdn", "current_plan"], how="inner")
    return mine.filter(pl.col("exceeded")).select("msisdn")


def upsell(
    recommendations: pl.DataFrame,
    costs: pl.DataFrame,
    plans: pl.DataFrame,
    exceeded: pl.DataFrame,
    *,
    min_months: int,
) -> pl.DataFrame:
    """Subscribers regularly over their allowance, with the cheapest dearer plan for them."""
    regular = exceeded.filter(pl.col("months_exceeded") >= min_months)
    if regular.height == 0 or recommendations.height == 0:
        return pl.DataFrame(schema=UPSELL_SCHEMA)
    fees = plans.select("plan_id", pl.col("monthly_fee").cast(MONEY).alias("_fee"))
    base = recommendations.select("msisdn", "current_plan", "current_cost").join(regular, on="msisdn", how="inner")
    current_fee = base.join(fees, left_on="current_plan", right_on="plan_id", how="left").select(
        "msisdn", pl.col("_fee").alias("_current_fee")
    )
    offers = (
        costs.join(current_fee, on="msisdn", how="inner")
        .join(fees, on="plan_id", how="left")
        .filter(pl.col("_fee") > pl.col("_current_fee"))
        .sort("msisdn", "total_cost", "_fee", "plan_id")
        .group_by("msisdn", maintain_order=True)
        .first()
        .select("msisdn", pl.col("plan_id").alias("upsell_plan"), pl.col("total_cost").alias("upsell_cost"))
    )
    out = base.join(offers, on="msisdn", how="left").sort("months_exceeded", "msisdn", descending=[True, False])
    return conform(out, UPSELL_SCHEMA)


def month_recommendations(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    timezone: str | None = None,
    home_country: str | None = None,
) -> dict[str, pl.DataFrame]:
    """``plan_costs``, ``recommendations`` and ``upsell`` of one month (see module doc)."""
    tz = timezone or settings().timezone
    home = (home_country or settings().home_country).upper()
    opts = marketing_settings()
    start_at, end_at = month_bounds(month, tz)
    current = store.fetch(con, "@marketing_current_plan", {"start_at": start_at, "end_at": end_at})
    current = current.select(pl.col("msisdn").cast(pl.String), pl.col("current_plan").cast(pl.String))
    plans = plans_table(con)
    with window.shared():  # the window facts of the month and of the upsell window, read once
        costs = plan_costs(con, current, plans, start_at, end_at, home_country=home)
        # no record names a plan of its own: each is rated under its subscriber's plan, the
        # current plan, whose `exceeded` the plan costs hold; else the records are read again
        named = record_plan_map(con, start_at, end_at)["plan_id"].is_not_null().any()
        this_month = None if named else own_plan_exceeded(costs, current)
        exceeded = exceeded_months(
            con,
            month,
            window_months=opts.upsell_window_months,
            home_country=home,
            timezone=tz,
            this_month=this_month,
        )
    recs = recommend(costs, current, plans, min_saving=opts.min_saving)
    ups = upsell(recs, costs, plans, exceeded, min_months=opts.upsell_min_months)
    log.info(
        "recommendations %s: %d subscribers x %d plans, %d recommendations, %d upsell",
        month,
        current.height,
        plans.height,
        int(recs["is_recommendation"].sum() or 0),
        ups.height,
    )
    return {"plan_costs": costs, "recommendations": recs, "upsell": ups}
