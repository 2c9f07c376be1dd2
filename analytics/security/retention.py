"""Retention: delete record-level data older than N months, keep the aggregated cubes.

The cutoff is the first local midnight (``settings().timezone``) of the month N months
before the month of ``as_of``: with N = 3 on 2026-05-15 everything before 2026-02-01
goes, so N whole months plus the running one are kept. Record-level tables and how a
row's age is read (analytics/sql/security_retention.sql):

* ``records``, ``rated_records``: ``start_at``;
* ``duplicates``: ``start_at`` (the load's start when the row has none);
* ``quarantine``: the start of the load that set the row aside (a bad row may have no
  readable time).

The cubes (``usage_*``, ``subscriber_month`` and its helper
``month_subscriber_regions``), reference data, the load manifest,
fraud alerts, dispute notes and the audit log are kept. Each executed run is stored in
``security_retention_runs`` (its cutoff lets ingest refuse records from the purged
period), written to a JSON compliance report and, once committed, appended to the audit
log (the security store).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import duckdb

from analytics import lake, store
from analytics.config import settings
from analytics.security import audit
from analytics.security.schema import ensure_retention_schema, security_settings

log = logging.getLogger(__name__)

# Record-level tables in deletion order; a table that does not exist is skipped.
RECORD_TABLES: tuple[str, ...] = ("rated_records", "reconcile_mismatches", "records", "duplicates", "quarantine")
KEPT_TABLES: tuple[str, ...] = (
    "usage_hourly_cell",
    "usage_daily_region",
    "usage_monthly_region",
    "subscriber_month",
    "month_subscriber_regions",
    "loads",
    "cells",
    "plans",
    "subscribers",
    "security_audit",
)


@lru_cache(maxsize=1)
def statements() -> dict[str, str]:
    """The named blocks of security_retention.sql."""
    text = store.sql("security_retention")
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def cutoff_for(keep_months: int, *, as_of: date, timezone: str) -> datetime:
    """UTC (naive) instant of the local midnight starting the oldest kept month."""
    if keep_months < 1:
        raise ValueError("keep-months must be at least 1")
    index = as_of.year * 12 + (as_of.month - 1) - keep_months
    local = datetime(index // 12, index % 12 + 1, 1, tzinfo=ZoneInfo(timezone))
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@dataclass
class RetentionPlan:
    keep_months: int
    cutoff_at: datetime
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # table -> {rows, oldest_at}

    @property
    def total(self) -> int:
        return sum(int(t["rows"]) for t in self.tables.values())


def _existing(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_name from information_schema.tables").fetchall()
    return {r[0] for r in rows}


def plan(con: duckdb.DuckDBPyConnection, keep_months: int, *, as_of: date) -> RetentionPlan:
    """What a run would delete: rows and oldest time per record-level table."""
    result = RetentionPlan(keep_months, cutoff_for(keep_months, as_of=as_of, timezone=settings().timezone))
    existing = _existing(con)
    for table in RECORD_TABLES:
        if table not in existing:
            continue
        n, oldest = con.execute(statements()[f"count_{table}"], {"cutoff": result.cutoff_at}).fetchone()
        result.tables[table] = {"rows": int(n), "oldest_at": oldest}
    return result


def reports_dir(warehouse: Path) -> Path:
    configured = security_settings().reports_dir
    return Path(configured) if configured else Path(warehouse).resolve().parent / "reports"


class RetentionTable(TypedDict):
    table: str
    rows_older_than_cutoff: int
    rows_deleted: int
    oldest_at: str | None  # ISO 8601, UTC ("Z")


class _ReportFile(TypedDict, total=False):
    report_file: str  # the JSON report written after an executed run (dry runs write none)


class RetentionReport(_ReportFile):
    """:func:`run_retention`: the compliance report (the ``retention`` JSON, the Admin page)."""

    dry_run: bool
    run_at: str
    run_by: str
    warehouse: str
    keep_months: int
    as_of: str
    timezone: str
    cutoff_at: str
    tables: list[RetentionTable]
    rows_deleted: int
    rows_to_delete: int
    kept: list[str]


def run_retention(
    warehouse: str | Path,
    keep_months: int,
    *,
    by: str,
    dry_run: bool = False,
    as_of: date | None = None,
) -> RetentionReport:
    """Plan (and unless ``dry_run`` execute) a retention run; returns the compliance report.

    The deletes, the run row and the audit event commit in one transaction; the JSON report
    is written after the commit (``report_file`` in the result; dry runs write none).
    """
    warehouse = Path(warehouse)
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    as_of = as_of or datetime.now(ZoneInfo(settings().timezone)).date()
    run_at = audit.utcnow()
    with store.writer(warehouse, publish=not dry_run) as con:
        ensure_retention_schema(con)
        con.execute("begin")
        p = plan(con, keep_months, as_of=as_of)
        deleted: dict[str, int] = {}
        if not dry_run:
            for table in p.tables:
                if table in lake.SCHEMAS:  # Parquet files of the lake: rewritten or retired
                    deleted[table] = lake.delete_before(con, warehouse, p.cutoff_at, table=table)
                    continue
                before = int(con.execute(f"select count(*) from {table}").fetchone()[0])  # noqa: S608 - fixed names
                con.execute(statements()[f"delete_{table}"], {"cutoff": p.cutoff_at})
                after = int(con.execute(f"select count(*) from {table}").fetchone()[0])  # noqa: S608
                deleted[table] = before - after
            con.execute(
                "insert into security_retention_runs values (?, ?, ?, ?, ?)",
                [run_at, by, keep_months, p.cutoff_at, json.dumps(deleted)],
            )
        report: RetentionReport = {
            "dry_run": dry_run,
            "run_at": run_at.isoformat(timespec="seconds") + "Z",
            "run_by": by,
            "warehouse": str(warehouse),
            "keep_months": keep_months,
            "as_of": as_of.isoformat(),
            "timezone": settings().timezone,
            "cutoff_at": p.cutoff_at.isoformat() + "Z",
            "tables": [
                {
                    "table": t,
                    "rows_older_than_cutoff": v["rows"],
                    "rows_deleted": deleted.get(t, 0),
                    "oldest_at": v["oldest_at"].isoformat() + "Z" if v["oldest_at"] else None,
                }
                for t, v in p.tables.items()
            ],
            "rows_deleted": sum(deleted.values()),
            "rows_to_delete": p.total,
            # security_audit is in the security store (analytics/security/db.py), never purged
            "kept": [t for t in KEPT_TABLES if t in _existing(con) or t == "security_audit"],
        }
        con.execute("commit")
    # the audit log is in the security store (analytics/security/db.py): appended once the
    # deletes are committed, so a failed run is not logged as done
    summary = ", ".join(f"{t}={v['rows']}" for t, v in p.tables.items())
    audit.record(
        warehouse,
        user=by,
        role="operator",
        action="retention_dry_run" if dry_run else "retention",
        detail=f"keep_months={keep_months} cutoff={report['cutoff_at']} "
        + ("would delete " if dry_run else "deleted ")
        + summary,
        at=run_at,
    )
    if not dry_run:
        store.purge_history(warehouse)  # older snapshots and retired files still held the deleted rows
        folder = reports_dir(warehouse)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"retention_{run_at:%Y%m%dT%H%M%S}Z.json"
        target.write_text(json.dumps(report, indent=2), encoding="utf-8")
        report["report_file"] = str(target)
        log.info("retention: deleted %d rows older than %s; report %s", report["rows_deleted"], p.cutoff_at, target)
    return report


def retained_from(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The latest executed cutoff (records before it were purged), or None.

    For ingest: a record older than this would rebuild a purged hour or month of the
    cubes from an incomplete set of records, so it should be refused.
    """
    if "security_retention_runs" not in _existing(con):
        return None
    return con.execute(store.sql("security_retained_from")).fetchall()[0][0]
