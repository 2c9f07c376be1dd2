"""Retention: a dry run changes nothing, a real run deletes record-level rows before the
cutoff and keeps the cubes; compliance report and audit rows; the command's JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
import security_world

from analytics import cli, store
from analytics.security import audit as audit_log
from analytics.security import retention

CUBES = ("usage_hourly_cell", "usage_daily_region", "usage_monthly_region", "subscriber_month")


def _state(warehouse: Path) -> dict:
    with store.reader(warehouse) as con:
        cubes = {t: store.fetch(con, f"select * from {t} order by all") for t in CUBES}  # noqa: S608
        counts = {t: store.scalar(con, f"select count(*) from {t}") for t in ("records", "quarantine", "duplicates")}  # noqa: S608
        ids = sorted(r[0] for r in con.execute("select record_id from records").fetchall())
    audit = audit_log.read_log(warehouse).select("user_name", "action", "detail").rows()[::-1]  # the security store
    return {"cubes": cubes, "counts": counts, "ids": ids, "audit": audit}


@pytest.fixture
def world(tmp_path: Path, refs, warehouse: Path) -> Path:
    return security_world.build(tmp_path, refs, warehouse)


@pytest.mark.parametrize(
    ("keep", "as_of", "tz", "cutoff"),
    [
        (1, date(2026, 3, 20), "UTC", datetime(2026, 2, 1)),
        (2, date(2026, 3, 1), "UTC", datetime(2026, 1, 1)),
        (12, date(2026, 1, 31), "UTC", datetime(2025, 1, 1)),
        (1, date(2026, 4, 10), "Europe/Paris", datetime(2026, 2, 28, 23, 0)),  # local midnight, UTC+1
        (1, date(2026, 5, 2), "Europe/Paris", datetime(2026, 3, 31, 22, 0)),
    ],  # after the DST change: UTC+2
)
def test_cutoff(keep, as_of, tz, cutoff) -> None:
    assert retention.cutoff_for(keep, as_of=as_of, timezone=tz) == cutoff


def test_cutoff_needs_a_month() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        retention.cutoff_for(0, as_of=date(2026, 3, 1), timezone="UTC")


def test_dry_run_deletes_nothing(world: Path) -> None:
    before = _state(world)
    report = retention.run_retention(world, 1, by="dpo", dry_run=True, as_of=date(2026, 3, 20))
    after = _state(world)
    for t in CUBES:
        assert after["cubes"][t].equals(before["cubes"][t])
    assert after["counts"] == before["counts"] and after["ids"] == before["ids"]
    rows = {t["table"]: t["rows_older_than_cutoff"] for t in report["tables"]}
    # before 2026-02-01: r0 (Jan 5) and r1 (Jan 20); the duplicate of r0 (Jan 5); the quarantined row
    # ages by its own record time (Jan 6), not by its load's (today)
    assert rows["records"] == 2 and rows["duplicates"] == 1 and rows["quarantine"] == 1
    assert report["rows_deleted"] == 0 and report["rows_to_delete"] == 4 and "report_file" not in report
    assert after["audit"][-1][:2] == ("dpo", "retention_dry_run")
    assert not (world.parent / "reports").exists()


def test_run_deletes_old_records_and_keeps_cubes(world: Path) -> None:
    before = _state(world)
    report = retention.run_retention(world, 1, by="dpo", as_of=date(2026, 3, 20))
    after = _state(world)
    for t in CUBES:  # the aggregated history is untouched, January included
        assert after["cubes"][t].equals(before["cubes"][t]), t
    assert after["ids"] == ["r2", "r3", "r4", "r5"]
    assert after["counts"]["duplicates"] == 0 and after["counts"]["quarantine"] == 0
    assert report["rows_deleted"] == 4
    saved = json.loads(Path(report["report_file"]).read_text())
    assert Path(report["report_file"]).parent == world.parent / "reports"
    assert saved["run_by"] == "dpo" and saved["cutoff_at"] == "2026-02-01T00:00:00Z"
    assert {t["table"]: t["rows_deleted"] for t in saved["tables"]} == {"records": 2, "duplicates": 1, "quarantine": 1}
    assert "usage_daily_region" in saved["kept"] and "security_audit" in saved["kept"]
    user, action, detail = after["audit"][-1]
    assert (user, action) == ("dpo", "retention") and "records=2" in detail
    with store.reader(world) as con:
        assert retention.retained_from(con) == datetime(2026, 2, 1)
    # the snapshot the dashboard reads is republished without the deleted records
    snap = store.snapshot_reader(world)
    try:
        assert store.scalar(snap, "select count(*) from records") == 4
    finally:
        snap.close()
    # a second run finds nothing more to delete
    assert retention.run_retention(world, 1, by="dpo", as_of=date(2026, 3, 20))["rows_deleted"] == 0


def test_everything_kept_when_all_is_recent(world: Path) -> None:
    report = retention.run_retention(world, 6, by="dpo", as_of=date(2026, 3, 20))
    assert report["rows_deleted"] == 0 and _state(world)["counts"]["records"] == 6


def test_retained_from_is_none_before_any_run(world: Path) -> None:
    with store.reader(world) as con:
        assert retention.retained_from(con) is None


def test_retention_command_json(world: Path, capsys) -> None:
    args = [
        "retention",
        "--warehouse",
        str(world),
        "--keep-months",
        "2",
        "--as-of",
        "2026-03-20",
        "--json",
        "--by",
        "ops",
    ]
    assert cli.main([*args, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True and dry["rows_to_delete"] == 0  # nothing before 2026-01-01
    assert cli.main([*args[:4], "1", *args[5:]]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows_deleted"] == 4 and Path(out["report_file"]).exists()
    assert cli.main(["retention", "--warehouse", str(world), "--keep-months", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert cli.main(["retention", "--warehouse", str(world.parent / "none.duckdb"), "--keep-months", "1"]) == 2


def test_every_copy_older_than_the_cutoff_goes(world: Path, tmp_path: Path) -> None:
    """#19.8: reconciliation mismatches are deleted and reported; a re-delivered old record is
    quarantined without its raw values; no older snapshot or retired lake file keeps a row."""
    from conftest import record, write_v1

    from analytics import lake
    from analytics.billing import refresh_reconciliation
    from analytics.ingest import ingest_files

    with store.writer(world) as con:
        refresh_reconciliation(con)
        n_old = store.scalar(con, "select count(*) from reconcile_mismatches where start_at < '2026-02-01'")
    report = retention.run_retention(world, 1, by="dpo", as_of=date(2026, 3, 20))
    tables = {t["table"]: t for t in report["tables"]}
    assert "reconcile_mismatches" in tables and tables["reconcile_mismatches"]["rows_deleted"] == n_old
    with store.reader(world) as con:
        assert store.scalar(con, "select count(*) from reconcile_mismatches where start_at < '2026-02-01'") == 0
        assert store.scalar(con, "select count(*) from rated_records where start_at < '2026-02-01'") == 0
    # only the current snapshot is left, and no lake file outside the table
    assert len(list(world.parent.glob(f"{world.name}.snap-*[0-9]"))) == 1
    with store.reader(world) as con:
        named = {r[0] for r in con.execute("select path from lake_files").fetchall()}
        assert store.scalar(con, "select count(*) from lake_retired") == 0
    on_disk = {
        p.relative_to(lake.table_dir(world, t)).as_posix()
        for t in lake.SCHEMAS
        for p in lake.table_dir(world, t).glob("month=*/*.parquet")
    }
    assert on_disk <= named
    # the old record delivered again: quarantined, without its numbers
    again = write_v1(
        tmp_path / "again.csv",
        [
            record(
                record_id="old1",
                start_time="2026-01-07T10:00:00Z",
                msisdn=security_world.NUMBERS[1],
                imsi="234150000009999",
            )
        ],
    )
    out = ingest_files([again], warehouse=world)
    assert out["rejects_by_reason"] == {"before_retention:start_time": 1}
    with store.reader(world) as con:
        raw = store.scalar(con, "select raw from quarantine where reason = 'before_retention:start_time'")
    assert security_world.NUMBERS[1] not in raw and "234150000009999" not in raw
    assert json.loads(raw) == {"start_time": "2026-01-07T10:00:00Z"}
