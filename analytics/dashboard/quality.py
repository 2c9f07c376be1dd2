"""Data quality views: the load manifest, quarantine, duplicates and coverage gaps.

Grains: ``load_manifest`` one row per file a load looked at; ``quarantine_summary`` one
row per reason x source file; ``quarantine_rows`` one row per rejected row;
``duplicates_by_load`` one row per load; ``duplicate_rows`` one row per repeated record;
``coverage_gaps`` one row per run of empty hours per region; ``silent_cells`` one row
per reference cell without records in the range.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from analytics import store
from analytics.dashboard._query import window


def load_manifest(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return store.fetch(con, "@dashboard_loads")


def quarantine_summary(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return store.fetch(con, "@dashboard_quarantine_summary")


def quarantine_rows(
    con: duckdb.DuckDBPyConnection, *, reason: str = "", source_file: str = "", limit: int = 1000
) -> pl.DataFrame:
    """Rejected rows with their raw values; ``''`` matches any reason / file."""
    return store.fetch(
        con, "@dashboard_quarantine_rows", {"reason": reason, "source_file": source_file, "limit": limit}
    )


def duplicates_by_load(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return store.fetch(con, "@dashboard_duplicates_summary")


def duplicate_rows(con: duckdb.DuckDBPyConnection, *, limit: int = 1000) -> pl.DataFrame:
    return store.fetch(con, "@dashboard_duplicates_rows", {"limit": limit})


def coverage_gaps(
    con: duckdb.DuckDBPyConnection, start: date, end: date, regions: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Runs of consecutive local hours in which a region had no record at all.

    The range is clipped to the hours the warehouse covers (first to last record), so
    the days before the first load are not reported as gaps. Roaming is not a region
    with coverage and is left out.
    """
    return store.fetch(con, "@dashboard_gap_hours", window(start, end, regions))


def silent_cells(con: duckdb.DuckDBPyConnection, start: date, end: date, regions: tuple[str, ...] = ()) -> pl.DataFrame:
    """Reference cells that carried no record in the range, with when they last did."""
    return store.fetch(con, "@dashboard_silent_cells", window(start, end, regions))
