"""Views and exports of the segment report for the dashboard (no streamlit here).

* :func:`record_months`: the local calendar months holding records (newest last).
* :func:`map_points`: a seeded sample (at most ``limit`` rows) of the per-subscriber map.
* :func:`export_table`: the per-subscriber table as exported, grain one row per
  subscriber, with ``msisdn`` replaced by its keyed pseudonym
  (:func:`analytics.privacy.pseudonym_expr`) unless the viewer may see numbers.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from analytics.config import settings
from analytics.marketing.indicators import query
from analytics.privacy import pseudonym_expr

EXPORT_DROP = ("pc1", "pc2", "segment_id")


def record_months(con: duckdb.DuckDBPyConnection, *, timezone: str | None = None) -> list[dt.date]:
    tz = timezone or settings().timezone
    df = query(
        con,
        None,
        {"tz": tz},
        text="select distinct date_trunc('month', timezone($tz, timezone('UTC', start_at)))::date as m "
        "from records order by m",
    )
    return df["m"].to_list()


def map_points(subscribers: pl.DataFrame, *, limit: int = 5000, seed: int = 7) -> pl.DataFrame:
    cols = ["msisdn", "segment", "pc1", "pc2", "current_plan", "voice_minutes", "sms", "data_mb"]
    df = subscribers.select(cols)
    return df.sample(n=limit, seed=seed) if df.height > limit else df


def export_table(subscribers: pl.DataFrame, *, see_numbers: bool, key: bytes | None = None) -> pl.DataFrame:
    """The export; raises ``analytics.privacy.MissingSecretError`` when a pseudonym needs a key."""
    df = subscribers.drop([c for c in EXPORT_DROP if c in subscribers.columns])
    if see_numbers or df.height == 0:
        return df
    return df.with_columns(pseudonym_expr("msisdn", key=key).alias("msisdn"))
