"""The audit log (table ``security_audit`` of the security store: one row per audited
event), append-only and tamper-evident.

Every sign-in (and failed one), subscriber lookup, unmasking, export, account change
and retention run is appended with the user, the UTC time, the action and a detail.
This module is the only code path that touches the table, and it only appends and
reads: there is no update or delete of audit rows anywhere in the product (checked by
tests/test_security_audit.py, which scans the code). Retention never touches it.

Each row carries ``prev_hash`` (the previous row's ``row_hash``; 64 zeros for the first)
and ``row_hash`` = SHA-256 over ``prev_hash`` and the row's fields: editing, deleting or
inserting a row anywhere but at the end breaks the chain, which :func:`verify` (``python -m
analytics audit verify``) reports. Cutting rows off the end leaves a valid shorter chain:
compare the head that ``verify`` prints with one kept elsewhere.

Details never hold secrets: passwords and keys are not passed here, and
:func:`_clean` cuts control characters and overlong text.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from analytics import store
from analytics.security import db

log = logging.getLogger(__name__)

ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "sign_in_refused",  # locked, disabled, or an OIDC identity without an account
    "sign_out",
    "lookup",  # a subscriber's records opened
    "unmask",  # identifiers shown in clear to a role that may see them
    "export",  # a table downloaded
    "export_refused",
    "user_added",
    "user_disabled",
    "user_enabled",
    "user_unlocked",  # lock-outs lifted (users unlock NAME)
    "session_resumed",  # a signed-in session restored from its cookie (a reload, a bookmark, a link)
    "retention",
    "retention_dry_run",
    "forecast_run",  # a forecast run asked for (and finished) on the Forecasts page
)
MAX_DETAIL = 2000

# Analytics functions whose call through pages._shared.run() is a subscriber lookup:
# qualified name -> index of the positional argument that names the subscriber.
LOOKUP_FUNCTIONS: dict[str, int] = {
    "analytics.billing.explain.subscriber_view": 0,
}

GENESIS = "0" * 64
_APPEND = (
    "insert into security_audit (audit_id, event_at, user_name, role, action, detail, prev_hash, row_hash) "
    "values (?, ?, ?, ?, ?, ?, ?, ?)"
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return text[:MAX_DETAIL]


def row_hash(
    prev_hash: str, audit_id: int, event_at: datetime, user: str, role: str | None, action: str, detail: str | None
) -> str:
    """SHA-256 (hex) of the previous hash and one row's fields, in a fixed JSON form."""
    fields = [prev_hash, int(audit_id), event_at.isoformat(timespec="microseconds"), user, role, action, detail]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def append(
    con: duckdb.DuckDBPyConnection,
    *,
    user: str,
    action: str,
    detail: str | None = None,
    role: str | None = None,
    at: datetime | None = None,
    known_action: bool = True,
) -> None:
    """Append one event on an open connection to the security store (inside the caller's
    transaction, which holds the store's lock: the chain's head cannot move meanwhile).

    A connection to a *warehouse* (code written when the log was a warehouse table) is
    still accepted: the event then goes to that warehouse's security store in its own
    transaction, right away (not with the caller's commit)."""
    if known_action and action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    warehouse = _warehouse_of(con)
    if warehouse is not None:
        with db.transaction(warehouse, warehouse_con=con) as own:  # con holds the warehouse's lock
            append(own, user=user, action=action, detail=detail, role=role, at=at, known_action=known_action)
        return
    head = con.execute(store.sql("security_audit_head")).fetchone()
    audit_id, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    event_at = (at or utcnow()).replace(tzinfo=None)
    user, detail = _clean(user) or "?", _clean(detail)
    digest = row_hash(prev, audit_id, event_at, user, role, action, detail)
    con.execute(_APPEND, [audit_id, event_at, user, role, action, detail, prev, digest])


def _warehouse_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The warehouse file when ``con`` is a warehouse connection, None for the security store."""
    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    path = str(row[0] or "") if row else ""
    if not path or ".accounts.duckdb" in Path(path).name:
        return None
    return Path(path)


def record(
    path: str | Path,
    *,
    user: str,
    action: str,
    detail: str | None = None,
    role: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event in its own short transaction of the security store."""
    with db.transaction(path) as con:
        append(con, user=user, action=action, detail=detail, role=role, at=at)
    log.info("audit: %s %s", user, action)


def verify(path: str | Path) -> dict:
    """Recompute the chain: ``{"ok", "rows", "head", "first_bad_id", "problem"}``."""
    with db.transaction(path) as con:
        rows = con.execute(store.sql("security_audit_chain")).fetchall()
    prev, expected_id = GENESIS, 1
    for audit_id, event_at, user, role, action, detail, prev_hash, digest in rows:
        problem = None
        if audit_id != expected_id:
            problem = f"audit_id {audit_id} where {expected_id} was expected (a row was removed or inserted)"
        elif prev_hash != prev:
            problem = "prev_hash does not match the previous row (a row was removed, inserted or re-hashed)"
        elif row_hash(prev_hash, audit_id, event_at, user, role, action, detail) != digest:
            problem = "the row's fields do not match its hash (the row was edited)"
        if problem:
            return {"ok": False, "rows": len(rows), "head": None, "first_bad_id": audit_id, "problem": problem}
        prev, expected_id = digest, expected_id + 1
    return {"ok": True, "rows": len(rows), "head": prev if rows else None, "first_bad_id": None, "problem": None}


def read_log(
    path: str | Path,
    *,
    since: datetime | None = None,
    user: str = "",
    action: str = "",
    limit: int = 10_000,
) -> pl.DataFrame:
    """The newest ``limit`` events, newest first, optionally filtered."""
    with db.transaction(path) as con:
        params = {"since": since, "user_name": user, "action": action, "limit": int(limit)}
        return con.sql(store.sql("security_audit_log"), params=params).pl()


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "audit_id": pl.Int64,
            "event_at": pl.Datetime("us"),
            "user_name": pl.String,
            "role": pl.String,
            "action": pl.String,
            "detail": pl.String,
        }
    )


def lookup_detail(fn_name: str, args: tuple) -> str | None:
    """The audit detail when ``fn_name(con, *args)`` is a subscriber lookup, else None."""
    index = LOOKUP_FUNCTIONS.get(fn_name)
    if index is None or len(args) <= index:
        return None
    rest = ", ".join(str(a) for i, a in enumerate(args) if i != index)
    return f"subscriber={args[index]} via {fn_name.rsplit('.', 1)[-1]}({rest})"
