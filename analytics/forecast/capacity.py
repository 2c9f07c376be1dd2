"""Capacity outlook: busy-hour Erlangs, Erlang B blocking and exhaustion dates.

Definitions (see docs/forecast.md):

* Offered load of an hour = connected seconds of voice, voip and video in that hour /
  3600 (Erlangs). The busy hour of a local day is its highest hourly load.
* ``cells.capacity_erlangs`` (``[forecast] capacity_model``):
  ``erlangs`` (default) - the busy-hour load the cell is engineered to carry at the
  grade of service (the blocking threshold); its channels (servers / trunks) are the
  fewest that carry it at that blocking by Erlang B. Utilisation = load /
  capacity_erlangs. ``servers`` - the number of channels itself,
  ``floor(capacity_erlangs)``; utilisation = load / channels.
  Blocking = Erlang B(load, channels). A region pools its cells' capacity and
  channels (a lower bound on its blocking: calls cannot really move between cells).
* Region busy hours come from the stored forecasts: the hourly ``erlangs`` forecast
  (daily maximum, ``source = hourly``) where it exists, else the daily
  ``busy_hour_erlangs`` forecast (``source = daily``, longer horizon).
* A cell's busy hour = region busy hour x the cell's mean ratio of its own daily busy
  hour to its region's over the last ``ratio_days`` observed days (top-down split that
  keeps cells whose peak is not the region's peak).
* Exhaustion date = first forecast day where utilisation >= the utilisation threshold
  or blocking >= the blocking threshold; days to exhaustion count from the data cut-off,
  months to exhaustion = days / 30.4375 (a mean month).
* Grade of service (GoS) = the blocking threshold: ``first_blocking_date`` is the first day
  it is broken, ``channels_needed`` the fewest channels that hold it at the forecast peak
  (Erlang B inverse, :func:`channels_for`).
* Busy-hour data volume: a cell's (or region's) highest hourly data GB of a local day, as a
  share of its region's daily data GB (mean over the last ``ratio_days`` days with traffic),
  times the region's daily ``data_gb`` forecast (top-down like the Erlangs).
"""

from __future__ import annotations

import datetime as dt
import logging
import math

import duckdb
import polars as pl

from analytics import store
from analytics.forecast import persist, series

log = logging.getLogger(__name__)

DAYS_PER_MONTH = 365.25 / 12  # months to exhaustion = days / a mean month


def erlang_b(traffic: float, servers: int | None) -> float | None:
    """Blocking probability of ``traffic`` Erlangs offered to ``servers`` channels (Erlang B recursion)."""
    if servers is None or traffic is None or math.isnan(traffic):
        return None
    if traffic <= 0:
        return 0.0
    b = 1.0
    for n in range(1, int(servers) + 1):
        b = traffic * b / (n + traffic * b)
    return b


def channels_for(traffic: float, *, blocking: float) -> int:
    """The fewest channels that carry ``traffic`` Erlangs at no more than ``blocking`` (Erlang B)."""
    if traffic <= 0:
        return 0
    n, b = 0, 1.0
    while b > blocking:
        n += 1
        b = traffic * b / (n + traffic * b)
    return n


def servers_of(capacity_erlangs: float | None, *, mode: str = "servers", blocking: float = 0.02) -> int | None:
    """Channels behind ``capacity_erlangs``: floor of it (``servers``) or dimensioned at the grade of service (``erlangs``)."""
    if capacity_erlangs is None or math.isnan(capacity_erlangs) or capacity_erlangs < 0:
        return None
    if mode == "erlangs":
        return channels_for(capacity_erlangs, blocking=blocking)
    if mode != "servers":
        raise ValueError(f"[forecast] capacity_model must be 'erlangs' or 'servers', not {mode!r}")
    return int(math.floor(capacity_erlangs))


def _local_day(col: str, timezone: str) -> pl.Expr:
    return pl.col(col).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date()


def region_busy_hours(con: duckdb.DuckDBPyConnection, *, timezone: str) -> pl.DataFrame:
    """One row per region per forecast day: ``region, day_date, busy_hour_erlangs, source``."""
    hourly = persist.read_values(con, "hourly").filter(pl.col("metric") == series.CAPACITY_METRIC_HOURLY)
    daily = persist.read_values(con, "daily").filter(pl.col("metric") == series.CAPACITY_METRIC_DAILY)
    from_hourly = (
        hourly.with_columns(day_date=_local_day("ds", timezone))
        .group_by("region", "day_date")
        .agg(busy_hour_erlangs=pl.col("yhat").max(), hours=pl.len())
        .filter(pl.col("hours") >= 24)  # whole local days only
        .drop("hours")
        .with_columns(source=pl.lit("hourly"))
    )
    from_daily = daily.select(
        "region", day_date=pl.col("ds").dt.date(), busy_hour_erlangs=pl.col("yhat"), source=pl.lit("daily")
    ).join(from_hourly.select("region", "day_date"), on=["region", "day_date"], how="anti")
    return pl.concat([from_hourly, from_daily], how="vertical_relaxed").sort("region", "day_date")


def cell_ratios(con: duckdb.DuckDBPyConnection, *, timezone: str, since: dt.datetime) -> pl.DataFrame:
    """One row per cell with traffic: ``cell_id, region, ratio`` (mean cell / region daily busy hour)."""
    load = series.cell_erlangs(con, since=since)
    if load.is_empty():
        return pl.DataFrame(schema={"cell_id": pl.String, "region": pl.String, "ratio": pl.Float64})
    load = load.with_columns(day_date=_local_day("hour_at", timezone))
    cell_bh = load.group_by("cell_id", "region", "day_date").agg(cell_bh=pl.col("erlangs").max())
    region_bh = (
        load.group_by("region", "hour_at", "day_date")
        .agg(pl.col("erlangs").sum())
        .group_by("region", "day_date")
        .agg(region_bh=pl.col("erlangs").max())
    )
    return (
        cell_bh.join(region_bh, on=["region", "day_date"])
        .filter(pl.col("region_bh") > 0)
        .group_by("cell_id", "region")
        .agg(ratio=(pl.col("cell_bh") / pl.col("region_bh")).mean())
    )


def data_busy_hours(
    con: duckdb.DuckDBPyConnection, *, timezone: str, since: dt.datetime, now_since: dt.datetime
) -> pl.DataFrame:
    """One row per region (``cell_id`` '') and per cell with data traffic since ``since``:
    ``region, cell_id, data_ratio, busy_hour_data_gb_now``.

    ``data_ratio`` = mean over local days of (the busiest hour's data GB / the region's data GB
    that day); the local day of ``since`` is left out (the window starts in it: a part day).
    ``busy_hour_data_gb_now`` = the busiest hour's data GB since ``now_since``.
    """
    schema = {"region": pl.String, "cell_id": pl.String, "data_ratio": pl.Float64, "busy_hour_data_gb_now": pl.Float64}
    load = store.fetch(con, "@forecast_cell_data", {"since": since})
    if load.is_empty():
        return pl.DataFrame(schema=schema)
    since_day = pl.lit(since, pl.Datetime("us")).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date()
    load = load.with_columns(day_date=_local_day("hour_at", timezone)).filter(pl.col("day_date") > since_day)
    region_hour = (
        load.group_by("region", "hour_at", "day_date").agg(pl.col("data_gb").sum()).with_columns(cell_id=pl.lit(""))
    )
    region_day = region_hour.group_by("region", "day_date").agg(day_gb=pl.col("data_gb").sum())
    hours = pl.concat(
        [
            region_hour.select("region", "cell_id", "hour_at", "day_date", "data_gb"),
            load.filter(pl.col("cell_id") != "").select("region", "cell_id", "hour_at", "day_date", "data_gb"),
        ]
    )
    return (
        hours.group_by("region", "cell_id", "day_date")
        .agg(bh_gb=pl.col("data_gb").max(), bh_now=pl.col("data_gb").filter(pl.col("hour_at") >= now_since).max())
        .join(region_day, on=["region", "day_date"])
        .group_by("region", "cell_id")
        .agg(
            data_ratio=(pl.col("bh_gb") / pl.col("day_gb")).filter(pl.col("day_gb") > 0).mean(),
            busy_hour_data_gb_now=pl.col("bh_now").max(),
        )
        .select(list(schema))
    )


def region_daily_data(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per region per forecast day: ``region, day_date, day_data_gb`` (the daily ``data_gb`` forecast)."""
    daily = persist.read_values(con, "daily").filter(pl.col("metric") == "data_gb")
    return daily.select("region", day_date=pl.col("ds").dt.date(), day_data_gb=pl.col("yhat"))


def _judge(frame: pl.DataFrame, *, utilisation: float, blocking: float) -> pl.DataFrame:
    """Add utilisation, Erlang B blocking and the over-threshold flag to daily busy hours."""
    return frame.with_columns(
        utilisation=pl.when(pl.col("capacity") > 0).then(pl.col("busy_hour_erlangs") / pl.col("capacity")),
        blocking=pl.struct("busy_hour_erlangs", "servers").map_elements(
            lambda r: erlang_b(r["busy_hour_erlangs"], r["servers"]), return_dtype=pl.Float64
        ),
    ).with_columns(
        over=(pl.col("utilisation") >= utilisation).fill_null(False) | (pl.col("blocking") >= blocking).fill_null(False)
    )


def outlook(
    con: duckdb.DuckDBPyConnection,
    *,
    timezone: str,
    utilisation: float = 0.8,
    blocking: float = 0.02,
    ratio_days: int = 28,
    capacity_model: str = "erlangs",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(capacity_outlook rows, capacity_daily rows) from the stored forecasts and the cells' capacity."""
    b = series.bounds(con)
    bh = region_busy_hours(con, timezone=timezone)
    if b["last_hour"] is None or bh.is_empty():
        return persist.read_capacity(con).clear(), pl.DataFrame()
    cutoff = b["last_day"]
    cells = (
        store.fetch(con, "@forecast_cells")
        .with_columns(
            servers=pl.col("capacity_erlangs").map_elements(
                lambda c: servers_of(c, mode=capacity_model, blocking=blocking), return_dtype=pl.Int64
            )
        )
        .with_columns(
            # the load that counts as 100 % utilisation
            capacity=pl.col("capacity_erlangs") if capacity_model == "erlangs" else pl.col("servers").cast(pl.Float64)
        )
    )
    ratios = cell_ratios(con, timezone=timezone, since=b["last_hour"] - dt.timedelta(days=ratio_days))
    region_servers = cells.group_by("region").agg(
        servers=pl.col("servers").sum().cast(pl.Int64), capacity=pl.col("capacity").sum()
    )
    region_daily = bh.join(region_servers, on="region", how="left").with_columns(
        level=pl.lit("region"), cell_id=pl.lit("")
    )
    cell_daily = (
        cells.join(ratios.select("cell_id", "ratio"), on="cell_id", how="left")
        .join(bh, on="region", how="inner")
        .with_columns(
            busy_hour_erlangs=pl.col("busy_hour_erlangs") * pl.col("ratio").fill_null(0.0), level=pl.lit("cell")
        )
    )
    cols = ["level", "region", "cell_id", "day_date", "busy_hour_erlangs", "servers", "capacity", "source"]
    data = data_busy_hours(
        con,
        timezone=timezone,
        since=b["last_hour"] - dt.timedelta(days=ratio_days),
        now_since=b["last_hour"] - dt.timedelta(days=7),
    )
    daily = _judge(
        pl.concat([region_daily.select(cols), cell_daily.select(cols)], how="vertical_relaxed"),
        utilisation=utilisation,
        blocking=blocking,
    )
    daily = (
        daily.join(data.select("region", "cell_id", "data_ratio"), on=["region", "cell_id"], how="left")
        .join(region_daily_data(con), on=["region", "day_date"], how="left")
        .with_columns(busy_hour_data_gb=pl.col("day_data_gb") * pl.col("data_ratio"))
        .drop("data_ratio", "day_data_gb")
    )
    first = lambda flag: pl.col("day_date").filter(flag).min()  # noqa: E731
    summary = (
        daily.group_by("level", "region", "cell_id")
        .agg(
            servers=pl.col("servers").first(),
            capacity_erlangs=pl.col("capacity").first(),
            busy_hour_erlangs_peak=pl.col("busy_hour_erlangs").max(),
            peak_date=pl.col("day_date").sort_by("busy_hour_erlangs", descending=True).first(),
            utilisation_peak=pl.col("utilisation").max(),
            blocking_peak=pl.col("blocking").max(),
            first_utilisation_date=first(pl.col("utilisation") >= utilisation),
            first_blocking_date=first(pl.col("blocking") >= blocking),
            exhaustion_date=first(pl.col("over")),
            busy_hour_data_gb_peak=pl.col("busy_hour_data_gb").max(),
        )
        .with_columns(
            channels_needed=pl.col("busy_hour_erlangs_peak")
            .map_elements(lambda a: channels_for(a, blocking=blocking), return_dtype=pl.Int64)
            .cast(pl.Int32),
        )
    )
    observed_now = _observed_now(con, timezone=timezone, since=b["last_hour"] - dt.timedelta(days=7))
    summary = (
        summary.join(observed_now, on=["level", "region", "cell_id"], how="left")
        .join(data.select("region", "cell_id", "busy_hour_data_gb_now"), on=["region", "cell_id"], how="left")
        .with_columns(
            days_to_exhaustion=(pl.col("exhaustion_date") - pl.lit(cutoff)).dt.total_days().cast(pl.Int32),
        )
        .with_columns(
            months_to_exhaustion=(pl.col("days_to_exhaustion") / DAYS_PER_MONTH).round(1),
            data_cutoff=pl.lit(cutoff),
            computed_at=pl.lit(dt.datetime.now(dt.UTC).replace(tzinfo=None)),
        )
        .sort("days_to_exhaustion", "utilisation_peak", nulls_last=True, descending=[False, True])
    )
    return summary, daily.drop("servers", "capacity", "over")


def _observed_now(con: duckdb.DuckDBPyConnection, *, timezone: str, since: dt.datetime) -> pl.DataFrame:
    """Highest observed busy hour of the last 7 days, per region (cell_id '') and per cell."""
    load = series.cell_erlangs(con, since=since)
    schema = {"level": pl.String, "region": pl.String, "cell_id": pl.String, "busy_hour_erlangs_now": pl.Float64}
    if load.is_empty():
        return pl.DataFrame(schema=schema)
    cell = (
        load.group_by("region", "cell_id")
        .agg(busy_hour_erlangs_now=pl.col("erlangs").max())
        .with_columns(level=pl.lit("cell"))
    )
    region = (
        load.group_by("region", "hour_at")
        .agg(pl.col("erlangs").sum())
        .group_by("region")
        .agg(busy_hour_erlangs_now=pl.col("erlangs").max())
        .with_columns(level=pl.lit("region"), cell_id=pl.lit(""))
    )
    return pl.concat([cell.select(list(schema)), region.select(list(schema))])
