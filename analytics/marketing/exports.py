"""Views and exports of the segment report for the dashboard (no streamlit here).

* :func:`map_points`: a seeded sample (at most ``limit`` rows) of the per-subscriber map.
* :func:`export_table`: the per-subscriber table as exported, grain one row per
  subscriber, with ``msisdn`` replaced by its keyed pseudonym
  (:func:`analytics.privacy.pseudonym_expr`) unless the viewer may see numbers.
"""

from __future__ import annotations

import polars as pl

from analytics.privacy import pseudonym_expr

EXPORT_DROP = ("pc1", "pc2", "segment_id")


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
