"""Parameters and disclosure control shared by the dashboard's queries.

The queries themselves are analytics/sql/dashboard_*.sql (chains of named CTEs ending in
``select * from final``), run with ``store.fetch(con, "@dashboard_<name>", params)``;
:func:`window` builds the common parameters of a filtered query, :func:`suppress` blanks
groups under k subscribers.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import polars as pl

from analytics.config import settings

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


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


def suppress(
    df: pl.DataFrame, *, k: int | None = None, count_col: str = "subscribers", value_cols: list[str] | None = None
) -> pl.DataFrame:
    """Blank every value of a group with fewer than ``k`` distinct subscribers.

    Adds ``suppressed`` (bool). The count column itself is blanked too, so neither a
    view nor an export reveals how small the group was.
    """
    k = settings().k_anonymity if k is None else k
    if value_cols is None:
        value_cols = [
            c
            for c, t in df.schema.items()
            if t.is_numeric() and c not in {"weekday", "hour", "lat", "lon", "capacity_erlangs"}
        ]
    is_small = pl.col(count_col) < k
    return df.with_columns(
        *[pl.when(is_small).then(None).otherwise(pl.col(c)).alias(c) for c in value_cols if c in df.columns],
        is_small.alias("suppressed"),
    )
