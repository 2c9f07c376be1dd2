"""Local sign-in accounts (table ``security_users``: one row per user name) and lock-out.

Passwords are hashed with argon2id (argon2-cffi, salted, memory-hard); no default
account or password ships: the first start asks for the admin account, and
``python -m analytics users add`` creates the others. Wrong passwords are counted
per user name (``security_lockout``, also for names that do not exist, so a refusal
does not tell whether a name exists); after ``[security] max_failed_attempts`` in a row
the name is locked for ``lockout_minutes``. Every attempt is audited. Passwords are
never logged nor stored in clear.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from analytics import store
from analytics.security import audit
from analytics.security.roles import validate_role
from analytics.security.schema import ensure_security_schema, security_settings

log = logging.getLogger(__name__)

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _HASHER.hash("no such user: keeps refusals equally slow")


class AccountError(ValueError):
    """A refused account change (one-line reason for the operator)."""


@dataclass(frozen=True)
class SignIn:
    ok: bool
    user_name: str
    role: str | None = None
    reason: str = ""
    locked_until: datetime | None = None


def _user_row(con: duckdb.DuckDBPyConnection, name: str) -> tuple | None:
    return con.execute(
        "select user_name, role, password_hash, is_disabled from security_users where user_name = ?", [name]
    ).fetchone()


def check_password(password: str) -> None:
    minimum = int(security_settings()["min_password_length"])
    if len(password) < minimum:
        raise AccountError(f"password too short: at least {minimum} characters")
    if password.strip() != password or not password.isprintable():
        raise AccountError("password must not start or end with spaces nor hold control characters")


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or not name.isprintable() or any(c.isspace() for c in name):
        raise AccountError("user name: 1-200 printable characters, no spaces (an e-mail works)")
    return name


def add_user(path: str | Path, name: str, *, role: str, password: str | None, by: str) -> None:
    """Create an account; ``password=None`` makes an OIDC-only account (no local sign-in)."""
    name = check_name(name)
    validate_role(role)
    if password is not None:
        check_password(password)
    hashed = _HASHER.hash(password) if password is not None else None
    with store.writer(path, publish=False) as con:
        ensure_security_schema(con)
        con.execute("begin")
        if _user_row(con, name) is not None:
            raise AccountError(f"user {name!r} exists already")
        con.execute(
            "insert into security_users (user_name, role, password_hash, is_disabled, created_at, created_by) "
            "values (?, ?, ?, false, ?, ?)",
            [name, role, hashed, audit.utcnow(), by],
        )
        kind = "local password" if hashed else "OIDC only"
        audit.append(con, user=by, action="user_added", detail=f"{name} role={role} ({kind})")
        con.execute("commit")
    log.info("user %s added with role %s", name, role)


def create_first_admin(path: str | Path, name: str, password: str) -> None:
    """The first start's admin account; refused once any account exists."""
    if has_accounts(path):
        raise AccountError("an account exists already: sign in instead")
    add_user(path, name, role="admin", password=password, by=check_name(name))


def set_disabled(path: str | Path, name: str, *, disabled: bool, by: str) -> None:
    with store.writer(path, publish=False) as con:
        ensure_security_schema(con)
        con.execute("begin")
        if _user_row(con, name) is None:
            raise AccountError(f"no user {name!r}")
        con.execute("update security_users set is_disabled = ? where user_name = ?", [disabled, name])
        audit.append(con, user=by, action="user_disabled" if disabled else "user_enabled", detail=name)
        con.execute("commit")


def list_users(path: str | Path) -> pl.DataFrame:
    """One row per account (never the hash): user_name, role, sign_in, is_disabled, ..."""
    query = """
    with final as (
        select u.user_name, u.role,
               case when u.password_hash is null then 'oidc' else 'password' end as sign_in,
               u.is_disabled, u.created_at, u.created_by, u.last_sign_in_at, l.locked_until
        from security_users as u
        left join security_lockout as l using (user_name)
    )
    select * from final order by user_name
    """
    if not Path(path).exists():
        return pl.DataFrame(schema={"user_name": pl.String, "role": pl.String})
    with store.reader(path) as con:
        if not store.has_table(con, "security_users"):
            return pl.DataFrame(schema={"user_name": pl.String, "role": pl.String})
        return store.fetch(con, query)


def has_accounts(path: str | Path) -> bool:
    return list_users(path).height > 0


def authenticate(path: str | Path, name: str, password: str, *, now: datetime | None = None) -> SignIn:
    """Check a local sign-in, count failures, lock out, and audit the attempt (one write)."""
    cfg = security_settings()
    max_failures, minutes = int(cfg["max_failed_attempts"]), float(cfg["lockout_minutes"])
    now = now or audit.utcnow()
    name = name.strip()
    with store.writer(path, publish=False) as con:
        ensure_security_schema(con)
        con.execute("begin")
        lock = con.execute(
            "select failed_attempts, locked_until from security_lockout where user_name = ?", [name]
        ).fetchone()
        failures, locked_until = (lock[0], lock[1]) if lock else (0, None)
        if locked_until is not None and locked_until > now:
            audit.append(
                con,
                user=name,
                action="sign_in_refused",
                detail=f"locked until {locked_until:%Y-%m-%d %H:%M} UTC",
                at=now,
            )
            con.execute("commit")
            return SignIn(
                False, name, reason="account locked after repeated wrong passwords", locked_until=locked_until
            )
        if locked_until is not None:  # the lock-out ran out: start counting again
            failures = 0
        row = _user_row(con, name)
        ok = _verify(row[2] if row else None, password)
        if ok and row[3]:
            audit.append(con, user=name, role=row[1], action="sign_in_refused", detail="account disabled", at=now)
            con.execute("commit")
            return SignIn(False, name, reason="account disabled: ask an admin")
        con.execute("delete from security_lockout where user_name = ?", [name])
        if ok:
            con.execute("update security_users set last_sign_in_at = ? where user_name = ?", [now, name])
            if _HASHER.check_needs_rehash(row[2]):
                con.execute(
                    "update security_users set password_hash = ? where user_name = ?", [_HASHER.hash(password), name]
                )
            audit.append(con, user=name, role=row[1], action="sign_in", detail="local password", at=now)
            con.execute("commit")
            return SignIn(True, name, role=row[1])
        failures += 1
        until = now + timedelta(minutes=minutes) if failures >= max_failures else None
        con.execute(
            "insert into security_lockout (user_name, failed_attempts, last_failed_at, locked_until) values (?, ?, ?, ?)",
            [name, 0 if until else failures, now, until],
        )
        detail = f"wrong password ({failures} of {max_failures})" + (
            f"; locked until {until:%Y-%m-%d %H:%M} UTC" if until else ""
        )
        audit.append(con, user=name, action="sign_in_failed", detail=detail, at=now)
        con.execute("commit")
    if until:
        return SignIn(
            False, name, reason=f"too many wrong passwords: locked for {minutes:g} minutes", locked_until=until
        )
    return SignIn(False, name, reason="wrong user name or password")


def _verify(hashed: str | None, password: str) -> bool:
    try:
        if hashed is None:
            _HASHER.verify(_DUMMY_HASH, password + "\x00")  # same cost as a real check, always fails
            return False
        return _HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def identity_user(path: str | Path, name: str) -> SignIn:
    """An identity the provider (OIDC) vouched for: its account's role, audited."""
    default_role = str(security_settings()["oidc_default_role"] or "")
    with store.writer(path, publish=False) as con:
        ensure_security_schema(con)
        con.execute("begin")
        row = _user_row(con, name)
        if row is not None and row[3]:
            result = SignIn(False, name, role=row[1], reason="account disabled: ask an admin")
        elif row is not None:
            result = SignIn(True, name, role=row[1])
        elif default_role:
            result = SignIn(True, name, role=validate_role(default_role))
        else:
            result = SignIn(False, name, reason="no account for this identity: ask an admin to add you")
        if result.ok:
            con.execute("update security_users set last_sign_in_at = ? where user_name = ?", [audit.utcnow(), name])
        audit.append(
            con,
            user=name,
            role=result.role,
            action="sign_in" if result.ok else "sign_in_refused",
            detail="oidc" if result.ok else f"oidc: {result.reason}",
        )
        con.execute("commit")
    return result
