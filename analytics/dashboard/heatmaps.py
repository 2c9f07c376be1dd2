"""Demand heatmaps and the cell map, with small groups suppressed (k-anonymity).

A group (heatmap cell, map cell) with fewer than ``settings().k_anonymity`` distinct
subscribers has every figure blanked and ``suppressed = true``, in the view and in
any export built from these frames.

Traffic comes from the cubes (``usage_hourly_cell``, ``usage_daily_region``), not from
``records``: at 10 million records a scan with exact distinct counts costs seconds. The
cubes' subscriber counts are exact per cube row but not additive, so each group gets
``subscribers_at_least`` (the largest count of one of its cube rows, a lower bound).
With many cells (dense data: 600 cells carry a few subscribers per hour each) that bound is
under k almost everywhere, so a second, internal bound comes first: the distinct subscribers
of a slice of the records (those up to a msisdn ``cut``, the largest of the range's first
``SLICE_ROWS`` records; record files are sorted by msisdn, so the slice is a row group or so
per month file). A count over a subset of subscribers never exceeds the group's count.
``subscribers`` (exact distinct msisdn, counted from ``records``) is computed only when
asked for (``exact=True``, the page's "Distinct subscribers" measure) or when some group's
bounds are both under k, so that the decision to suppress is always exact; otherwise it is
null. A group is small when ``coalesce(subscribers, greatest(subscribers_at_least, slice
bound)) < k``.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from analytics import store
from analytics.config import settings
from analytics.dashboard._query import suppress, window

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


VALUES = ["records", "subscribers", "subscribers_at_least", "minutes", "data_gb"]
# records read for the slice bound: enough for hundreds of subscribers per group on dense data
SLICE_ROWS = 20_000


def _slice_cut(con: duckdb.DuckDBPyConnection, params: dict) -> str | None:
    """The msisdn up to which the slice bound counts (None: the range has no records)."""
    return store.fetch(con, "@dashboard_subscriber_cut", {"rows": SLICE_ROWS, **params}).item()


def _raise_bound(df: pl.DataFrame, counted: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``df`` with ``_at_least`` raised to the slice's ``subscribers`` per group (both lower bounds)."""
    return (
        df.join(counted.select(*keys, pl.col("subscribers").alias("_slice")), on=keys, how="left")
        .with_columns(pl.max_horizontal("_at_least", "_slice").alias("_at_least"))
        .drop("_slice")
    )


def _with_exact(
    con: duckdb.DuckDBPyConnection,
    df: pl.DataFrame,
    exact_query: str,
    keys: list[str],
    params: dict,
    *,
    k: int,
    exact: bool,
) -> pl.DataFrame:
    """``df`` with exact ``subscribers`` from ``exact_query`` when asked or needed, suppressed."""
    if "subscribers" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.Int64).alias("subscribers"))
    df = df.with_columns(pl.col("subscribers_at_least").alias("_at_least"))
    undecided = pl.col("subscribers").is_null() & (pl.col("_at_least") < k)
    if not exact and df.filter(undecided).height:
        bound = store.fetch(con, f"@dashboard_{exact_query}", {**params, "cut": _slice_cut(con, params)})
        df = _raise_bound(df, bound, keys)
    if exact or df.filter(undecided).height:
        counted = store.fetch(con, f"@dashboard_{exact_query}", {**params, "cut": None}).select(
            *keys, pl.col("subscribers").alias("_exact")
        )
        df = (
            df.join(counted, on=keys, how="left")
            .with_columns(pl.coalesce("_exact", "subscribers").alias("subscribers"))
            .drop("_exact")
        )
    count = pl.coalesce("subscribers", "_at_least")
    df = df.select(*keys, *VALUES, *[c for c in df.columns if c not in keys and c not in VALUES])
    return suppress(df.with_columns(count.alias("_count")), k=k, count_col="_count", value_cols=VALUES).drop(
        "_count", "_at_least"
    )


def hour_weekday(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    k: int | None = None,
    exact: bool = False,
) -> pl.DataFrame:
    """One row per ISO weekday (1 = Monday) x local hour that has records; suppressed.

    From the hourly cube (UTC hours bucketed in local time, as the traffic trends are).
    """
    k = settings().k_anonymity if k is None else k
    params = window(start, end, regions, services)
    df = store.fetch(con, "@dashboard_heat_hour_weekday_cube", params)
    return _with_exact(con, df, "heat_hour_weekday", ["weekday", "hour"], params, k=k, exact=exact).with_columns(
        pl.col("weekday")
        .replace_strict(list(range(1, 8)), list(WEEKDAYS), return_dtype=pl.String)
        .alias("weekday_name")
    )


def region_day(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    k: int | None = None,
    exact: bool = False,
) -> pl.DataFrame:
    """One row per region x local day that has records; suppressed.

    From the daily cube; a region-day with one service has its exact count there.
    """
    k = settings().k_anonymity if k is None else k
    params = window(start, end, regions, services)
    df = (
        store.fetch(con, "@dashboard_heat_region_day_cube", params)
        .with_columns(pl.when(pl.col("services") == 1).then(pl.col("subscribers_at_least")).alias("subscribers"))
        .drop("services")
    )
    return _with_exact(con, df, "heat_region_day", ["region", "day_date"], params, k=k, exact=exact)


def cell_map(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    k: int | None = None,
    exact: bool = False,
) -> pl.DataFrame:
    """One row per reference cell: position, traffic and busy-hour load; suppressed.

    ``busy_hour_load`` is the highest hourly erlangs over ``capacity_erlangs`` (null
    when the cell has no capacity). A cell with no records shows zeros, not suppression.
    Exact ``subscribers`` are counted from records for the cells whose lower bound is
    under k (or for every cell with ``exact``); null for the others.
    """
    k = settings().k_anonymity if k is None else k
    params = window(start, end, regions, services)
    df = store.fetch(con, "@dashboard_cell_map", params)
    at_least = df.select("cell_id", pl.col("subscribers_at_least").alias("_at_least"))
    ask = df.filter((pl.col("records") > 0) & (pl.lit(exact) | (pl.col("subscribers_at_least") < k)))["cell_id"]
    if not exact and ask.len():  # the slice bound first (see the module docstring)
        at_least = _raise_bound(at_least, _cell_subscribers(con, ask, params, cut=_slice_cut(con, params)), ["cell_id"])
        ask = ask.filter(ask.is_in(at_least.filter(pl.col("_at_least") < k)["cell_id"].implode()))
    counted = _cell_subscribers(con, ask, params, cut=None)
    df = (
        df.join(counted, on="cell_id", how="left")
        .join(at_least, on="cell_id", how="left")
        .with_columns(pl.when(pl.col("records") == 0).then(0).otherwise(pl.col("subscribers")).alias("subscribers"))
    )
    count = pl.coalesce("subscribers", "_at_least")
    small = (count > 0) & (count < k)
    values = [
        "records",
        "subscribers",
        "subscribers_at_least",
        "minutes",
        "data_gb",
        "busy_hour_erlangs",
        "busy_hour_load",
    ]
    return df.with_columns(
        *[pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in values],
        small.alias("suppressed"),
    ).drop("_at_least")


def _cell_subscribers(con: duckdb.DuckDBPyConnection, cells: pl.Series, params: dict, *, cut: str | None):
    """Distinct subscribers of ``cells`` from records: exact, or of the slice up to ``cut``."""
    if not cells.len():
        return pl.DataFrame(schema={"cell_id": pl.String, "subscribers": pl.Int64})
    return store.fetch(con, "@dashboard_cell_subscribers", {"cells": cells.to_list(), "cut": cut, **params})
