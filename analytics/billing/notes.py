"""Dispute notes written by support: table ``billing_notes`` (one row per note).

Each note keeps who wrote it (user name and role) and when (UTC). Writing goes through
``store.writer`` (the dashboard's connection is a read-only snapshot).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb
import polars as pl

from analytics import store
from analytics.billing.rated import ensure_billing_schema

log = logging.getLogger(__name__)

NOTE_SCHEMA = {
    "note_id": pl.Int64,
    "msisdn": pl.String,
    "month_date": pl.Date,
    "record_id": pl.String,
    "note": pl.String,
    "author": pl.String,
    "author_role": pl.String,
    "created_at": pl.Datetime("us"),
}
MAX_NOTE_CHARS = 4000


def add_note(
    warehouse: str | Path | None,
    *,
    msisdn: str,
    note: str,
    author: str,
    author_role: str | None = None,
    month: dt.date | None = None,
    record_id: str | None = None,
) -> int:
    """Save a dispute note; returns its note_id. Raises ValueError for an empty note."""
    text = (note or "").strip()
    if not text:
        raise ValueError("a dispute note needs some text")
    if not author:
        raise ValueError("a dispute note needs its author")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.writer(warehouse) as con:
        ensure_billing_schema(con)
        con.execute("begin")
        note_id = con.execute(
            "insert into billing_notes (msisdn, month_date, record_id, note, author, author_role, created_at) "
            "values (?, ?, ?, ?, ?, ?, ?) returning note_id",
            [msisdn, month, record_id or None, text[:MAX_NOTE_CHARS], author, author_role, now],
        ).fetchone()[0]
        con.execute("commit")
    log.info("dispute note %s saved for a subscriber by %s", note_id, author)
    return int(note_id)


def list_notes(con: duckdb.DuckDBPyConnection, msisdn: str) -> pl.DataFrame:
    """The subscriber's notes, newest first (empty frame, same columns, when there are none)."""
    if not store.has_table(con, "billing_notes"):
        return pl.DataFrame(schema=NOTE_SCHEMA)
    return store.fetch(con, "@billing_notes", {"msisdn": msisdn})
