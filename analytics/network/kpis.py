"""Network quality KPIs per cell and hour, and the worst-cells ranking over a period.

The KPIs are the live monitor's (analytics.live.kpis, docs/live.md), computed from the
counts of the mart ``quality_hourly_cell`` (one row per UTC hour x region x cell):

* ``call_attempts``: outgoing voice records;
* ``asr``: connected / attempts (connected = answered or dropped);
* ``ner``: (connected + no_answer + busy) / attempts;
* ``dropped_call_rate``: dropped / connected;
* ``short_call_ratio`` (this module's own): connected calls shorter than ``[network]
  short_call_s`` (10 s) / connected. Many very short connected calls are the mark of
  one-way audio or calls cut right after set-up that the network did not flag as dropped.

Ratios are null when their denominator is 0. A period's KPI is computed from the
period's summed counts (never an average of hourly ratios).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from analytics import store
from analytics.config import settings, with_options
from analytics.live.kpis import kpi_exprs

ADDITIVE = (
    "records",
    "attempts",
    "connected",
    "reached_unanswered",
    "failed",
    "dropped",
    "connected_s",
    "short_calls",
    "sms",
    "data_sessions",
    "data_bytes",
)
QUALITY_KPIS: tuple[str, ...] = ("call_attempts", "asr", "ner", "dropped_call_rate", "short_call_ratio")
# rank KPI -> True when a higher value is worse
WORSE_HIGH: dict[str, bool] = {"dropped_call_rate": True, "short_call_ratio": True, "asr": False, "ner": False}


@dataclass(frozen=True)
class NetworkSettings:
    """``[network]`` of analytics.toml (docs/network.md)."""

    short_call_s: int = 10  # a connected call shorter than this is a short call
    min_period_attempts: int = 30  # cells with fewer outgoing calls in the period are not ranked
    worst_limit: int = 20  # rows of the worst-cells table


def options(overrides: Mapping[str, Any] | None = None) -> NetworkSettings:
    """The ``[network]`` options of analytics.toml over the code defaults (then ``overrides``)."""
    return with_options(settings().section("network", NetworkSettings), overrides)


def short_call_ratio() -> pl.Expr:
    return pl.when(pl.col("connected") > 0).then(pl.col("short_calls") / pl.col("connected")).otherwise(None)


def quality_exprs() -> dict[str, pl.Expr]:
    """Each quality KPI as an expression over the mart's count columns."""
    live = kpi_exprs()
    return {**{k: live[k] for k in QUALITY_KPIS if k in live}, "short_call_ratio": short_call_ratio()}


def with_kpis(counts: pl.LazyFrame) -> pl.LazyFrame:
    """``counts`` (any grain holding the mart's count columns) with one column per KPI."""
    return counts.with_columns(**quality_exprs())


def summed(counts: pl.LazyFrame, *, by: Sequence[str]) -> pl.LazyFrame:
    """The additive counts summed per ``by`` (a region, a day, a period)."""
    return counts.group_by(list(by)).agg(pl.col(c).sum() for c in ADDITIVE)


def period_bounds(start: dt.date, end: dt.date, *, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """UTC-naive [from, to) instants of the local days ``start``..``end`` (inclusive)."""
    zone = ZoneInfo(timezone)

    def at(d: dt.date) -> dt.datetime:
        return dt.datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)

    return at(start), at(end + dt.timedelta(days=1))


def hours(
    con: duckdb.DuckDBPyConnection, *, from_at: dt.datetime, to_at: dt.datetime, regions: Sequence[str] = ()
) -> pl.DataFrame:
    """The mart's rows of the UTC hours in [from_at, to_at) (empty when the mart is missing)."""
    if not store.has_table(con, "quality_hourly_cell"):
        return pl.DataFrame(
            schema={
                "hour_at": pl.Datetime("us"),
                "region": pl.String,
                "cell_id": pl.String,
                **{c: pl.Int64 for c in ADDITIVE},
            }
        )
    return store.fetch(con, "@network_hours", {"from_at": from_at, "to_at": to_at, "regions": list(regions)})


def local_day(column: str = "hour_at", *, timezone: str) -> pl.Expr:
    return pl.col(column).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date()


def _slope(y: str) -> pl.Expr:
    """Least-squares slope of ``y`` per day over the day index ``_x`` (nulls left out)."""
    ok = pl.col(y).is_not_null()
    x = pl.col("_x").filter(ok).cast(pl.Float64)
    v = pl.col(y).filter(ok)
    den = ((x - x.mean()) ** 2).sum()
    return pl.when(den > 0).then(((x - x.mean()) * (v - v.mean())).sum() / den).otherwise(None)


def rank_cells(
    hourly: pl.LazyFrame,
    *,
    rank_by: str = "dropped_call_rate",
    min_attempts: int = NetworkSettings.min_period_attempts,
    limit: int = NetworkSettings.worst_limit,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """The worst cells of the hours in ``hourly``: one row per cell, worst first.

    Columns: region, cell_id, the period's counts and KPIs, ``trend`` (the rank KPI per
    local day, oldest first, null on a day without calls), ``trend_per_day`` (its
    least-squares slope per day: > 0 rising). Cells with fewer than ``min_attempts``
    outgoing calls in the period are not ranked; ties go to the busier cell."""
    if rank_by not in WORSE_HIGH:
        raise ValueError(f"unknown rank KPI {rank_by!r}; one of {', '.join(WORSE_HIGH)}")
    cells = hourly.filter(pl.col("cell_id") != "")
    period = with_kpis(summed(cells, by=["region", "cell_id"])).filter(pl.col("attempts") >= min_attempts)
    daily = (
        with_kpis(
            summed(cells.with_columns(day_date=local_day(timezone=timezone)), by=["region", "cell_id", "day_date"])
        )
        .with_columns(_x=(pl.col("day_date") - pl.col("day_date").min()).dt.total_days())
        .sort("day_date")
        .group_by("region", "cell_id")
        .agg(trend=pl.col(rank_by), trend_per_day=_slope(rank_by))
    )
    worst_first = WORSE_HIGH[rank_by]
    return (
        period.join(daily, on=["region", "cell_id"], how="left")
        .sort([rank_by, "attempts", "cell_id"], descending=[worst_first, True, False], nulls_last=True)
        .head(limit)
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
        .select(
            "rank",
            "region",
            "cell_id",
            *QUALITY_KPIS,
            "connected",
            "dropped",
            "failed",
            "short_calls",
            "trend",
            "trend_per_day",
        )
        .collect()
    )


def worst_cells(
    con: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    regions: Sequence[str] = (),
    *,
    rank_by: str = "dropped_call_rate",
    limit: int | None = None,
) -> pl.DataFrame:
    """:func:`rank_cells` over the local days ``start``..``end`` (inclusive) of the mart."""
    opts = options()
    tz = settings().timezone
    from_at, to_at = period_bounds(start, end, timezone=tz)
    rows = hours(con, from_at=from_at, to_at=to_at, regions=regions)
    return rank_cells(
        rows.lazy(),
        rank_by=rank_by,
        min_attempts=opts.min_period_attempts,
        limit=int(limit or opts.worst_limit),
        timezone=tz,
    )


def cell_trend(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date, cell_id: str) -> pl.DataFrame:
    """One cell's hours in the period, with its KPIs: one row per UTC hour (hours without
    any record of the cell are absent)."""
    from_at, to_at = period_bounds(start, end, timezone=settings().timezone)
    rows = hours(con, from_at=from_at, to_at=to_at).filter(pl.col("cell_id") == cell_id)
    return (
        with_kpis(rows.lazy())
        .select("hour_at", "region", "cell_id", *QUALITY_KPIS, "attempts", "connected", "dropped", "short_calls")
        .sort("hour_at")
        .collect()
    )
