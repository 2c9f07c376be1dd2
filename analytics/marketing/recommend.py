"""Plan recommendations: every subscriber's month re-rated under every plan.

The month's records are rated once per plan by the billing rating engine
(:func:`analytics.rating.rate_records` with ``plan_override``), all subscribers at once
(one lazy query per plan, collected together; no per-subscriber loop). A plan's cost
for a subscriber-month is the sum of the records' expected charges plus the plan's
``monthly_fee`` (billed once per subscriber-month, contract "Rating rules").

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
  cheapest dearer plan for them this month.

Records free under every plan (unanswered, incoming at home, incoming sms/mms) are left
out before rating (``marketing_rating_input.sql``): under the contract they neither cost
nor spend allowance, so the result is the same and rating does less work.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import duckdb
import polars as pl

from analytics import rating
from analytics.config import settings
from analytics.marketing.indicators import add_months, conform, month_window, query

log = logging.getLogger(__name__)

MONEY = pl.Decimal(18, 4)
DEFAULTS = {"min_saving": 1.0, "upsell_window_months": 3, "upsell_min_months": 2}

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


def options() -> dict:
    return settings().section("marketing", defaults=DEFAULTS)


def plans_table(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return query(con, None, {}, text="select * from plans order by plan_id")


def rating_input(
    con: duckdb.DuckDBPyConnection, start_at: dt.datetime, end_at: dt.datetime, *, chargeable_only: bool = True
) -> pl.DataFrame:
    """The window's records as the rating engine takes them (plan_id resolved)."""
    records = query(
        con, "marketing_rating_input", {"start_at": start_at, "end_at": end_at, "chargeable_only": chargeable_only}
    )
    subscribers = query(con, None, {}, text="select msisdn, plan_id from subscribers")
    return rating.resolve_plans(records.lazy(), subscribers.lazy()).collect()


def _per_subscriber(rated: pl.LazyFrame) -> pl.LazyFrame:
    """Rated records -> one row per msisdn x plan x month with cost and allowance units."""
    kind = pl.col("allowance_kind")
    return rated.group_by("msisdn", "plan_id", "month_date").agg(
        pl.col("expected_charge").sum().cast(MONEY).alias("usage_cost"),
        pl.col("billable_units").filter(kind == "voice").sum().alias("voice_units"),
        pl.col("billable_units").filter(kind == "sms").sum().alias("sms_units"),
        pl.col("billable_units").filter(kind == "data").sum().alias("data_units"),
        pl.col("rule").str.ends_with("_overage").any().alias("exceeded"),
    )


def plan_costs(
    population: pl.DataFrame,
    records: pl.DataFrame,
    plans: pl.DataFrame,
    *,
    home_country: str,
    timezone: str,
) -> pl.DataFrame:
    """Cost of the month for every subscriber of ``population`` under every plan.

    ``records`` hold one month only; subscribers without chargeable records pay the fee.
    """
    if plans.height == 0 or population.height == 0:
        return pl.DataFrame(schema=PLAN_COST_SCHEMA)
    lazy = records.lazy()
    plans_lf = plans.lazy()
    per_plan = [
        _per_subscriber(
            rating.rate_records(lazy, plans_lf, home_country=home_country, timezone=timezone, plan_override=plan_id)
        )
        for plan_id in plans["plan_id"].to_list()
    ]
    usage = pl.concat(per_plan).drop("month_date")
    grid = population.select("msisdn").lazy().join(
        plans.lazy().select(pl.col("plan_id"), pl.col("monthly_fee").cast(MONEY)), how="cross"
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
    best = ranked.group_by("msisdn", maintain_order=True).first().select(
        "msisdn", pl.col("plan_id").alias("best_plan"), pl.col("total_cost").alias("best_cost")
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


def exceeded_months(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    window_months: int,
    home_country: str,
    timezone: str,
) -> pl.DataFrame:
    """msisdn -> months_exceeded: months of the window ending at ``month`` in which some
    allowance of the subscriber's own plan ran out (records rated under their plans)."""
    start_at, _ = month_window(add_months(month, 1 - window_months), timezone=timezone)
    _, end_at = month_window(month, timezone=timezone)
    records = rating_input(con, start_at, end_at)
    plans = plans_table(con)
    if records.height == 0 or plans.height == 0:
        return pl.DataFrame(schema={"msisdn": pl.String, "months_exceeded": pl.Int64})
    rated = rating.rate_records(records.lazy(), plans.lazy(), home_country=home_country, timezone=timezone)
    return (
        _per_subscriber(rated)
        .group_by("msisdn")
        .agg(pl.col("exceeded").sum().cast(pl.Int64).alias("months_exceeded"))
        .collect()
    )


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
    opts = options()
    start_at, end_at = month_window(month, timezone=tz)
    current = query(con, "marketing_current_plan", {"start_at": start_at, "end_at": end_at})
    current = current.select(pl.col("msisdn").cast(pl.String), pl.col("current_plan").cast(pl.String))
    plans = plans_table(con)
    records = rating_input(con, start_at, end_at)
    costs = plan_costs(current, records, plans, home_country=home, timezone=tz)
    recs = recommend(costs, current, plans, min_saving=float(opts["min_saving"]))
    exceeded = exceeded_months(
        con, month, window_months=int(opts["upsell_window_months"]), home_country=home, timezone=tz
    )
    ups = upsell(recs, costs, plans, exceeded, min_months=int(opts["upsell_min_months"]))
    log.info(
        "recommendations %s: %d subscribers x %d plans, %d recommendations, %d upsell",
        month, current.height, plans.height, int(recs["is_recommendation"].sum() or 0), ups.height,
    )
    return {"plan_costs": costs, "recommendations": recs, "upsell": ups}
