"""Sign-in tokens (analytics/security/sessions.py): signed, expiring, purpose-bound, and
revoked by sign-out or disabling through the account's session generation (#17.3)."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from analytics.security import accounts, sessions

PW = "correct horse battery"


@pytest.fixture
def ann(warehouse: Path) -> Path:
    accounts.add_user(warehouse, "ann", role="billing", password=PW, by="t")
    return warehouse


def _token(warehouse: Path) -> str:
    result = accounts.authenticate(warehouse, "ann", PW)
    assert result.ok
    return sessions.issue(warehouse, "ann", result.generation)


def test_a_good_token_reads_back(ann: Path) -> None:
    token = sessions.read(ann, _token(ann))
    assert token is not None and token.user_name == "ann"
    assert token.expires_at - token.issued_at == 12 * 3600  # [security] session_hours
    assert accounts.session_account(ann, "ann", token.generation) == "billing"


def test_an_edited_or_foreign_token_is_refused(ann: Path, monkeypatch) -> None:
    payload, signature = _token(ann).split(".")
    body = json.loads(sessions._unb64(payload))
    for forged in (
        sessions._b64(json.dumps({**body, "u": "root"}).encode()) + "." + signature,  # another name, same signature
        sessions._b64(json.dumps({**body, "exp": body["exp"] + 10**6}).encode()) + "." + signature,  # a longer life
        payload + "." + signature[:-1],
        payload,
        "",
        None,
    ):
        assert sessions.read(ann, forged) is None, forged
    monkeypatch.setenv("ANALYTICS_SESSION_KEY", "another server's key")
    assert sessions.read(ann, payload + "." + signature) is None


def test_an_expired_token_is_refused(ann: Path) -> None:
    t0 = time.time()
    token = sessions.issue(ann, "ann", 0, now=t0)
    assert sessions.read(ann, token, now=t0 + 12 * 3600 - 1) is not None
    assert sessions.read(ann, token, now=t0 + 12 * 3600) is None
    ticket = sessions.issue(ann, "ann", 0, purpose="ticket", now=t0)
    assert sessions.read(ann, ticket, purpose="ticket", now=t0 + 59) is not None
    assert sessions.read(ann, ticket, purpose="ticket", now=t0 + 61) is None


def test_a_ticket_is_not_a_session_nor_the_reverse(ann: Path) -> None:
    ticket = sessions.issue(ann, "ann", 0, purpose="ticket")
    assert sessions.read(ann, ticket) is None
    assert sessions.read(ann, sessions.issue(ann, "ann", 0), purpose="ticket") is None
    cookie = sessions.exchange_ticket(ann, ticket)
    assert sessions.read(ann, cookie).user_name == "ann"


def test_sign_out_and_disabling_revoke(ann: Path) -> None:
    token = sessions.read(ann, _token(ann))
    accounts.end_sessions(ann, "ann")  # sign-out
    assert accounts.session_account(ann, "ann", token.generation) is None
    token = sessions.read(ann, _token(ann))  # a new sign-in: the new generation
    ticket = sessions.issue(ann, "ann", token.generation, purpose="ticket")
    accounts.set_disabled(ann, "ann", disabled=True, by="boss")
    assert accounts.session_account(ann, "ann", token.generation) is None
    assert sessions.exchange_ticket(ann, ticket) is None
    accounts.set_disabled(ann, "ann", disabled=False, by="boss")
    assert accounts.session_account(ann, "ann", token.generation) is None  # enabling does not revive it
    assert accounts.session_account(ann, "nobody", 0) is None


def test_the_key_file_is_private_and_kept(ann: Path, monkeypatch) -> None:
    monkeypatch.delenv("ANALYTICS_SESSION_KEY", raising=False)
    token = sessions.issue(ann, "ann", 0)
    key = sessions.key_path(ann)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sessions.read(ann, token) is not None  # the same key on the next read (and after a restart)
