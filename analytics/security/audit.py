"""The audit log (table ``security_audit``: one row per audited event), append-only.

Every sign-in (and failed one), subscriber lookup, unmasking, export, account change
and retention run is appended with the user, the UTC time, the action and a detail.
This module is the only code path that touches the table, and it only appends and
reads: there is no update or delete of audit rows anywhere in the product (checked by
tests/test_security_audit.py, which scans the code). Retention never touches it.

Details never hold secrets: passwords and keys are not passed here, and
:func:`_clean` cuts control characters and overlong text.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from analytics import store
from analytics.security.schema import ensure_security_schema

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

_APPEND = "insert into security_audit (event_at, user_name, role, action, detail) values (?, ?, ?, ?, ?)"
_READ = """
with final as (
    select audit_id, event_at, user_name, role, action, detail
    from security_audit
    where ($since is null or event_at >= $since)
      and ($user_name = '' or user_name = $user_name)
      and ($action = '' or action = $action)
)
select * from final order by audit_id desc limit $limit
"""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return text[:MAX_DETAIL]


def append(
    con: duckdb.DuckDBPyConnection,
    *,
    user: str,
    action: str,
    detail: str | None = None,
    role: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event on an open writer connection (inside the caller's transaction)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    ensure_security_schema(con)
    con.execute(_APPEND, [at or utcnow(), _clean(user) or "?", role, action, _clean(detail)])


def record(path: str | Path, *, user: str, action: str, detail: str | None = None, role: str | None = None) -> None:
    """Append one event in its own short write (no snapshot publish)."""
    with store.writer(path, publish=False) as con:
        append(con, user=user, action=action, detail=detail, role=role)
    log.info("audit: %s %s", user, action)


def read_log(
    path: str | Path,
    *,
    since: datetime | None = None,
    user: str = "",
    action: str = "",
    limit: int = 10_000,
) -> pl.DataFrame:
    """The newest ``limit`` events, newest first, optionally filtered."""
    path = Path(path)
    if not path.exists():
        return _empty()
    with store.reader(path) as con:
        if not store.has_table(con, "security_audit"):
            return _empty()
        return store.fetch(con, _READ, {"since": since, "user_name": user, "action": action, "limit": int(limit)})


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
