"""Traffic trends: series by region / cell / service / direction, previous-period
comparison, the records behind a point and the busy hour per region.

Series by day, week or month split by total, region or service come from the daily cube
``usage_daily_region`` (local day x region x service, a few thousand rows); the hour grain
and the cell and direction splits from ``usage_hourly_cell`` (UTC hour x cell x service x
direction, bucketed in local time). Records come from ``records``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from analytics import store
from analytics.dashboard._query import window

GRAINS = ("hour", "day", "week", "month")
DIMENSIONS = ("total", "region", "cell_id", "service", "direction")
METRICS = {"records": "records", "minutes": "minutes", "data_gb": "GB", "revenue": "currency"}
# the keys of the daily cube: these splits by day, week or month need no hourly rows
_DAILY_DIMENSIONS = ("total", "region", "service")
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def _check(grain: str, by: str) -> None:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {', '.join(GRAINS)}, not {grain!r}")
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}, not {by!r}")


def trend(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    grain: str = "day",
    by: str = "region",
    top: int | None = None,
) -> pl.DataFrame:
    """One row per bucket (local start) per key: records, minutes, data_gb, revenue.

    With ``top`` (for many keys, e.g. cells), the ``top`` keys by records are kept and
    the rest are summed into ``other``.
    """
    _check(grain, by)
    query = "@dashboard_trend_daily" if grain != "hour" and by in _DAILY_DIMENSIONS else "@dashboard_trend"
    df = store.fetch(con, query, {"grain": grain, "dim": by, **window(start, end, regions, services)})
    keys = df.group_by("key").agg(pl.col("records").sum()).sort(["records", "key"], descending=[True, False])
    if top is not None and keys.height > top:
        keep = keys.head(top)["key"]
        df = (
            df.with_columns(
                pl.when(pl.col("key").is_in(keep.implode())).then(pl.col("key")).otherwise(pl.lit("other")).alias("key")
            )
            .group_by("bucket_at", "key")
            .agg(pl.col("records", "minutes", "data_gb", "revenue").sum())
            .sort("bucket_at", "key")
        )
    return df


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The same-length range just before ``start``..``end`` (inclusive local days)."""
    if end < start:
        start, end = end, start
    days = (end - start).days + 1
    prev_end = start - timedelta(days=1)
    return prev_end - timedelta(days=days - 1), prev_end


def previous_period(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    grain: str = "day",
) -> pl.DataFrame:
    """The total series of the period just before the range, one row per bucket, with
    ``bucket_at`` shifted forward by the range length (so it shares the range's x axis)."""
    if end < start:
        start, end = end, start
    prev_start, prev_end = previous_range(start, end)
    days = (end - start).days + 1
    previous = trend(con, prev_start, prev_end, regions, services, grain=grain, by="total")
    return previous.with_columns((pl.col("bucket_at") + pl.duration(days=days)).alias("bucket_at")).drop("key")


def bucket_end(bucket_at: datetime, grain: str) -> datetime:
    """The (exclusive) end of the local bucket that starts at ``bucket_at``."""
    if grain == "month":
        year, month = (bucket_at.year + 1, 1) if bucket_at.month == 12 else (bucket_at.year, bucket_at.month + 1)
        return bucket_at.replace(year=year, month=month, day=1)
    return bucket_at + _STEP[grain]


def records_behind(
    con: duckdb.DuckDBPyConnection,
    bucket_at: datetime,
    grain: str,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    cell: str = "",
    direction: str = "",
    limit: int = 1000,
) -> pl.DataFrame:
    """The records of one bucket (local time), one row per record, oldest first, capped."""
    _check(grain, "total")
    params = window(bucket_at.date(), bucket_at.date(), regions, services)
    return store.fetch(
        con,
        "@dashboard_records",
        {
            "from_local": bucket_at,
            "to_local": bucket_end(bucket_at, grain),
            "cell": cell,
            "direction": direction,
            "limit": limit,
            **params,
        },
    )


def busy_hour(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
) -> pl.DataFrame:
    """One row per region: the local busy hour and its average erlangs over the range."""
    return store.fetch(con, "@dashboard_busy_hour", window(start, end, regions))
