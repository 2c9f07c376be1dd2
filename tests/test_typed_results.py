"""Typed results that pages read: each TypedDict names exactly the keys its function returns
(a key added or dropped on one side fails here, not on a page)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from conftest import record, write_v1

from analytics import store
from analytics.billing.reconcile import BillingReport, month_report
from analytics.dashboard.executive import ExecutiveReport
from analytics.dashboard.executive import month_report as executive_report
from analytics.ingest import FileSummary, IngestSummary, ingest_files
from analytics.ingest.load import FileResult
from analytics.marketing.report import SegmentReport, segment_report
from analytics.marts import MartsRefresh, StoredSegments, refresh_marts, stored_segment_report
from analytics.security.retention import RetentionReport, RetentionTable, run_retention

MARCH = dt.date(2026, 3, 1)


def _keys(kind: type) -> tuple[frozenset[str], frozenset[str]]:
    return kind.__required_keys__, kind.__optional_keys__


def _matches(value: dict, kind: type) -> None:
    required, optional = _keys(kind)
    assert required <= set(value), f"missing: {sorted(required - set(value))}"
    assert set(value) <= required | optional, f"untyped: {sorted(set(value) - required - optional)}"


def test_file_summary_names_every_field_of_a_file_result() -> None:
    assert set(FileSummary.__annotations__) == {f.name for f in dataclasses.fields(FileResult)}


def test_the_results_of_one_load_are_their_typed_dicts(tmp_path: Path, refs: dict[str, Path], warehouse: Path) -> None:
    rows = [record(record_id=f"r{i}", start_time=f"2026-03-{10 + i}T12:00:00Z") for i in range(3)]
    rows.append(record(record_id="bad", msisdn=""))
    path = write_v1(tmp_path / "cdr.csv", rows)
    summary = ingest_files([path], warehouse=warehouse, **refs)
    _matches(summary, IngestSummary)
    _matches(summary["files"][0], FileSummary)
    refreshed = refresh_marts(warehouse)
    _matches(refreshed, MartsRefresh)
    assert MartsRefresh.__optional_keys__ == set(refreshed)  # all of them when fraud ran
    with store.reader(warehouse) as con:
        _matches(month_report(con, MARCH), BillingReport)
        _matches(executive_report(con, "2026-03"), ExecutiveReport)
        stored = stored_segment_report(con, MARCH)
        _matches(stored, StoredSegments)
        assert stored["status"] == "current"
        _matches(stored["report"], SegmentReport)
        _matches(segment_report(con, month=MARCH), SegmentReport)
        _matches(stored_segment_report(con, dt.date(2020, 1, 1)), StoredSegments)
    preview = run_retention(warehouse, 120, by="tester", dry_run=True, as_of=dt.date(2026, 4, 1))
    _matches(preview, RetentionReport)
    assert "report_file" not in preview
    for table in preview["tables"]:
        _matches(table, RetentionTable)
    done = run_retention(warehouse, 120, by="tester", as_of=dt.date(2026, 4, 1))
    _matches(done, RetentionReport)
    assert Path(done["report_file"]).exists()
