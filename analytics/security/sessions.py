"""Signed, expiring sign-in tokens: the session cookie and the one-time hand-over ticket.

A token is ``<payload>.<signature>``: the payload is URL-safe base64 of a small JSON object
(``p`` purpose, ``u`` user name, ``g`` the account's session generation, ``iat`` and
``exp`` in UTC epoch seconds), the signature an HMAC-SHA256 of the payload with the
server's key. :func:`read` refuses a token whose signature does not match (forged or
edited), whose purpose differs, or that has expired; the caller then checks ``g`` against
the account (accounts.session_account): sign-out and disabling raise the generation, which
revokes every token issued before.

Purposes: ``session`` (the HttpOnly cookie, ``[security] session_hours``) and ``ticket``
(handed to the page's script once after a sign-in and exchanged within
:data:`TICKET_SECONDS` by scripts/serve.py for the cookie, so the cookie itself is never
readable by page JavaScript).

The key: ``ANALYTICS_SESSION_KEY`` in the environment, else a random key created once in
``<warehouse>.session_key`` (mode 0600). Replacing the key signs everyone out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from analytics.config import secret
from analytics.security.schema import security_settings

COOKIE = "cdr_session"
TICKET_SECONDS = 60


@dataclass(frozen=True)
class Token:
    user_name: str
    generation: int
    issued_at: int
    expires_at: int


def key_path(warehouse: str | Path) -> Path:
    return Path(f"{warehouse}.session_key")


def _key(warehouse: str | Path) -> bytes:
    configured = secret("session_key")
    if configured:
        return configured.encode()
    path = key_path(warehouse)
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two processes starting at once keep the first one's key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(warehouse: str | Path, payload: str) -> str:
    return _b64(hmac.new(_key(warehouse), payload.encode(), hashlib.sha256).digest())


def issue(
    warehouse: str | Path, user_name: str, generation: int, *, purpose: str = "session", now: float | None = None
) -> str:
    """A signed token for ``user_name`` at session ``generation``."""
    now = int(now if now is not None else time.time())
    life = TICKET_SECONDS if purpose == "ticket" else int(security_settings().session_hours * 3600)
    body = {"p": purpose, "u": user_name, "g": int(generation), "iat": now, "exp": now + life}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(warehouse, payload)}"


def max_age(purpose: str = "session") -> int:
    return TICKET_SECONDS if purpose == "ticket" else int(security_settings().session_hours * 3600)


def read(
    warehouse: str | Path, token: str | None, *, purpose: str = "session", now: float | None = None
) -> Token | None:
    """The token's content when its signature, purpose and expiry hold; else None."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096:
        return None
    payload, signature = token.split(".")
    if not hmac.compare_digest(signature, _sign(warehouse, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
        user, generation, issued, expires = str(body["u"]), int(body["g"]), int(body["iat"]), int(body["exp"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    now = now if now is not None else time.time()
    if body.get("p") != purpose or not issued - 60 <= now < expires:
        return None
    return Token(user, generation, issued, expires)


def exchange_ticket(warehouse: str | Path, ticket: str | None, *, now: float | None = None) -> str | None:
    """The session cookie's value for a good hand-over ticket (signature, expiry, and the
    account still enabled at the ticket's generation); None otherwise."""
    from analytics.security import accounts  # noqa: PLC0415 - accounts does not need this module

    token = read(warehouse, ticket, purpose="ticket", now=now)
    if token is None or accounts.session_account(warehouse, token.user_name, token.generation) is None:
        return None
    return issue(warehouse, token.user_name, token.generation, now=now)
