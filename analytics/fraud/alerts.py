"""The common alert shape, its stable key, and persistence in ``fraud_alerts``.

An alert (one row of :data:`ALERT_SCHEMA`) is: ``type``, ``msisdn`` (the line, or the
foreign number for Wangiri), ``alert_key``, ``region``, ``score`` (0..1: 0.5 just past the
detector's thresholds, 1.0 overwhelming), ``first_seen_at`` / ``last_seen_at`` (UTC) and
``evidence`` (a JSON object: counts, distinct contacts, destinations, cells, record_ids).

The key is ``type:msisdn`` for schemes that belong to an actor (sim_box, wangiri,
sim_clone) and ``type:msisdn:YYYY-MM-DD`` (local first day) for episodes (irsf bursts,
usage_spike episodes), so a dismissed case stays dismissed when the next run finds the
same thing again, while a new episode on another day is a new alert.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import duckdb
import polars as pl

from analytics import store

log = logging.getLogger(__name__)

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "alert_key": pl.String(),
    "type": pl.String(),
    "msisdn": pl.String(),
    "region": pl.String(),
    "score": pl.Float64(),
    "first_seen_at": pl.Datetime("us"),
    "last_seen_at": pl.Datetime("us"),
    "evidence": pl.String(),
}

CONTRACT_KEYS = ("type", "msisdn", "score", "first_seen", "last_seen", "evidence")


def empty_alerts() -> pl.DataFrame:
    return pl.DataFrame(schema=ALERT_SCHEMA)


def ensure_fraud_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the fraud tables if missing (call inside a ``store.writer`` block)."""
    con.execute(store.sql("fraud_schema"))


def has_fraud_tables(con: duckdb.DuckDBPyConnection) -> bool:
    n = store.scalar(
        con,
        "select count(*) from duckdb_tables() where table_name in ('fraud_alerts', 'fraud_cases', 'fraud_case_events')",
    )
    return n == 3


def run_detector_sql(
    con: duckdb.DuckDBPyConnection, name: str, alert_type: str, params: dict[str, Any]
) -> pl.DataFrame:
    """Run ``analytics/sql/<name>.sql`` and shape its rows as alerts of ``alert_type``."""
    raw = store.fetch(con, f"@{name}", params)
    if raw.is_empty():
        return empty_alerts()
    key = pl.lit(f"{alert_type}:") + pl.col("msisdn")
    key = pl.when(pl.col("key_suffix") == "").then(key).otherwise(key + pl.lit(":") + pl.col("key_suffix"))
    return (
        raw.lazy()
        .select(
            key.alias("alert_key"),
            pl.lit(alert_type).alias("type"),
            pl.col("msisdn").cast(pl.String),
            pl.col("region").cast(pl.String),
            pl.col("score").cast(pl.Float64).round(4),
            pl.col("first_seen_at").cast(pl.Datetime("us")),
            pl.col("last_seen_at").cast(pl.Datetime("us")),
            pl.col("evidence").cast(pl.String),
        )
        .collect()
    )


def persist(con: duckdb.DuckDBPyConnection, alerts: pl.DataFrame, *, now: dt.datetime) -> pl.DataFrame:
    """Merge this run's alerts into ``fraud_alerts``; returns them in their merged state.

    Merge rule per key: first_seen = earliest, last_seen = latest, score = highest, evidence
    from the run with the higher score (the newer on a tie); status is never touched.
    Runs on ``con`` itself (not a cursor of it: a cursor is a connection of its own, outside
    the caller's transaction), so a caller's transaction covers the merge.
    """
    ensure_fraud_schema(con)
    if alerts.is_empty():
        return alerts.with_columns(pl.lit(None, pl.String).alias("status"), pl.lit(False).alias("is_new"))
    con.register("run_alerts", alerts.with_columns(pl.lit(now).cast(pl.Datetime("us")).alias("run_at")))
    try:
        con.execute(
            "create or replace temp table run_keys as select alert_key, alert_key not in (select alert_key from fraud_alerts) as is_new from run_alerts"
        )
        con.execute(
            """
            insert into fraud_alerts
            select alert_key, type, msisdn, region, score, first_seen_at, last_seen_at, evidence, run_at, run_at, 1
            from run_alerts
            on conflict (alert_key) do update set
                region = excluded.region,
                evidence = case when excluded.score >= fraud_alerts.score then excluded.evidence else fraud_alerts.evidence end,
                score = greatest(fraud_alerts.score, excluded.score),
                first_seen_at = least(fraud_alerts.first_seen_at, excluded.first_seen_at),
                last_seen_at = greatest(fraud_alerts.last_seen_at, excluded.last_seen_at),
                updated_at = excluded.updated_at,
                runs = fraud_alerts.runs + 1
            """
        )
        con.execute(
            """
            insert into fraud_cases
            select alert_key, 'new', 'system', ?, null from run_keys where is_new
            on conflict (alert_key) do nothing
            """,
            [now],
        )
        # on con itself, not store.fetch's cursor: run_keys is con's temp table and the
        # caller's transaction is open on con
        merged = con.sql(store.sql("fraud_merged_alerts")).pl()
        con.execute("drop table run_keys")
    finally:
        con.unregister("run_alerts")
    return merged


def iso_utc(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_contract(alerts: pl.DataFrame) -> list[dict[str, Any]]:
    """Alerts as the contract's objects: ``{type, msisdn, score, first_seen, last_seen, evidence}``."""
    out = []
    for row in alerts.iter_rows(named=True):
        out.append(
            {
                "type": row["type"],
                "msisdn": row["msisdn"],
                "score": row["score"],
                "first_seen": iso_utc(row["first_seen_at"]),
                "last_seen": iso_utc(row["last_seen_at"]),
                "evidence": json.loads(row["evidence"]),
            }
        )
    return out
