"""Warehouse-wide facts for the frame: does it hold data, its date bounds, filter options."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from analytics import store


def has_data(path: str | Path) -> bool:
    """True when the warehouse at ``path`` exists and holds at least one record."""
    path = Path(path)
    if not path.exists() and not store.snapshot_path(path).exists():
        return False
    try:
        con = store.snapshot_reader(path)
    except store.WarehouseError:
        return False
    try:
        return bool(store.fetch(con, "@dashboard_has_records").item())
    except duckdb.CatalogException:
        return False
    finally:
        con.close()


def bounds(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row: ``first_date``, ``last_date`` (local days with records) and ``records``."""
    return store.fetch(con, "@dashboard_bounds")


def dimensions(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Filter options: ``{"region": [...], "service": [...]}``, sorted."""
    df = store.fetch(con, "@dashboard_dimensions")
    out: dict[str, list[str]] = {"region": [], "service": []}
    for kind, value in df.iter_rows():
        out.setdefault(kind, []).append(value)
    return out
