"""Local sign-in accounts (table ``security_users``: one row per user name) and lock-out,
in the security store (analytics/security/db.py), never under the warehouse's lock.

Passwords are hashed with argon2id (argon2-cffi, salted, memory-hard); no default
account or password ships: the first start asks for the admin account, and
``python -m analytics users add`` creates the others. Passwords longer than
``[security] max_password_length`` are refused before any hashing.

Wrong passwords are counted (``security_lockout``, also for names that do not exist, so a
refusal does not tell whether a name exists) three ways, each within ``lockout_minutes``:
per name *and client* (``max_failed_attempts``: locks that name for that client only, so
one client cannot lock an admin out for everyone), per client over every name
(``max_failed_per_client``) and per name over every client (``max_failed_per_name``, the
guard against guessing from many addresses). A lock lasts ``lockout_minutes``;
``users unlock NAME`` lifts it (the admin's recovery path). Every attempt is audited.
Passwords are never logged nor stored in clear.

``session_generation`` is part of every sign-in cookie (analytics/security/sessions.py):
sign-out and disabling raise it, which revokes the account's cookies.
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
from analytics.security import audit, db
from analytics.security.roles import validate_role
from analytics.security.schema import security_settings

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
    generation: int = 0  # the account's session generation, for the sign-in cookie


ANY = "*"  # security_lockout: user_name = ANY counts a client over every name; client = ANY a name over every client


def _user_row(con: duckdb.DuckDBPyConnection, name: str) -> tuple | None:
    return con.execute(store.sql("security_user_row"), {"user_name": name}).fetchone()


def check_password(password: str) -> None:
    minimum = security_settings().min_password_length
    maximum = security_settings().max_password_length
    if len(password) < minimum:
        raise AccountError(f"password too short: at least {minimum} characters")
    if len(password) > maximum:
        raise AccountError(f"password too long: at most {maximum} characters")
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
    with db.transaction(path) as con:
        if _user_row(con, name) is not None:
            raise AccountError(f"user {name!r} exists already")
        con.execute(
            "insert into security_users (user_name, role, password_hash, is_disabled, created_at, created_by) "
            "values (?, ?, ?, false, ?, ?)",
            [name, role, hashed, audit.utcnow(), by],
        )
        kind = "local password" if hashed else "OIDC only"
        audit.append(con, user=by, action="user_added", detail=f"{name} role={role} ({kind})")
    log.info("user %s added with role %s", name, role)


def create_first_admin(path: str | Path, name: str, password: str) -> None:
    """The first start's admin account; refused once any account exists."""
    if has_accounts(path):
        raise AccountError("an account exists already: sign in instead")
    add_user(path, name, role="admin", password=password, by=check_name(name))


def set_disabled(path: str | Path, name: str, *, disabled: bool, by: str) -> None:
    """Disable (which also ends the account's sessions) or enable an account."""
    with db.transaction(path) as con:
        if _user_row(con, name) is None:
            raise AccountError(f"no user {name!r}")
        con.execute(
            "update security_users set is_disabled = ?, session_generation = session_generation + ? where user_name = ?",
            [disabled, 1 if disabled else 0, name],
        )
        audit.append(con, user=by, action="user_disabled" if disabled else "user_enabled", detail=name)


def unlock(path: str | Path, name: str, *, by: str) -> int:
    """Lift every lock-out and failure count of ``name`` (all clients); the rows cleared."""
    with db.transaction(path) as con:
        rows = con.execute(store.sql("security_lockout_rows"), {"user_name": name}).fetchone()[0]
        con.execute("delete from security_lockout where user_name = ?", [name])
        audit.append(con, user=by, action="user_unlocked", detail=f"{name} ({rows} lock-out rows cleared)")
    return int(rows)


def end_sessions(path: str | Path, name: str) -> None:
    """Revoke every sign-in cookie of ``name`` (sign-out)."""
    with db.transaction(path) as con:
        con.execute("update security_users set session_generation = session_generation + 1 where user_name = ?", [name])


def session_account(path: str | Path, name: str, generation: int) -> str | None:
    """The role of ``name`` when a session of ``generation`` is still good (the account
    exists, is enabled, and no sign-out or disabling came since); else None."""
    with db.transaction(path) as con:
        row = _user_row(con, name)
    if row is None or row[3] or row[4] != generation:
        return None
    return row[1]


def list_users(path: str | Path) -> pl.DataFrame:
    """One row per account (never the hash): user_name, role, sign_in, is_disabled, ..."""
    with db.transaction(path) as con:
        return con.sql(store.sql("security_users")).pl()


def has_accounts(path: str | Path) -> bool:
    return list_users(path).height > 0


def authenticate(
    path: str | Path, name: str, password: str, *, client: str = "", now: datetime | None = None
) -> SignIn:
    """Check a local sign-in from ``client`` (an address; "" = unknown), count failures,
    lock out, and audit the attempt. The argon2 check runs outside the store's lock."""
    cfg = security_settings()
    now = now or audit.utcnow()
    name, client = name.strip(), client.strip()
    if not name:
        return SignIn(False, "", reason="enter your user name")
    with db.transaction(path) as con:
        locked_until = _locked_until(con, name, client, now)
        if locked_until is not None:
            audit.append(
                con,
                user=name,
                action="sign_in_refused",
                at=now,
                detail=f"locked until {locked_until:%Y-%m-%d %H:%M} UTC" + _from(client),
            )
            return SignIn(
                False, name, reason="account locked after repeated wrong passwords", locked_until=locked_until
            )
        row = _user_row(con, name)
    too_long = len(password) > cfg.max_password_length
    ok = not too_long and _verify(row[2] if row else None, password)
    with db.transaction(path) as con:
        if ok and row[3]:
            audit.append(con, user=name, role=row[1], action="sign_in_refused", detail="account disabled", at=now)
            return SignIn(False, name, reason="account disabled: ask an admin")
        if ok:
            con.execute("delete from security_lockout where user_name = ? and client in (?, ?)", [name, client, ANY])
            con.execute("update security_users set last_sign_in_at = ? where user_name = ?", [now, name])
            if _HASHER.check_needs_rehash(row[2]):
                con.execute(
                    "update security_users set password_hash = ? where user_name = ?", [_HASHER.hash(password), name]
                )
            audit.append(con, user=name, role=row[1], action="sign_in", detail="local password" + _from(client), at=now)
            return SignIn(True, name, role=row[1], generation=row[4])
        until, counts = _count_failure(con, name, client, now)
        detail = ("password over the length limit" if too_long else "wrong password") + f" ({counts}){_from(client)}"
        if until:
            detail += f"; locked until {until:%Y-%m-%d %H:%M} UTC"
        audit.append(con, user=name, action="sign_in_failed", detail=detail, at=now)
    if too_long:
        return SignIn(
            False,
            name,
            reason=f"password too long: at most {cfg.max_password_length} characters",
            locked_until=until,
        )
    if until:
        minutes = cfg.lockout_minutes
        return SignIn(
            False, name, reason=f"too many wrong passwords: locked for {minutes:g} minutes", locked_until=until
        )
    return SignIn(False, name, reason="wrong user name or password")


def _from(client: str) -> str:
    return f" from {client}" if client else ""


def _keys(name: str, client: str) -> list[tuple[str, str, str]]:
    """(user_name, client, setting of its limit) of the counts a failure from ``client`` adds to."""
    keys = [(name, client, "max_failed_attempts"), (name, ANY, "max_failed_per_name")]
    if client:  # an unknown client has no count of its own (the name's counts still apply)
        keys.append((ANY, client, "max_failed_per_client"))
    return keys


def _locked_until(con: duckdb.DuckDBPyConnection, name: str, client: str, now: datetime) -> datetime | None:
    locks = [
        con.execute(store.sql("security_lock"), {"user_name": user, "client": cli, "now": now}).fetchone()
        for user, cli, _ in _keys(name, client)
    ]
    found = [lock[0] for lock in locks if lock]
    return max(found) if found else None


def _count_failure(
    con: duckdb.DuckDBPyConnection, name: str, client: str, now: datetime
) -> tuple[datetime | None, str]:
    """Add one failure to each count (a count older than the lock-out window, or whose lock
    ran out, starts again); the latest lock any count reached, and the counts as text."""
    cfg = security_settings()
    window = timedelta(minutes=cfg.lockout_minutes)
    until, texts = None, []
    for user, cli, setting in _keys(name, client):
        limit = int(getattr(cfg, setting))
        row = con.execute(store.sql("security_failures"), {"user_name": user, "client": cli}).fetchone()
        failures = row[0] if row and row[2] is None and row[1] > now - window else 0
        failures += 1
        lock = now + window if failures >= limit else None
        con.execute("delete from security_lockout where user_name = ? and client = ?", [user, cli])
        con.execute(
            "insert into security_lockout (user_name, client, failed_attempts, last_failed_at, locked_until) "
            "values (?, ?, ?, ?, ?)",
            [user, cli, failures, now, lock],
        )
        if lock:
            until = lock
        label = {
            "max_failed_attempts": "",
            "max_failed_per_name": " for the name",
            "max_failed_per_client": " from the client",
        }
        texts.append(f"{failures} of {limit}{label[setting]}")
    return until, "; ".join(texts)


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
    default_role = security_settings().oidc_default_role
    with db.transaction(path) as con:
        row = _user_row(con, name)
        if row is not None and row[3]:
            result = SignIn(False, name, role=row[1], reason="account disabled: ask an admin")
        elif row is not None:
            result = SignIn(True, name, role=row[1], generation=row[4])
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
    return result
