"""The case workflow on alerts, and the read side of the Fraud page.

Statuses: ``new`` -> ``investigating`` -> ``confirmed`` | ``dismissed`` (any change is
allowed, e.g. reopening a dismissed case; each one is kept in ``fraud_case_events`` with who
and when). A case is keyed by the alert key, so detection runs never reset it.

Read functions take a connection first (for ``pages._shared.run``) and return empty frames
of the right schema when detection has never run on this warehouse.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from analytics import store
from analytics.fraud.alerts import ensure_fraud_schema, has_fraud_tables

STATUSES = ("new", "investigating", "confirmed", "dismissed")

QUEUE_SCHEMA: dict[str, pl.DataType] = {
    "alert_key": pl.String(),
    "type": pl.String(),
    "msisdn": pl.String(),
    "region": pl.String(),
    "score": pl.Float64(),
    "first_seen_at": pl.Datetime("us"),
    "last_seen_at": pl.Datetime("us"),
    "status": pl.String(),
    "changed_by": pl.String(),
    "changed_at": pl.Datetime("us"),
    "record_count": pl.Int64(),
}


def set_status(
    con: duckdb.DuckDBPyConnection,
    alert_key: str,
    status: str,
    *,
    user: str,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Record a status change of one alert's case (on a writer connection)."""
    if status not in STATUSES:
        raise ValueError(f"unknown case status {status!r}; expected one of {', '.join(STATUSES)}")
    if not user:
        raise ValueError("a case change needs the user who makes it")
    ensure_fraud_schema(con)
    if store.scalar(con, "select count(*) from fraud_alerts where alert_key = ?", [alert_key]) == 0:
        raise KeyError(f"no alert {alert_key!r}")
    at = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("begin")
    con.execute(
        """
        insert into fraud_cases values (?, ?, ?, ?, ?)
        on conflict (alert_key) do update set status = excluded.status, changed_by = excluded.changed_by,
            changed_at = excluded.changed_at, note = excluded.note
        """,
        [alert_key, status, user, at, note],
    )
    con.execute("insert into fraud_case_events values (?, ?, ?, ?, ?)", [alert_key, status, user, at, note])
    con.execute("commit")


def update_case(path: str | Path | None, alert_key: str, status: str, *, user: str, note: str | None = None) -> None:
    """:func:`set_status` in its own writer (the page's write path; republishes the snapshot)."""
    with store.writer(path) as con:
        set_status(con, alert_key, status, user=user, note=note)


def alert_queue(
    con: duckdb.DuckDBPyConnection,
    *,
    types: Sequence[str] = (),
    regions: Sequence[str] = (),
    statuses: Sequence[str] = (),
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.DataFrame:
    """Stored alerts with their case status, sorted by score; one row per alert.

    ``start``/``end`` keep alerts whose [first_seen, last_seen] overlaps those UTC dates.
    """
    if not has_fraud_tables(con):
        return pl.DataFrame(schema=QUEUE_SCHEMA)
    return store.fetch(
        con,
        "@fraud_queue",
        {
            "types": list(types),
            "regions": list(regions),
            "statuses": list(statuses),
            "start_date": start,
            "end_date": end,
        },
    ).cast(QUEUE_SCHEMA)  # type: ignore[arg-type]


def alert_detail(con: duckdb.DuckDBPyConnection, alert_key: str) -> dict[str, Any] | None:
    """One alert with its parsed evidence and case status, or None."""
    if not has_fraud_tables(con):
        return None
    df = store.fetch(con, "@fraud_alert_detail", {"alert_key": alert_key})
    if df.is_empty():
        return None
    row = df.row(0, named=True)
    row["evidence"] = json.loads(row["evidence"])
    return row


def alert_records(con: duckdb.DuckDBPyConnection, alert_key: str) -> pl.DataFrame:
    """The records behind an alert (its evidence record_ids), in time order."""
    detail = alert_detail(con, alert_key)
    ids = (detail or {}).get("evidence", {}).get("record_ids") or []
    return store.fetch(con, "@fraud_alert_records", {"record_ids": ids})


def case_history(con: duckdb.DuckDBPyConnection, alert_key: str) -> pl.DataFrame:
    """Status changes of one case, oldest first."""
    schema = {"status": pl.String(), "changed_by": pl.String(), "changed_at": pl.Datetime("us"), "note": pl.String()}
    if not has_fraud_tables(con):
        return pl.DataFrame(schema=schema)
    return store.fetch(con, "@fraud_case_history", {"alert_key": alert_key}).cast(schema)  # type: ignore[arg-type]
