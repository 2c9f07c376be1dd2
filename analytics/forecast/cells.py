"""Per-cell capacity outlook for planners: the ranked "cells to act on" and the cell map.

Both read the stored ``capacity_outlook`` (``capacity.outlook`` computes it after each
forecast run) joined with the cell reference (``forecast_cell_outlook.sql``); nothing is
refit here.

* A cell is **to act on** when the outlook gives it an exhaustion date within the horizon
  (utilisation or blocking over its threshold) or when its forecast peak needs more
  channels than it has to hold the grade of service (``channels_to_add > 0``).
* **Rank**: soonest exhaustion first, then the earliest day the grade of service is broken,
  then the highest peak utilisation; ties by cell id.
* ``months_to_exhaustion`` = days to exhaustion / 30.4375 (null: not within the horizon).
  The map's colour clips it to the horizon; cells without a date are drawn apart.
"""

from __future__ import annotations

import duckdb
import polars as pl

from analytics import store

# Columns of the "cells to act on" table, in order (export and CLI take the same).
ACT_COLUMNS: tuple[str, ...] = (
    "rank",
    "cell_id",
    "region",
    "site_id",
    "technology",
    "months_to_exhaustion",
    "exhaustion_date",
    "first_blocking_date",
    "first_utilisation_date",
    "busy_hour_erlangs_now",
    "busy_hour_erlangs_peak",
    "peak_date",
    "capacity_erlangs",
    "utilisation_peak",
    "blocking_peak",
    "servers",
    "channels_needed",
    "channels_to_add",
    "busy_hour_data_gb_now",
    "busy_hour_data_gb_peak",
    "lat",
    "lon",
    "data_cutoff",
)
SCHEMA: dict[str, pl.DataType] = {
    "cell_id": pl.String(),
    "region": pl.String(),
    "site_id": pl.String(),
    "technology": pl.String(),
    "months_to_exhaustion": pl.Float64(),
    "exhaustion_date": pl.Date(),
    "first_blocking_date": pl.Date(),
    "first_utilisation_date": pl.Date(),
    "busy_hour_erlangs_now": pl.Float64(),
    "busy_hour_erlangs_peak": pl.Float64(),
    "peak_date": pl.Date(),
    "capacity_erlangs": pl.Float64(),
    "utilisation_peak": pl.Float64(),
    "blocking_peak": pl.Float64(),
    "servers": pl.Int64(),
    "channels_needed": pl.Int64(),
    "busy_hour_data_gb_now": pl.Float64(),
    "busy_hour_data_gb_peak": pl.Float64(),
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "data_cutoff": pl.Date(),
    "days_to_exhaustion": pl.Int64(),
}


def channels_to_add() -> pl.Expr:
    """Channels missing to hold the grade of service at the forecast peak (0 when enough)."""
    return (pl.col("channels_needed") - pl.col("servers").fill_null(0)).clip(lower_bound=0)


def is_to_act() -> pl.Expr:
    return pl.col("exhaustion_date").is_not_null() | (channels_to_add() > 0).fill_null(False)


def cell_outlook(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per cell of the stored outlook with its place (lat, lon) and ``channels_to_add``."""
    if not store.has_table(con, "capacity_outlook"):
        return pl.DataFrame(schema=SCHEMA).with_columns(channels_to_add=pl.lit(None, pl.Int64))
    frame = store.fetch(con, "@forecast_cell_outlook")
    missing = [c for c in SCHEMA if c not in frame.columns]  # a warehouse whose outlook predates a column
    return (
        frame.with_columns(pl.lit(None, SCHEMA[c]).alias(c) for c in missing)
        .cast({c: t for c, t in SCHEMA.items()})
        .with_columns(channels_to_add=channels_to_add().cast(pl.Int64))
    )


def rank_cells_to_act(outlook: pl.DataFrame) -> pl.DataFrame:
    """The cells to act on of ``cell_outlook`` rows, ranked (``rank`` 1 = act first), ``ACT_COLUMNS``."""
    return (
        outlook.filter(is_to_act())
        .sort(
            ["days_to_exhaustion", "first_blocking_date", "utilisation_peak", "cell_id"],
            descending=[False, False, True, False],
            nulls_last=True,
        )
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
        .select(ACT_COLUMNS)
    )


def cells_to_act(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return rank_cells_to_act(cell_outlook(con))


def map_frame(outlook: pl.DataFrame, *, horizon_months: float | None = None) -> pl.DataFrame:
    """Cells with a place, for the map: ``cell_id, region, lon, lat, months_to_exhaustion,
    colour_months`` (months clipped to ``horizon_months``; null: no date within the horizon)."""
    placed = outlook.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    months = pl.col("months_to_exhaustion")
    return placed.select(
        "cell_id",
        "region",
        "lon",
        "lat",
        "months_to_exhaustion",
        "exhaustion_date",
        "utilisation_peak",
        "channels_to_add",
        colour_months=months if horizon_months is None else months.clip(upper_bound=horizon_months),
    )
