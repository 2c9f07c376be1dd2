"""The marketing marts: per-subscriber indicators, and the month's segment report.

* :func:`subscriber_indicators`: one row per msisdn with any record in the window: our
  usage indicators, the bandicoot indicators (null for subscribers without calls or
  texts) and, for a month, the allowance use of the subscriber's own plan.
* :func:`segment_report`: for one local month (default: the latest loaded), one row per
  subscriber (indicators, costs, recommendation, segment, map coordinates), one row per
  segment (size, revenue, churn risk, recommendations, profile), the segment x plan
  matrix, the recommendation and upsell lists, and the totals the CLI reports.

``revenue`` of a subscriber = billed usage (``spend``) + the monthly fee of its current plan.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any, TypedDict

import duckdb
import polars as pl

from analytics.calendar import month_bounds
from analytics.config import settings, with_options
from analytics.marketing import recommend, segments, window
from analytics.marketing.indicators import bandicoot_indicators, latest_month
from analytics.marketing.settings import marketing_settings
from analytics.marketing.usage import month_usage, usage_indicators
from analytics.partitioned import Runner, concat

log = logging.getLogger(__name__)

MONEY = pl.Decimal(18, 4)
ALLOWANCE_SCHEMA = pl.Schema(
    {
        "msisdn": pl.String,
        "voice_allowance_use": pl.Float64,
        "sms_allowance_use": pl.Float64,
        "data_allowance_use": pl.Float64,
    }
)
OUT_FIRST = (
    "msisdn",
    "segment",
    "current_plan",
    "recommended_plan",
    "current_cost",
    "recommended_cost",
    "saving",
    "is_recommendation",
)


def allowance_use(con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str, home_country: str) -> pl.DataFrame:
    """Allowance units used / included, per allowance, under each subscriber's own plan."""
    start_at, end_at = month_bounds(month, timezone)
    plans = recommend.plans_table(con)
    if plans.height == 0:
        return pl.DataFrame(schema=ALLOWANCE_SCHEMA)
    per = recommend.allowance_units(con, start_at, end_at, home_country=home_country).lazy()
    out = (
        per.join(plans.lazy().select("plan_id", "incl_voice_min", "incl_sms", "incl_data_mb"), on="plan_id")
        .select(
            "msisdn",
            *[
                pl.when(pl.col(inc) > 0).then(pl.col(k) / pl.col(inc)).alias(f"{k}_allowance_use")
                for k, inc in (("voice", "incl_voice_min"), ("sms", "incl_sms"), ("data", "incl_data_mb"))
            ],
        )
        .group_by("msisdn")
        .agg(pl.all().max())  # a subscriber who changed plan mid-month: the fuller allowance
        .collect()
    )
    return recommend.conform(out, ALLOWANCE_SCHEMA)


def subscriber_indicators(
    con: duckdb.DuckDBPyConnection,
    *,
    month: dt.date | None = None,
    timezone: str | None = None,
    home_country: str | None = None,
    runner: Runner | None = None,
) -> pl.DataFrame:
    """One row per subscriber, sorted by msisdn. ``runner`` (analytics.partitioned): computed
    share by share of the subscribers on a cluster, by the same function."""
    kwargs = {
        "month": month,
        "timezone": timezone or settings().timezone,
        "home_country": (home_country or settings().home_country).upper(),
    }
    if runner is None:
        return indicators_of(con, **kwargs)
    return concat(runner(indicators_of, kwargs), by=["msisdn"])


def indicators_of(
    con: duckdb.DuckDBPyConnection, *, month: dt.date | None, timezone: str, home_country: str
) -> pl.DataFrame:
    """:func:`subscriber_indicators` of the subscribers whose records ``con`` holds."""
    with window.shared():  # the month's facts read once for both
        usage = usage_indicators(con, month=month, timezone=timezone, home_country=home_country)
        bc = bandicoot_indicators(con, month=month, timezone=timezone)
        allowance = (
            allowance_use(con, month, timezone=timezone, home_country=home_country)
            if month
            else pl.DataFrame(schema=ALLOWANCE_SCHEMA)  # allowances are monthly
        )
    out = usage.join(bc, on="msisdn", how="left")
    return out.join(allowance, on="msisdn", how="left").sort("msisdn")


def _segment_table(table: pl.DataFrame, centroids: pl.DataFrame) -> pl.DataFrame:
    total = max(table.height, 1)
    agg = table.group_by("segment_id", "segment").agg(
        pl.len().alias("subscribers"),
        (pl.len() / total).alias("share"),
        pl.col("revenue").sum().cast(MONEY).alias("revenue"),
        pl.col("churn_risk").mean().alias("churn_risk_share"),
        pl.col("usage_change").mean().alias("usage_change_mean"),
        pl.col("is_recommendation").sum().cast(pl.Int64).alias("recommendations"),
        pl.col("saving").filter(pl.col("is_recommendation")).sum().cast(MONEY).alias("estimated_savings"),
        *[
            pl.col(c).mean().alias(f"mean_{c}")
            for c in (
                "voice_minutes",
                "sms",
                "data_mb",
                "night_share",
                "roaming_share",
                "international_share",
                "radius_of_gyration",
                "usage_active_days",
            )
        ],
        pl.col("spend").cast(pl.Float64).mean().alias("mean_spend"),
    )
    return agg.join(centroids.drop("segment"), on="segment_id", how="left").sort("segment_id")


def segment_inputs(
    con: duckdb.DuckDBPyConnection, *, month: dt.date, timezone: str, home_country: str, churn_drop: float
) -> dict[str, pl.DataFrame]:
    """The per-subscriber half of :func:`segment_report` for the subscribers whose records
    ``con`` holds: ``profiles`` (usage, bandicoot indicators, recommendation, revenue) and
    the ``recommendations``, ``upsell`` and ``plan_costs`` frames. A subscriber's rows
    depend on its own records only, so the shares of a cluster run concatenate to the
    one-machine frames (:func:`merge_inputs`)."""
    with window.shared():  # the month's facts read once for the indicators and the plan costs
        usage = month_usage(con, month, timezone=timezone, home_country=home_country, churn_drop=churn_drop)
        bc = bandicoot_indicators(con, month=month, timezone=timezone)
        recs = recommend.month_recommendations(con, month, timezone=timezone, home_country=home_country)
    fees = recommend.plans_table(con)
    fees = fees.select(pl.col("plan_id").alias("current_plan"), pl.col("monthly_fee").cast(MONEY).alias("_fee"))
    profiles = (
        usage.join(bc, on="msisdn", how="left")
        .join(recs["recommendations"], on="msisdn", how="left")
        .join(fees, on="current_plan", how="left")
        .with_columns((pl.col("spend") + pl.col("_fee").fill_null(Decimal("0"))).cast(MONEY).alias("revenue"))
        .drop("_fee")
    )
    return {"profiles": profiles, **recs}


INPUT_ORDER: dict[str, tuple[list[str], list[bool]]] = {  # the canonical order of each frame
    "profiles": (["msisdn"], [False]),
    "recommendations": (["msisdn"], [False]),
    "upsell": (["months_exceeded", "msisdn"], [True, False]),
    "plan_costs": (["msisdn", "plan_id"], [False, False]),
}


def merge_inputs(parts: list[dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """:func:`segment_inputs` results of disjoint subscriber sets as one, in canonical order
    (a single part is only sorted: the one-machine path goes through here too)."""
    return {name: concat([p[name] for p in parts], by=by, descending=desc) for name, (by, desc) in INPUT_ORDER.items()}


class SegmentReport(TypedDict):
    """:func:`segment_report`: what the Segments page reads (and the segment mart stores)."""

    month: dt.date
    subscribers: pl.DataFrame  # one row per subscriber: features, segment, plan costs
    segments: pl.DataFrame  # one row per segment
    matrix: pl.DataFrame  # subscribers per segment x current plan
    recommendations: pl.DataFrame
    upsell: pl.DataFrame
    plan_costs: pl.DataFrame
    totals: dict[str, Any]  # month, subscribers, recommendations, estimated_savings, ... k, silhouette


def segment_report(
    con: duckdb.DuckDBPyConnection,
    *,
    month: dt.date | None = None,
    timezone: str | None = None,
    home_country: str | None = None,
    options: dict | None = None,
    runner: Runner | None = None,
) -> SegmentReport:
    """The month's segment report. The per-subscriber half (:func:`segment_inputs`) runs
    on ``con``, or share by share on a cluster with ``runner`` (analytics.partitioned); the
    k-means and the totals run here over the merged subscribers."""
    tz = timezone or settings().timezone
    home = (home_country or settings().home_country).upper()
    opts = with_options(marketing_settings(), options, where="segment_report options")
    month = month or latest_month(con, timezone=tz)
    if month is None:
        month = dt.date.today().replace(day=1)
    kwargs = {"month": month, "timezone": tz, "home_country": home, "churn_drop": opts.churn_drop}
    parts = runner(segment_inputs, kwargs) if runner is not None else [segment_inputs(con, **kwargs)]
    inputs = merge_inputs(parts)
    profiles, recs = inputs["profiles"], inputs
    assignments, centroids, info = segments.fit_segments(profiles, options=opts)
    table = profiles.join(
        assignments.select("msisdn", "segment_id", "segment", "night_share", "pc1", "pc2"), on="msisdn", how="left"
    )
    table = table.select(*OUT_FIRST, *[c for c in table.columns if c not in OUT_FIRST]).sort("msisdn")
    seg_table = (
        _segment_table(table, centroids)
        if table.height
        else pl.DataFrame(schema={"segment_id": pl.Int64, "segment": pl.String, "subscribers": pl.UInt32})
    )
    matrix = (
        table.group_by("segment", "current_plan").agg(pl.len().alias("subscribers")).sort("segment", "current_plan")
    )
    chosen = recs["recommendations"].filter(pl.col("is_recommendation"))
    totals = {
        "month": month.strftime("%Y-%m"),
        "subscribers": table.height,
        "recommendations": chosen.height,
        "estimated_savings": chosen["saving"].sum() if chosen.height else Decimal("0"),
        "revenue_impact": chosen["revenue_delta"].sum() if chosen.height else Decimal("0"),
        "upsell": recs["upsell"].height,
        "k": info["k"],
        "silhouette": info["silhouette"],
    }
    return {
        "month": month,
        "subscribers": table,
        "segments": seg_table,
        "matrix": matrix,
        "recommendations": recs["recommendations"],
        "upsell": recs["upsell"].join(table.select("msisdn", "segment"), on="msisdn", how="left"),
        "plan_costs": recs["plan_costs"],
        "totals": totals,
    }
