"""Local accounts: argon2 hashes, wrong passwords counted, lock-out and its expiry, the
first admin, disabled accounts, OIDC identities, and the users command."""

from __future__ import annotations

import getpass
import io
import json
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from analytics import cli, store
from analytics.config import with_options
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
    [
        ("x", "planner", "short", "too short"),
        ("x", "root", PW, "unknown role"),
        ("a b", "planner", PW, "no spaces"),
        ("", "planner", PW, "user name"),
        ("x", "planner", " " + PW, "spaces"),
    ],
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
        ("admin", "user_added"),
        ("ann", "sign_in"),
        ("ann", "sign_in_failed"),
        ("nobody", "sign_in_failed"),
    ]
    assert all(PW not in (d or "") for _, _, d in log)


@pytest.mark.slow
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


@pytest.mark.slow
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
    code, out, err = _cli(
        ["users", "add", "ops", "--role", "admin", "--password-stdin", *wh], monkeypatch, capsys, PW + "\n"
    )
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


# --- #19.10: per-client limits, the admin's recovery path, the password length cap --------------


@pytest.mark.slow
def test_one_client_cannot_lock_a_name_out_for_the_others(warehouse: Path) -> None:
    accounts.add_user(warehouse, "root", role="admin", password=PW, by="t")
    for i in range(5):
        accounts.authenticate(warehouse, "root", "wrong", client="203.0.113.9", now=T0 + timedelta(seconds=i))
    at = T0 + timedelta(minutes=1)
    mine = accounts.authenticate(warehouse, "root", PW, client="203.0.113.9", now=at)
    assert not mine.ok and "locked" in mine.reason  # lock-out still applies, to that client
    assert accounts.authenticate(warehouse, "root", PW, client="198.51.100.7", now=at).ok  # the admin elsewhere


def _limits(monkeypatch, **overrides: int) -> None:
    """``[security]`` with smaller limits (each failure costs an argon2 check: keep tests short)."""
    configured = accounts.security_settings
    monkeypatch.setattr(accounts, "security_settings", lambda: with_options(configured(), overrides))


@pytest.mark.slow
def test_one_client_spraying_many_names_is_locked(warehouse: Path, monkeypatch) -> None:
    _limits(monkeypatch, max_failed_per_client=8)
    accounts.add_user(warehouse, "ann", role="billing", password=PW, by="t")
    for i in range(8):  # max_failed_per_client, 2 tries per name: no name reaches its own 5
        accounts.authenticate(warehouse, f"guess{i // 2}", "wrong", client="203.0.113.9", now=T0)
    refused = accounts.authenticate(warehouse, "ann", PW, client="203.0.113.9", now=T0 + timedelta(minutes=1))
    assert not refused.ok and "locked" in refused.reason
    assert accounts.authenticate(warehouse, "ann", PW, client="198.51.100.7", now=T0 + timedelta(minutes=1)).ok
    assert accounts.authenticate(warehouse, "ann", PW, client="203.0.113.9", now=T0 + timedelta(minutes=16)).ok


@pytest.mark.slow
def test_guessing_from_many_clients_locks_the_name(warehouse: Path, monkeypatch) -> None:
    _limits(monkeypatch, max_failed_per_name=6)
    accounts.add_user(warehouse, "root", role="admin", password=PW, by="t")
    for i in range(5):  # one try per address
        accounts.authenticate(warehouse, "root", "wrong", client=f"10.0.0.{i}", now=T0)
    assert accounts.authenticate(warehouse, "root", PW, client="198.51.100.7", now=T0).ok  # 5 of 6: open
    for i in range(6):
        accounts.authenticate(warehouse, "root", "wrong", client=f"10.0.1.{i}", now=T0)
    assert not accounts.authenticate(warehouse, "root", PW, client="198.51.100.7", now=T0).ok


@pytest.mark.slow
def test_unlock_is_the_admins_recovery_path(warehouse: Path, monkeypatch, capsys) -> None:
    accounts.add_user(warehouse, "root", role="admin", password=PW, by="t")
    for _ in range(5):
        accounts.authenticate(warehouse, "root", "wrong")
    assert not accounts.authenticate(warehouse, "root", PW).ok
    code, out, _ = _cli(["users", "unlock", "root", "--warehouse", str(warehouse), "--json"], monkeypatch, capsys)
    assert code == 0 and out["unlocked"] == "root" and out["rows_cleared"] >= 1
    assert accounts.authenticate(warehouse, "root", PW).ok
    assert audit.read_log(warehouse, action="user_unlocked").height == 1


def test_an_overlong_password_is_refused_before_hashing(warehouse: Path) -> None:
    accounts.add_user(warehouse, "ann", role="billing", password=PW, by="t")
    with pytest.raises(accounts.AccountError, match="too long"):
        accounts.add_user(warehouse, "bob", role="billing", password="x" * 257, by="t")
    t0 = time.perf_counter()
    result = accounts.authenticate(warehouse, "ann", "x" * 1_000_000)
    seconds = time.perf_counter() - t0
    assert not result.ok and "too long" in result.reason
    assert seconds < 1.5, seconds  # argon2id of 1 MB took ~3 s; the refusal ~0.2 s (store writes), ~0.5 s loaded
    assert audit.read_log(warehouse, action="sign_in_failed").height == 1  # still counted


def test_an_empty_name_is_refused_without_counting(warehouse: Path) -> None:
    result = accounts.authenticate(warehouse, "  ", PW)
    assert not result.ok and result.reason == "enter your user name"
    assert audit.read_log(warehouse).height == 0


# --- #19.7: sign-in does not wait on the warehouse's writer ------------------------------------


@pytest.mark.slow
def test_sign_in_does_not_wait_for_a_data_load(warehouse: Path) -> None:
    accounts.add_user(warehouse, "ann", role="billing", password=PW, by="t")
    holding, release = threading.Event(), threading.Event()

    def load() -> None:  # a long load: the warehouse's writer lock held
        with store.writer(warehouse, publish=False):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        assert holding.wait(30)
        t0 = time.perf_counter()
        assert not accounts.authenticate(warehouse, "ann", "wrong").ok  # a failure is counted...
        assert accounts.authenticate(warehouse, "ann", PW).ok  # ...and a sign-in made
        assert accounts.has_accounts(warehouse)
        audit.record(warehouse, user="ann", action="lookup", detail="x")
        seconds = time.perf_counter() - t0
        assert thread.is_alive()  # all while the writer still holds its lock
    finally:
        release.set()
        thread.join()
    assert seconds < 10, seconds


LEGACY = """
create table security_users (user_name varchar not null, role varchar not null, password_hash varchar,
    is_disabled boolean not null default false, created_at timestamp not null, created_by varchar not null,
    last_sign_in_at timestamp);
create table security_lockout (user_name varchar not null, failed_attempts integer not null,
    last_failed_at timestamp not null, locked_until timestamp);
create sequence security_audit_seq;
create table security_audit (audit_id bigint not null default nextval('security_audit_seq'), event_at timestamp not null,
    user_name varchar not null, role varchar, action varchar not null, detail varchar);
"""


@pytest.mark.slow
def test_a_warehouse_with_the_old_tables_is_copied_on_first_open(warehouse: Path) -> None:
    hashed = accounts._HASHER.hash(PW)
    with store.writer(warehouse, publish=False) as con:
        con.execute(LEGACY)
        con.execute("insert into security_users values ('old', 'fraud', ?, false, ?, 'os:x', null)", [hashed, T0])
        con.execute("insert into security_users values ('gone', 'billing', ?, true, ?, 'os:x', null)", [hashed, T0])
        con.execute("insert into security_lockout values ('locked', 0, ?, ?)", [T0, T0 + timedelta(days=3650)])
        for i, action in enumerate(("user_added", "sign_in", "lookup")):
            con.execute(
                "insert into security_audit (event_at, user_name, role, action, detail) values (?, 'old', "
                "'fraud', ?, ?)",
                [T0 + timedelta(minutes=i), action, f"event {i}"],
            )
    assert not db.db_path(warehouse).exists()
    assert accounts.list_users(warehouse)["user_name"].to_list() == ["gone", "old"]
    assert accounts.authenticate(warehouse, "old", PW).role == "fraud"
    assert "disabled" in accounts.authenticate(warehouse, "gone", PW).reason
    assert "locked" in accounts.authenticate(warehouse, "locked", PW).reason
    log = audit.read_log(warehouse)["detail"].to_list()[::-1]
    assert log[:3] == ["event 0", "event 1", "event 2"]  # in their old order, then the new events
    assert audit.verify(warehouse)["ok"]
    accounts.add_user(warehouse, "new", role="planner", password=PW, by="t")  # copied once, not again
    assert accounts.list_users(warehouse)["user_name"].to_list() == ["gone", "new", "old"]


def test_users_by_records_the_os_user_beside_the_claimed_name(warehouse: Path, monkeypatch, capsys) -> None:
    wh = ["--warehouse", str(warehouse), "--json"]
    code, _, _ = _cli(
        ["users", "add", "eve", "--role", "admin", "--by", "root", "--password-stdin", *wh],
        monkeypatch,
        capsys,
        PW + "\n",
    )
    assert code == 0
    actor = audit.read_log(warehouse, action="user_added")["user_name"][0]
    assert actor == f"os:{getpass.getuser()} (claims: root)"
    assert accounts.list_users(warehouse)["created_by"][0] == actor
