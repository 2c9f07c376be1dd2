"""Bill-shock alerts: subscribers nearing or past an allowance, or spending far above usual.

Output grain: one row per subscriber per alert, where ``alert`` is

* ``allowance_80`` / ``allowance_100``: the subscriber has used at least 80 % / 100 % of an
  included allowance (``kind`` voice, sms or data) this month (only the highest level is listed);
* ``spend_spike``: month-to-date usage spend (billed charge, or the expected charge where the
  source carries none) is at least ``spend_factor`` times the subscriber's usual monthly spend
  (the median billed usage of up to ``history_months`` previous months in ``subscriber_month``)
  and at least ``spend_min_increase`` above it. Subscribers without history get no spend alert.

Thresholds come from ``[billing]`` in analytics.toml (defaults below).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import duckdb
import polars as pl

from analytics import store
from analytics.billing.rated import rated_month
from analytics.config import settings
from analytics.rating import MONEY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillingSettings:
    """``[billing]`` of analytics.toml: bill-shock alerts (docs/billing.md)."""

    shock_levels: tuple[float, ...] = (0.8, 1.0)  # allowance levels, fractions of the included units
    spend_factor: float = 2.0  # month-to-date spend vs the median of previous months
    spend_min_increase: float = 5.0
    history_months: int = 3


ALERT_SCHEMA = {
    "msisdn": pl.String,
    "plan_id": pl.String,
    "alert": pl.String,
    "kind": pl.String,
    "used": pl.Int64,
    "included": pl.Int64,
    "pct_used": pl.Float64,
    "mtd_spend": MONEY,
    "usual_spend": MONEY,
    "spend_ratio": pl.Float64,
}


def options() -> BillingSettings:
    return settings().section("billing", BillingSettings)


def allowance_alerts(rated: pl.DataFrame, plans: pl.DataFrame, *, levels: list[float]) -> pl.DataFrame:
    """Allowance alerts from a month's rated records (one row per subscriber per kind at a level)."""
    low, high = sorted(levels)[0], sorted(levels)[-1]
    incl = plans.select(
        pl.col("plan_id").cast(pl.String),
        pl.col("incl_voice_min").alias("voice"),
        pl.col("incl_sms").alias("sms"),
        pl.col("incl_data_mb").alias("data"),
    ).unpivot(index="plan_id", variable_name="kind", value_name="included")
    used = (
        rated.filter(pl.col("allowance_kind").is_not_null())
        .group_by("msisdn", "plan_id", pl.col("allowance_kind").alias("kind"))
        .agg(pl.col("allowance_used").max().alias("used"), pl.col("billable_units").sum().alias("_needed"))
    )
    return (
        used.join(incl, on=["plan_id", "kind"], how="inner")
        .filter(pl.col("included") > 0)
        .with_columns((pl.col("_needed") / pl.col("included")).alias("pct_used"))
        .filter(pl.col("pct_used") >= low)
        .with_columns(
            pl.when(pl.col("pct_used") >= high)
            .then(pl.lit(f"allowance_{round(high * 100)}"))
            .otherwise(pl.lit(f"allowance_{round(low * 100)}"))
            .alias("alert"),
            pl.col("used").cast(pl.Int64),
            pl.col("included").cast(pl.Int64),
        )
        .drop("_needed")
    )


def spend_alerts(rated: pl.DataFrame, history: pl.DataFrame, *, factor: float, min_increase: float) -> pl.DataFrame:
    """Spend-spike alerts: month-to-date spend vs the median of previous months' billed spend."""
    spend = rated.group_by("msisdn", "plan_id").agg(
        pl.coalesce("charge", "expected_charge").sum().cast(pl.Float64).alias("_mtd")
    )
    usual = history.group_by("msisdn").agg(pl.col("charge").cast(pl.Float64).median().alias("_usual"))
    return (
        spend.join(usual, on="msisdn", how="inner")
        .filter((pl.col("_mtd") >= factor * pl.col("_usual")) & (pl.col("_mtd") - pl.col("_usual") >= min_increase))
        .with_columns(
            pl.lit("spend_spike").alias("alert"),
            (pl.col("_mtd") / pl.col("_usual")).alias("spend_ratio"),
        )
    )


def bill_shock(con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str | None = None) -> pl.DataFrame:
    """The month's bill-shock list (schema :data:`ALERT_SCHEMA`), worst first."""
    opts = options()
    rated = rated_month(con, month, timezone=timezone)
    plans = store.fetch(con, "@plans")
    allowance = allowance_alerts(rated, plans, levels=list(opts.shock_levels))
    history = pl.DataFrame(schema={"msisdn": pl.String, "month_date": pl.Date, "charge": MONEY})
    if store.has_table(con, "subscriber_month"):
        since = month
        for _ in range(opts.history_months):
            since = (since - dt.timedelta(days=1)).replace(day=1)
        history = store.fetch(con, "@billing_spend_history", {"month_date": month, "since_date": since})
    spend = spend_alerts(rated, history, factor=opts.spend_factor, min_increase=opts.spend_min_increase)
    mtd = rated.group_by("msisdn").agg(pl.coalesce("charge", "expected_charge").sum().cast(MONEY).alias("mtd_spend"))
    out = pl.concat(
        [
            allowance.select("msisdn", "plan_id", "alert", "kind", "used", "included", "pct_used"),
            spend.select(
                "msisdn",
                "plan_id",
                "alert",
                pl.lit(None, dtype=pl.String).alias("kind"),
                pl.lit(None, dtype=pl.Int64).alias("used"),
                pl.lit(None, dtype=pl.Int64).alias("included"),
                pl.lit(None, dtype=pl.Float64).alias("pct_used"),
                pl.col("_usual").cast(MONEY).alias("usual_spend"),
                "spend_ratio",
            ),
        ],
        how="diagonal_relaxed",
    )
    if out.height == 0:
        return pl.DataFrame(schema=ALERT_SCHEMA)
    return (
        out.join(mtd, on="msisdn", how="left")
        .select(list(ALERT_SCHEMA))
        .cast(ALERT_SCHEMA)
        .sort(["alert", "pct_used", "spend_ratio", "msisdn"], descending=[False, True, True, False], nulls_last=True)
    )
