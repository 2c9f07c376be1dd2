"""Local accounts: argon2 hashes, wrong passwords counted, lock-out and its expiry, the
first admin, disabled accounts, OIDC identities, and the users command."""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from analytics import cli
from analytics.security import accounts, audit, db

PW = "correct horse battery"
T0 = datetime(2026, 3, 1, 9, 0, 0)


def _audit(warehouse: Path) -> list[tuple]:
    with db.transaction(warehouse) as con:
        return con.execute("select user_name, action, detail from security_audit order by audit_id").fetchall()


def test_first_admin_then_refused(warehouse: Path) -> None:
    assert not accounts.has_accounts(warehouse)
    accounts.create_first_admin(warehouse, "root@example.org", PW)
    assert accounts.has_accounts(warehouse)
    users = accounts.list_users(warehouse)
    assert users.select("user_name", "role", "sign_in").rows() == [("root@example.org", "admin", "password")]
    assert "password_hash" not in users.columns
    with pytest.raises(accounts.AccountError, match="exists already"):
        accounts.create_first_admin(warehouse, "other", PW)


def test_hash_is_salted_argon2_never_the_password(warehouse: Path) -> None:
    accounts.add_user(warehouse, "a", role="planner", password=PW, by="t")
    accounts.add_user(warehouse, "b", role="planner", password=PW, by="t")
    with db.transaction(warehouse) as con:
        hashes = [r[0] for r in con.execute("select password_hash from security_users order by user_name").fetchall()]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1]  # salted
    assert PW.encode() not in db.db_path(warehouse).read_bytes()


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [("x", "planner", "short", "too short"), ("x", "root", PW, "unknown role"), ("a b", "planner", PW, "no spaces"),
     ("", "planner", PW, "user name"), ("x", "planner", " " + PW, "spaces")],
)
def test_add_user_refusals(warehouse: Path, name, role, password, message) -> None:
    with pytest.raises(ValueError, match=message):
        accounts.add_user(warehouse, name, role=role, password=password, by="t")


def test_duplicate_name_refused(warehouse: Path) -> None:
    accounts.add_user(warehouse, "ann", role="billing", password=PW, by="t")
    with pytest.raises(accounts.AccountError, match="exists already"):
        accounts.add_user(warehouse, "ann", role="fraud", password=PW, by="t")
    assert accounts.list_users(warehouse)["role"].to_list() == ["billing"]


def test_sign_in_ok_and_wrong_password(warehouse: Path) -> None:
    accounts.add_user(warehouse, "ann", role="billing", password=PW, by="admin")
    ok = accounts.authenticate(warehouse, "ann", PW, now=T0)
    assert ok.ok and ok.role == "billing"
    bad = accounts.authenticate(warehouse, "ann", PW + "x", now=T0)
    assert not bad.ok and bad.role is None and bad.reason == "wrong user name or password"
    unknown = accounts.authenticate(warehouse, "nobody", PW, now=T0)
    assert unknown.reason == bad.reason  # a refusal does not tell whether the name exists
    log = _audit(warehouse)
    assert [(u, a) for u, a, _ in log] == [
        ("admin", "user_added"), ("ann", "sign_in"), ("ann", "sign_in_failed"), ("nobody", "sign_in_failed"),
    ]
    assert all(PW not in (d or "") for _, _, d in log)


def test_lockout_after_max_failures_and_expiry(warehouse: Path) -> None:
    accounts.add_user(warehouse, "ann", role="support", password=PW, by="t")
    for i in range(4):  # [security] max_failed_attempts = 5
        r = accounts.authenticate(warehouse, "ann", "wrong", now=T0 + timedelta(seconds=i))
        assert not r.ok and r.locked_until is None
    fifth = accounts.authenticate(warehouse, "ann", "wrong", now=T0 + timedelta(seconds=5))
    assert fifth.locked_until == T0 + timedelta(seconds=5, minutes=15)
    # the right password is refused while locked
    locked = accounts.authenticate(warehouse, "ann", PW, now=T0 + timedelta(minutes=10))
    assert not locked.ok and "locked" in locked.reason
    assert accounts.list_users(warehouse)["locked_until"][0] == fifth.locked_until
    # after the lock-out, the count starts again and the right password works
    later = T0 + timedelta(minutes=16)
    assert accounts.authenticate(warehouse, "ann", PW, now=later).ok
    actions = [a for _, a, _ in _audit(warehouse)]
    assert actions.count("sign_in_failed") == 5 and actions[-2:] == ["sign_in_refused", "sign_in"]


def test_success_resets_the_failure_count(warehouse: Path) -> None:
    accounts.add_user(warehouse, "ann", role="support", password=PW, by="t")
    for _ in range(4):
        accounts.authenticate(warehouse, "ann", "wrong", now=T0)
    assert accounts.authenticate(warehouse, "ann", PW, now=T0).ok
    for _ in range(4):
        assert accounts.authenticate(warehouse, "ann", "wrong", now=T0).locked_until is None


def test_disabled_account_refused_even_with_right_password(warehouse: Path) -> None:
    accounts.add_user(warehouse, "ann", role="fraud", password=PW, by="t")
    accounts.set_disabled(warehouse, "ann", disabled=True, by="boss")
    r = accounts.authenticate(warehouse, "ann", PW, now=T0)
    assert not r.ok and "disabled" in r.reason
    accounts.set_disabled(warehouse, "ann", disabled=False, by="boss")
    assert accounts.authenticate(warehouse, "ann", PW, now=T0).ok
    with pytest.raises(accounts.AccountError, match="no user"):
        accounts.set_disabled(warehouse, "ghost", disabled=True, by="boss")


def test_oidc_identity_needs_an_account(warehouse: Path) -> None:
    accounts.add_user(warehouse, "eve@corp.example", role="marketing", password=None, by="t")
    assert accounts.identity_user(warehouse, "eve@corp.example").role == "marketing"
    assert not accounts.identity_user(warehouse, "stranger@corp.example").ok
    # an OIDC-only account has no local password: no password signs it in
    assert not accounts.authenticate(warehouse, "eve@corp.example", "", now=T0).ok
    assert not accounts.authenticate(warehouse, "eve@corp.example", PW, now=T0).ok


def _cli(argv: list[str], monkeypatch, capsys, stdin: str = "") -> tuple[int, dict | None, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_users_command(warehouse: Path, monkeypatch, capsys) -> None:
    wh = ["--warehouse", str(warehouse), "--json"]
    code, out, err = _cli(["users", "add", "ops", "--role", "admin", "--password-stdin", *wh], monkeypatch, capsys, PW + "\n")
    assert code == 0 and out == {"added": "ops", "role": "admin", "sign_in": "password"}
    assert PW not in err
    assert accounts.authenticate(warehouse, "ops", PW).ok
    with pytest.raises(SystemExit):  # argparse refuses a role that does not exist
        _cli(["users", "add", "ops2", "--role", "wizard", "--password-stdin", *wh], monkeypatch, capsys, PW)
    code, out, err = _cli(["users", "add", "ops2", "--role", "planner", *wh], monkeypatch, capsys, PW)
    assert code == 2 and "--password-stdin" in err  # no terminal to prompt on
    code, out, _ = _cli(["users", "disable", "ops", *wh], monkeypatch, capsys)
    assert code == 0 and out == {"disabled": "ops"}
    code, out, _ = _cli(["users", "list", *wh], monkeypatch, capsys)
    assert [(u["user_name"], u["is_disabled"]) for u in out["users"]] == [("ops", True)]
    code, _, err = _cli(["users", "enable", "ghost", *wh], monkeypatch, capsys)
    assert code == 2 and "no user" in err


def test_audit_is_refused_for_unknown_action(warehouse: Path) -> None:
    with db.transaction(warehouse) as con, pytest.raises(ValueError, match="unknown audit action"):
        audit.append(con, user="u", action="edit_log")
    assert isinstance(duckdb.__version__, str)
