"""The security store: accounts, failed sign-ins and the audit log in a DuckDB file of their
own, ``<warehouse>.accounts.duckdb``, under their own lock ``<warehouse>.accounts.lock``.

Sign-in, account checks, failed-attempt counting and audit appends never take the
warehouse's writer lock (analytics.store), so a data load holding it for minutes does not
delay the sign-in form (issue #19.7). Every access is one short transaction under an
exclusive ``flock``: DuckDB allows one read-write process per file, and the app, the CLI
and the watcher are separate processes.

With ``ANALYTICS_DB_KEY`` set the file is encrypted like the warehouse (the audit log holds
subscriber numbers of lookups).

Warehouses written before this store held ``security_users``, ``security_lockout`` and
``security_audit`` as tables of the warehouse: the first open copies them over (once: the
store's file is created by a rename, so it exists only complete). The old tables are left in
the warehouse, unused.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from analytics import store
from analytics.config import secret

log = logging.getLogger(__name__)

LEGACY_TABLES = ("security_users", "security_lockout", "security_audit")


def db_path(warehouse: str | Path) -> Path:
    return Path(f"{warehouse}.accounts.duckdb")


def lock_path(warehouse: str | Path) -> Path:
    return Path(f"{warehouse}.accounts.lock")


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    """``path`` read-write as the default catalog (attached with its key when encrypted)."""
    key = secret("db_key")
    if not key:
        return duckdb.connect(str(path))
    con = duckdb.connect(":memory:")
    con.execute("set force_mbedtls_unsafe = 'true'")  # as analytics.store: no httpfs for OpenSSL here
    con.execute("attach ? as sec (encryption_key ?)", [str(path), key])
    con.execute("use sec")
    return con


@contextmanager
def transaction(
    warehouse: str | Path, *, warehouse_con: duckdb.DuckDBPyConnection | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the security store inside one transaction, under its lock: committed
    when the block ends, rolled back when it raises.

    ``warehouse_con``: the caller's open connection to the warehouse, when it holds the
    warehouse's lock (the first open reads the old tables through it instead of waiting for
    that lock, which would never come)."""
    path = db_path(warehouse)
    if not path.exists():
        _create(Path(warehouse), warehouse_con)
    with store.file_lock(lock_path(warehouse)):
        con = _open(path)
        try:
            con.execute("begin")
            try:
                yield con
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        finally:
            con.close()


def _legacy_rows(warehouse: Path, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, list[dict]]:
    """The security tables an older warehouse holds (read before the store's lock is taken,
    so the two locks are never nested this way round), through ``con`` when given."""
    if con is None and not warehouse.exists():
        return {}
    if con is None:
        with store.reader(warehouse) as own:
            return _legacy_rows(warehouse, own)
    out: dict[str, list[dict]] = {}
    for table in LEGACY_TABLES:
        if store.has_table(con, table):
            order = " order by audit_id" if table == "security_audit" else ""
            out[table] = store.fetch(con, f"select * from {table}{order}").to_dicts()  # noqa: S608 - fixed names
    return out


def _create(warehouse: Path, warehouse_con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Create the store (with the warehouse's old security tables copied in) by a rename."""
    from analytics.security import audit  # noqa: PLC0415 - audit imports this module
    from analytics.security.schema import ensure_security_schema  # noqa: PLC0415

    legacy = _legacy_rows(warehouse, warehouse_con)
    path = db_path(warehouse)
    with store.file_lock(lock_path(warehouse)):
        if path.exists():  # another thread or process made it meanwhile
            return
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        tmp.unlink(missing_ok=True)
        con = _open(tmp)
        try:
            ensure_security_schema(con)
            con.execute("begin")
            for row in legacy.get("security_users", []):
                con.execute(
                    "insert into security_users (user_name, role, password_hash, is_disabled, created_at, created_by, "
                    "last_sign_in_at) values (?, ?, ?, ?, ?, ?, ?)",
                    [
                        row["user_name"],
                        row["role"],
                        row["password_hash"],
                        row["is_disabled"],
                        row["created_at"],
                        row["created_by"],
                        row["last_sign_in_at"],
                    ],
                )
            for row in legacy.get("security_lockout", []):
                con.execute(
                    "insert into security_lockout (user_name, client, failed_attempts, last_failed_at, locked_until) "
                    "values (?, '', ?, ?, ?)",
                    [row["user_name"], row["failed_attempts"], row["last_failed_at"], row["locked_until"]],
                )
            for row in legacy.get("security_audit", []):  # chained from here on, in their old order
                audit.append(
                    con,
                    user=row["user_name"],
                    role=row["role"],
                    action=row["action"],
                    detail=row["detail"],
                    at=row["event_at"],
                    known_action=False,
                )
            con.execute("commit")
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(tmp, path)
    if legacy:
        log.warning(
            "security store %s created from the warehouse's tables: %s",
            path,
            ", ".join(f"{t}={len(r)}" for t, r in legacy.items()),
        )
