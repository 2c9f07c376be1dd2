"""The audit log: appends with user, time, action, detail; filters; no code path that
updates or deletes it; the detail of a subscriber lookup."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from analytics import cli
from analytics.security import audit, db

ROOT = Path(__file__).resolve().parent.parent


def test_append_and_read(warehouse: Path) -> None:
    assert audit.read_log(warehouse).height == 0  # no warehouse yet: empty, with its schema
    audit.record(warehouse, user="ann", role="billing", action="lookup", detail="subscriber=447700900001")
    with db.transaction(warehouse) as con:
        audit.append(
            con, user="bob", role="fraud", action="export", detail="fraud_queue.csv\x07\n", at=datetime(2020, 1, 1)
        )
    log = audit.read_log(warehouse)
    assert log["user_name"].to_list() == ["bob", "ann"]  # newest first
    assert log["detail"].to_list() == ["fraud_queue.csv  ", "subscriber=447700900001"]  # control characters cut
    assert log["event_at"][0] == datetime(2020, 1, 1) and log["event_at"][1] > datetime(2025, 1, 1)
    assert audit.read_log(warehouse, user="ann")["action"].to_list() == ["lookup"]
    assert audit.read_log(warehouse, action="export")["user_name"].to_list() == ["bob"]
    assert audit.read_log(warehouse, since=datetime(2021, 1, 1)).height == 1
    assert audit.read_log(warehouse, limit=1).height == 1


def test_detail_is_bounded(warehouse: Path) -> None:
    audit.record(warehouse, user="u", action="export", detail="x" * 10_000)
    assert len(audit.read_log(warehouse)["detail"][0]) == audit.MAX_DETAIL


def test_lookup_detail() -> None:
    name = "analytics.billing.explain.subscriber_view"
    assert audit.lookup_detail(name, ("447700900001", "2026-03-01")) == (
        "subscriber=447700900001 via subscriber_view(2026-03-01)"
    )
    assert audit.lookup_detail("analytics.dashboard.bounds", ()) is None
    assert audit.lookup_detail(name, ()) is None


# Statements that would change audit rows: update/delete/truncate/drop/alter/replace.
FORBIDDEN = re.compile(
    r"(update\s+security_audit|delete\s+from\s+security_audit|truncate\s+(table\s+)?security_audit|"
    r"drop\s+table\s+(if\s+exists\s+)?security_audit|alter\s+table\s+security_audit|"
    r"create\s+or\s+replace\s+table\s+security_audit|insert\s+or\s+replace\s+into\s+security_audit)",
    re.IGNORECASE,
)


def _product_files() -> list[Path]:
    files = [
        ROOT / "app.py",
        *(ROOT / "analytics").rglob("*.py"),
        *(ROOT / "analytics").rglob("*.sql"),
        *(ROOT / "pages").rglob("*.py"),
    ]
    return [f for f in files if f.is_file()]


def test_no_code_path_edits_the_audit_log() -> None:
    offenders = [str(f.relative_to(ROOT)) for f in _product_files() if FORBIDDEN.search(f.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_scan_would_catch_an_edit() -> None:
    for stmt in (
        "UPDATE security_audit SET detail = ''",
        "delete  from security_audit where 1",
        "drop table if exists security_audit",
        "truncate security_audit",
    ):
        assert FORBIDDEN.search(stmt), stmt


def test_only_audit_module_writes_the_table() -> None:
    writers = [
        str(f.relative_to(ROOT))
        for f in _product_files()
        if re.search(r"insert\s+into\s+security_audit", f.read_text(encoding="utf-8"), re.IGNORECASE)
    ]
    assert writers == ["analytics/security/audit.py"]


@pytest.mark.parametrize("action", ["sign_in", "lookup", "unmask", "export", "retention"])
def test_issue_actions_are_known(action: str) -> None:
    assert action in audit.ACTIONS


# --- #19.9: a hash chain over the log, checked by `python -m analytics audit verify` ----------


def _events(warehouse: Path, n: int = 4) -> None:
    for i in range(n):
        audit.record(warehouse, user=f"u{i}", role="billing", action="lookup", detail=f"subscriber=4477009000{i:02d}")


def _verify_cli(warehouse: Path, capsys) -> tuple[int, dict]:
    code = cli.main(["audit", "verify", "--warehouse", str(warehouse), "--json"])
    return code, json.loads(capsys.readouterr().out)


def _tamper(warehouse: Path, statement: str) -> None:
    """What someone with the file could do outside the app."""
    con = duckdb.connect(str(db.db_path(warehouse)))
    try:
        con.execute(statement)
    finally:
        con.close()


def test_an_intact_log_verifies(warehouse: Path, capsys) -> None:
    _events(warehouse)
    code, out = _verify_cli(warehouse, capsys)
    assert code == 0 and out["ok"] and out["rows"] == 4 and len(out["head"]) == 64


@pytest.mark.parametrize(
    ("statement", "bad_id"),
    [
        ("update security_audit set detail = 'subscriber=nobody' where audit_id = 2", 2),  # an edited row
        ("delete from security_audit where audit_id = 2", 3),  # a removed row
        ("update security_audit set event_at = event_at + interval 1 hour where audit_id = 3", 3),
        ("update security_audit set audit_id = audit_id + 10 where audit_id = 4", 14),
    ],
)
def test_a_tampered_log_is_reported(warehouse: Path, capsys, statement: str, bad_id: int) -> None:
    _events(warehouse)
    _tamper(warehouse, statement)
    code, out = _verify_cli(warehouse, capsys)
    assert code == 1 and not out["ok"] and out["first_bad_id"] == bad_id, out


def test_rehashing_an_edited_row_still_breaks_the_chain(warehouse: Path, capsys) -> None:
    _events(warehouse)
    with db.transaction(warehouse) as con:
        prev, at, user, role, action = con.execute(
            "select prev_hash, event_at, user_name, role, action from security_audit where audit_id = 2"
        ).fetchone()
    forged = audit.row_hash(prev, 2, at, user, role, action, "subscriber=nobody")
    _tamper(
        warehouse, f"update security_audit set detail = 'subscriber=nobody', row_hash = '{forged}' where audit_id = 2"
    )
    code, out = _verify_cli(warehouse, capsys)
    assert code == 1 and out["first_bad_id"] == 3  # the next row still links to the old hash


def test_append_on_a_warehouse_connection_still_lands_in_the_security_store(warehouse: Path) -> None:
    """Callers written when the log was a warehouse table keep working (retention did this)."""
    import threading

    from analytics import store

    def old_caller() -> None:  # the store's first open happens under the warehouse's writer lock
        with store.writer(warehouse, publish=False) as con:
            audit.append(con, user="old_caller", action="export", detail="x.csv")
            assert not store.has_table(con, "security_audit")

    thread = threading.Thread(target=old_caller, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "deadlock: the first open waited for the lock its caller holds"
    assert audit.read_log(warehouse)["user_name"].to_list() == ["old_caller"]
    assert audit.verify(warehouse)["ok"]
