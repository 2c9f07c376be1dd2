"""The security tables (analytics/sql/security_schema.sql) and the ``[security]`` settings."""

from __future__ import annotations

from typing import Any

import duckdb

from analytics import store
from analytics.config import settings

SECURITY_DEFAULTS: dict[str, Any] = {
    "max_failed_attempts": 5,  # wrong passwords in a row before the account is locked
    "lockout_minutes": 15,  # how long a lock-out lasts
    "min_password_length": 12,
    "oidc_default_role": "",  # role of an OIDC identity with no account; "" = refused
    "reports_dir": "",  # compliance reports; "" = <warehouse folder>/reports
}


def security_settings() -> dict[str, Any]:
    """``[security]`` of analytics.toml over :data:`SECURITY_DEFAULTS`."""
    return settings().section("security", defaults=SECURITY_DEFAULTS)


def ensure_security_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the security tables if missing (call inside a ``store.writer`` block)."""
    con.execute(store.sql("security_schema"))
