"""Long-format series to forecast, read from the usage cubes.

Output grain: one row per series (``unique_id`` = ``region/metric``) per step ``ds``
with columns ``unique_id, region, metric, ds, y``.

* daily: ``ds`` is the local calendar day (midnight, naive) of ``usage_daily_region``;
  each region's calendar runs from its first day with traffic to the last day of the
  loaded data. A region-day without any row (no service at all) is a gap (``y`` null);
  a region-day with rows but none of a metric's services is a real 0.
* hourly: ``ds`` is the UTC hour of ``usage_hourly_cell``, over the last
  ``history_days``; an hour without rows is 0 when the region has traffic that UTC day
  and a gap otherwise.
* A region without any traffic (only in the cell reference) is a series of zeros over
  the whole range: it gets the fallback with its reason, never an error.

``busy_hour_erlangs`` (daily, for the capacity outlook) is the local day's highest
hourly offered load of the region, from the hourly cube.
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import polars as pl

from analytics import store

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("records", "voice_minutes", "sms", "data_gb")
CAPACITY_METRIC_DAILY = "busy_hour_erlangs"
CAPACITY_METRIC_HOURLY = "erlangs"
SCHEMA = {"unique_id": pl.String, "region": pl.String, "metric": pl.String, "ds": pl.Datetime("us"), "y": pl.Float64}


def unique_id(region: str, metric: str) -> str:
    return f"{region}/{metric}"


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def regions(con: duckdb.DuckDBPyConnection) -> list[str]:
    return store.fetch(con, "@forecast_regions")["region"].to_list()


def bounds(con: duckdb.DuckDBPyConnection) -> dict:
    return store.fetch(con, "@forecast_bounds").row(0, named=True)


def _to_long(wide: pl.LazyFrame, metrics: tuple[str, ...]) -> pl.LazyFrame:
    return (
        wide.unpivot(index=["region", "ds", "has_rows"], on=list(metrics), variable_name="metric", value_name="y")
        .with_columns(
            y=pl.when(pl.col("has_rows")).then(pl.col("y").fill_null(0.0)).otherwise(None),
            unique_id=pl.col("region") + "/" + pl.col("metric"),
        )
        .select(list(SCHEMA))
        .sort("unique_id", "ds")
    )


def _calendar(
    observed: pl.DataFrame, all_regions: list[str], *, start: dt.datetime, end: dt.datetime, every: str
) -> pl.LazyFrame:
    """Every region's steps from its first observation (or ``start``) to ``end``."""
    firsts = observed.group_by("region").agg(first=pl.col("ds").min())
    frame = pl.DataFrame({"region": all_regions}, schema={"region": pl.String}).join(firsts, on="region", how="left")
    return (
        frame.lazy()
        .with_columns(first=pl.col("first").fill_null(start))
        .with_columns(ds=pl.datetime_ranges(pl.col("first"), pl.lit(end), interval=every))
        .explode("ds")
        .select("region", pl.col("ds").cast(pl.Datetime("us")))
    )


def daily_series(con: duckdb.DuckDBPyConnection, *, timezone: str = "UTC") -> pl.DataFrame:
    """Daily long-format series of the four metrics plus ``busy_hour_erlangs`` per region."""
    b = bounds(con)
    if b["last_day"] is None:
        return empty()
    start = dt.datetime.combine(b["first_day"], dt.time())
    end = dt.datetime.combine(b["last_day"], dt.time())
    observed = store.fetch(con, "@forecast_daily_series").with_columns(
        ds=pl.col("day_date").cast(pl.Datetime("us")), has_rows=pl.lit(True)
    )
    busy = _busy_hour(con, timezone=timezone, since=start - dt.timedelta(days=1))
    cal = _calendar(observed, regions(con), start=start, end=end, every="1d")
    wide = (
        cal.join(observed.lazy().drop("day_date"), on=["region", "ds"], how="left")
        .join(busy.lazy(), on=["region", "ds"], how="left")
        .with_columns(
            has_rows=pl.col("has_rows").fill_null(False)
            | ~pl.col("region").is_in(observed["region"].unique().implode()),
            busy_hour_erlangs=pl.col(CAPACITY_METRIC_DAILY).fill_null(0.0),
        )
    )
    return _to_long(wide, (*METRICS, CAPACITY_METRIC_DAILY)).collect()


def _hourly_observed(con: duckdb.DuckDBPyConnection, since: dt.datetime) -> pl.DataFrame:
    return store.fetch(con, "@forecast_hourly_series", {"since": since}).with_columns(
        ds=pl.col("hour_at").cast(pl.Datetime("us"))
    )


def _busy_hour(con: duckdb.DuckDBPyConnection, *, timezone: str, since: dt.datetime) -> pl.DataFrame:
    """One row per region per local day: the day's highest hourly Erlang load."""
    hourly = _hourly_observed(con, since)
    return (
        hourly.lazy()
        .with_columns(
            ds=pl.col("ds").dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date().cast(pl.Datetime("us"))
        )
        .group_by("region", "ds")
        .agg(busy_hour_erlangs=pl.col("erlangs").max())
        .collect()
    )


def hourly_series(con: duckdb.DuckDBPyConnection, *, history_days: int = 56) -> pl.DataFrame:
    """Hourly long-format series of the four metrics plus ``erlangs`` per region (UTC hours)."""
    b = bounds(con)
    if b["last_hour"] is None:
        return empty()
    end = b["last_hour"]
    start = max(b["first_hour"], end - dt.timedelta(days=history_days) + dt.timedelta(hours=1))
    observed = _hourly_observed(con, start)
    days_with_rows = observed.select("region", day=pl.col("ds").dt.date()).unique().with_columns(has_rows=pl.lit(True))
    cal = _calendar(observed, regions(con), start=start, end=end, every="1h")
    wide = (
        cal.with_columns(day=pl.col("ds").dt.date())
        .join(days_with_rows.lazy(), on=["region", "day"], how="left")
        .join(observed.lazy().drop("hour_at"), on=["region", "ds"], how="left")
        .with_columns(
            has_rows=pl.col("has_rows").fill_null(False)
            | ~pl.col("region").is_in(observed["region"].unique().implode())
        )
    )
    return _to_long(wide, (*METRICS, CAPACITY_METRIC_HOURLY)).collect()


def cell_erlangs(con: duckdb.DuckDBPyConnection, *, since: dt.datetime) -> pl.DataFrame:
    """One row per UTC hour per cell with traffic: ``hour_at, region, cell_id, erlangs, capacity_erlangs``."""
    return store.fetch(con, "@forecast_cell_erlangs", {"since": since})
