"""The security tables and the ``[security]`` settings.

analytics/sql/security_schema.sql: the security store's tables (accounts, failed sign-ins,
audit; analytics/security/db.py). analytics/sql/security_retention_schema.sql: the retention
runs, a table of the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from analytics import store
from analytics.config import settings


@dataclass(frozen=True)
class SecuritySettings:
    """``[security]`` of analytics.toml (docs/security.md)."""

    max_failed_attempts: int = 5  # wrong passwords in a row before the account is locked
    lockout_minutes: float = 15.0  # how long a lock-out lasts
    min_password_length: int = 12
    max_password_length: int = 256  # longer ones are refused before hashing (argon2 of 1 MB took 3 s)
    max_failed_per_client: int = 20  # wrong passwords from one client, over every name, before it is locked
    max_failed_per_name: int = 100  # wrong passwords for one name, over every client, before the name is locked
    session_hours: float = 12.0  # life of the sign-in cookie
    oidc_default_role: str = ""  # role of an OIDC identity with no account; "" = refused
    reports_dir: str = ""  # compliance reports; "" = <warehouse folder>/reports


def security_settings() -> SecuritySettings:
    """``[security]`` of analytics.toml over the code defaults."""
    return settings().section("security", SecuritySettings)


def ensure_security_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the security store's tables if missing (analytics.security.db does)."""
    con.execute(store.sql("security_schema"))


def ensure_retention_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse's retention table if missing (inside a ``store.writer`` block)."""
    con.execute(store.sql("security_retention_schema"))
