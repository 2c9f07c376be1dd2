"""The security tables and the ``[security]`` settings.

analytics/sql/security_schema.sql: the security store's tables (accounts, failed sign-ins,
audit; analytics/security/db.py). analytics/sql/security_retention_schema.sql: the retention
runs, a table of the warehouse.
"""

from __future__ import annotations

from typing import Any

import duckdb

from analytics import store
from analytics.config import settings

SECURITY_DEFAULTS: dict[str, Any] = {
    "max_failed_attempts": 5,  # wrong passwords in a row before the account is locked
    "lockout_minutes": 15,  # how long a lock-out lasts
    "min_password_length": 12,
    "max_password_length": 256,  # longer ones are refused before hashing (argon2 of 1 MB took 3 s)
    "max_failed_per_client": 20,  # wrong passwords from one client, over every name, before it is locked
    "max_failed_per_name": 100,  # wrong passwords for one name, over every client, before the name is locked
    "session_hours": 12,  # life of the sign-in cookie
    "oidc_default_role": "",  # role of an OIDC identity with no account; "" = refused
    "reports_dir": "",  # compliance reports; "" = <warehouse folder>/reports
}


def security_settings() -> dict[str, Any]:
    """``[security]`` of analytics.toml over :data:`SECURITY_DEFAULTS`."""
    return settings().section("security", defaults=SECURITY_DEFAULTS)


def ensure_security_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the security store's tables if missing (analytics.security.db does)."""
    con.execute(store.sql("security_schema"))


def ensure_retention_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse's retention table if missing (inside a ``store.writer`` block)."""
    con.execute(store.sql("security_retention_schema"))
