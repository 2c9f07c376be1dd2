"""Running the dashboard's named SQL (analytics/sql/dashboard_*.sql) with parameters.

Each query is a chain of named CTEs ending in ``select * from final``; values go in as
``$name`` parameters. DuckDB refuses parameters a statement does not use, so
:func:`query` passes each statement only the names it references.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import duckdb
import polars as pl

from analytics import store
from analytics.config import settings

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def query(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pl.DataFrame:
    """Run ``analytics/sql/dashboard_<name>.sql`` with the parameters it names."""
    text = store.sql(f"dashboard_{name}")
    used = set(_PARAM.findall(text))
    missing = used - params.keys()
    if missing:
        raise TypeError(f"dashboard_{name}.sql needs parameters: {', '.join(sorted(missing))}")
    return store.fetch(con, text, {k: v for k, v in params.items() if k in used} or None)


def window(start: date, end: date, regions: tuple[str, ...] = (), services: tuple[str, ...] = ()) -> dict[str, Any]:
    """The common parameters of a filtered query: local dates (inclusive) and lists ('' = all)."""
    if end < start:
        start, end = end, start
    return {
        "start": start,
        "end": end,
        "tz": settings().timezone,
        "regions": list(regions),
        "services": list(services),
        "days": (end - start).days + 1,
    }


def suppress(df: pl.DataFrame, *, k: int | None = None, count_col: str = "subscribers", value_cols: list[str] | None = None) -> pl.DataFrame:
    """Blank every value of a group with fewer than ``k`` distinct subscribers.

    Adds ``suppressed`` (bool). The count column itself is blanked too, so neither a
    view nor an export reveals how small the group was.
    """
    k = settings().k_anonymity if k is None else k
    if value_cols is None:
        value_cols = [c for c, t in df.schema.items() if t.is_numeric() and c not in {"weekday", "hour", "lat", "lon", "capacity_erlangs"}]
    is_small = pl.col(count_col) < k
    return df.with_columns(
        *[pl.when(is_small).then(None).otherwise(pl.col(c)).alias(c) for c in value_cols if c in df.columns],
        is_small.alias("suppressed"),
    )
