"""Loading one validated file into the warehouse in one transaction.

Exactly once: a record_id already in ``records`` (from any earlier load) or earlier in
the same file is a duplicate: it goes to ``duplicates``, not ``records``. A file whose
content hash is already in the manifest is not read again (status ``already_loaded``).
Atomic: records, quarantine, duplicates, cube refresh and the manifest row commit
together; any failure (or a killed process) leaves the warehouse as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from analytics import store

log = logging.getLogger(__name__)

FAULT_ENV = "ANALYTICS_FAULT"  # test hook: "after_insert" kills the process mid-transaction


@dataclass
class FileResult:
    file: str
    path: str
    sha256: str
    format: str
    status: str = "loaded"
    error: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    load_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def local_expr(timezone: str, column: str = "start_at") -> str:
    """SQL for the local wall-clock time of a UTC ``column`` (the zone is the $tz parameter)."""
    if timezone.upper() == "UTC":
        return column
    return f"timezone($tz, timezone('UTC', {column}))"


def run_script(con: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any]) -> None:
    """Execute a multi-statement SQL script, giving each statement the parameters it names."""
    for statement in (s.strip() for s in text.split(";\n")):
        body = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()
        if not body:
            continue
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", body)}
        con.execute(body, used) if used else con.execute(body)


def previous_load(con: duckdb.DuckDBPyConnection, sha256: str) -> dict[str, Any] | None:
    row = store.fetch(
        con,
        "select * from loads where content_sha256 = ? and status = 'loaded' order by load_id limit 1",
        [sha256],
    )
    if row.is_empty():
        return None
    prior = row.row(0, named=True)
    reasons = store.fetch(
        con, "select reason, count(*) as n from quarantine where load_id = ? group by reason", [prior["load_id"]]
    )
    prior["rejects_by_reason"] = dict(zip(reasons["reason"], reasons["n"], strict=True))
    return prior


def next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    # Writers are serialised by store.writer's lock, so max + 1 cannot race.
    return int(store.scalar(con, "select coalesce(max(load_id), 0) + 1 from loads"))


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        log.warning("fault injection: killing the process at %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


def commit_file(
    con: duckdb.DuckDBPyConnection,
    *,
    result: FileResult,
    good: pl.DataFrame,
    bad: pl.DataFrame,
    started_at: dt.datetime,
    timezone: str,
    home_country: str,
) -> None:
    """Insert one file's rows, refresh the cubes and write its manifest row, atomically."""
    assert result.load_id is not None
    con.execute("begin transaction")
    con.register("good_rows", good)
    con.register("bad_rows", bad)
    try:
        con.execute(
            """
            create or replace temp table staged as
            with flagged as (
                select g.*, row_number() over (partition by record_id order by source_line) = 1 as is_first
                from good_rows as g
            ),
            seen as (
                select distinct r.record_id from records as r semi join good_rows as g using (record_id)
            ),
            final as (
                select f.*, (not f.is_first) or s.record_id is not null as is_duplicate
                from flagged as f left join seen as s using (record_id)
            )
            select * from final
            """
        )
        con.execute(
            """
            insert into duplicates
            select load_id, source_line, record_id, msisdn, start_at, charge from staged where is_duplicate
            """
        )
        con.execute(
            "create or replace temp table new_records as "
            "select * exclude (is_first, is_duplicate) from staged where not is_duplicate"
        )
        con.execute("insert into records by name select * from new_records")
        con.execute("insert into quarantine select * from bad_rows")
        _fault("after_insert")
        counts = con.execute(
            "select count(*) filter (where not is_duplicate), count(*) filter (where is_duplicate) from staged"
        ).fetchone()
        result.rows_loaded, result.rows_duplicate = int(counts[0]), int(counts[1])
        if result.rows_loaded:
            run_script(
                con,
                store.sql("cubes_refresh").replace("{local}", local_expr(timezone)),
                {"tz": timezone, "home": home_country},
            )
        con.execute(
            """
            insert into loads values (?, ?, ?, ?, ?, 'loaded', null, ?, ?, ?, ?, ?, ?)
            """,
            [
                result.load_id,
                result.file,
                result.path,
                result.sha256,
                result.format,
                result.rows_read,
                result.rows_loaded,
                result.rows_duplicate,
                result.rows_rejected,
                started_at,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("good_rows")
        con.unregister("bad_rows")
        for t in ("staged", "new_records", "touched_hours", "touched_local", "scoped_local"):
            con.execute(f"drop table if exists temp.{t}")


def record_refusal(con: duckdb.DuckDBPyConnection, result: FileResult, started_at: dt.datetime) -> None:
    """A refused file leaves only its manifest row (status ``refused`` with the reason)."""
    con.execute(
        "insert into loads values (?, ?, ?, ?, ?, 'refused', ?, 0, 0, 0, 0, ?, ?)",
        [
            next_load_id(con),
            result.file,
            result.path,
            result.sha256,
            result.format,
            result.error,
            started_at,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        ],
    )
