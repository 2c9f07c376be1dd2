"""Demand heatmaps and the cell map, with small groups suppressed (k-anonymity).

A group (heatmap cell, map cell) with fewer than ``settings().k_anonymity`` distinct
subscribers has every figure blanked and ``suppressed = true``, in the view and in
any export built from these frames. Distinct subscribers are counted exactly from
``records`` (cube rows are not additive for distinct counts).
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from analytics.config import settings
from analytics.dashboard._query import query, suppress, window

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_weekday(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    k: int | None = None,
) -> pl.DataFrame:
    """One row per ISO weekday (1 = Monday) x local hour that has records; suppressed."""
    df = query(con, "heat_hour_weekday", **window(start, end, regions, services))
    return suppress(df, k=k, value_cols=["records", "subscribers", "minutes", "data_gb"]).with_columns(
        pl.col("weekday").map_elements(lambda d: WEEKDAYS[d - 1], return_dtype=pl.String).alias("weekday_name")
    )


def region_day(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    k: int | None = None,
) -> pl.DataFrame:
    """One row per region x local day that has records; suppressed."""
    df = query(con, "heat_region_day", **window(start, end, regions, services))
    return suppress(df, k=k, value_cols=["records", "subscribers", "minutes", "data_gb"])


def cell_map(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    regions: tuple[str, ...] = (),
    services: tuple[str, ...] = (),
    *,
    k: int | None = None,
) -> pl.DataFrame:
    """One row per reference cell: position, traffic and busy-hour load; suppressed.

    ``busy_hour_load`` is the highest hourly erlangs over ``capacity_erlangs`` (null
    when the cell has no capacity). A cell with no records shows zeros, not suppression.
    """
    df = query(con, "cell_map", **window(start, end, regions, services))
    k = settings().k_anonymity if k is None else k
    small = (pl.col("subscribers") > 0) & (pl.col("subscribers") < k)
    values = ["records", "subscribers", "minutes", "data_gb", "busy_hour_erlangs", "busy_hour_load"]
    return df.with_columns(
        *[pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in values],
        small.alias("suppressed"),
    )
