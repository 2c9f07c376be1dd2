"""The audit log: appends with user, time, action, detail; filters; no code path that
updates or deletes it; the detail of a subscriber lookup."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from analytics.security import audit, db

ROOT = Path(__file__).resolve().parent.parent


def test_append_and_read(warehouse: Path) -> None:
    assert audit.read_log(warehouse).height == 0  # no warehouse yet: empty, with its schema
    audit.record(warehouse, user="ann", role="billing", action="lookup", detail="subscriber=447700900001")
    with db.transaction(warehouse) as con:
        audit.append(con, user="bob", role="fraud", action="export", detail="fraud_queue.csv\x07\n", at=datetime(2020, 1, 1))
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
    files = [ROOT / "app.py", *(ROOT / "analytics").rglob("*.py"), *(ROOT / "analytics").rglob("*.sql"),
             *(ROOT / "pages").rglob("*.py")]
    return [f for f in files if f.is_file()]


def test_no_code_path_edits_the_audit_log() -> None:
    offenders = [str(f.relative_to(ROOT)) for f in _product_files() if FORBIDDEN.search(f.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_scan_would_catch_an_edit() -> None:
    for stmt in ("UPDATE security_audit SET detail = ''", "delete  from security_audit where 1",
                 "drop table if exists security_audit", "truncate security_audit"):
        assert FORBIDDEN.search(stmt), stmt


def test_only_audit_module_writes_the_table() -> None:
    writers = [str(f.relative_to(ROOT)) for f in _product_files()
               if re.search(r"insert\s+into\s+security_audit", f.read_text(encoding="utf-8"), re.IGNORECASE)]
    assert writers == ["analytics/security/audit.py"]


@pytest.mark.parametrize("action", ["sign_in", "lookup", "unmask", "export", "retention"])
def test_issue_actions_are_known(action: str) -> None:
    assert action in audit.ACTIONS
