"""Loading one validated file into the warehouse in one transaction.

Exactly once: a record_id already in ``records`` (from any earlier load) or earlier in
the same file is a duplicate: it goes to ``duplicates``, not ``records``. A file whose
content hash is already in the manifest is not read again (status ``already_loaded``).
Atomic: records, quarantine, duplicates, cube refresh and the manifest row commit
together; any failure (or a killed process) leaves the warehouse as it was.

Streaming: the file arrives as checked chunks that are inserted as they come, so peak
memory is about one chunk plus DuckDB's buffer pool, whatever the file's size. Duplicates
are found after the inserts (a hash ledger for repeats within the file, one join for ids
of earlier loads) and moved from ``records`` to ``duplicates`` before the cube refresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import resource
import signal
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import polars as pl

from analytics import store
from analytics.ingest import cubes

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


class _IdLedger:
    """Where this file's good rows repeat a record_id, without holding the ids in Python.

    Keeps a 64-bit hash and the source line of every inserted row; hashes seen more than
    once are candidates, confirmed on the stored ids (so a hash collision is never taken
    for a duplicate).
    """

    def __init__(self) -> None:
        self.hashes: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []

    def add(self, rows: pl.DataFrame) -> None:
        self.hashes.append(rows["record_id"].hash(seed=0).to_numpy())
        self.lines.append(rows["source_line"].to_numpy())

    def repeated_lines(self, con: duckdb.DuckDBPyConnection, load_id: int) -> pl.DataFrame:
        """Source lines of rows whose record_id occurred on an earlier line of this file."""
        empty = pl.DataFrame(schema={"source_line": pl.Int64})
        if not self.hashes:
            return empty
        hashes = np.concatenate(self.hashes)
        ordered = np.sort(hashes)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        if not repeated.size:
            return empty
        candidates = pl.DataFrame({"source_line": np.concatenate(self.lines)[np.isin(hashes, repeated)]})
        con.register("candidate_lines", candidates)
        try:
            rows = con.sql(
                "select record_id, source_line from records where load_id = $load_id "
                "and source_line in (select source_line from candidate_lines) order by source_line",
                params={"load_id": load_id},
            ).pl()
        finally:
            con.unregister("candidate_lines")
        return rows.filter(~pl.col("record_id").is_first_distinct()).select(pl.col("source_line").cast(pl.Int64))


def _earlier_duplicate_lines(con: duckdb.DuckDBPyConnection, load_id: int) -> pl.DataFrame:
    """Source lines of this load's rows whose record_id an earlier load stored."""
    return con.sql(
        """
        with hits as (
            select distinct e.record_id
            from records as e
            semi join (select record_id from records where load_id = $load_id) as n using (record_id)
            where e.load_id <> $load_id
        )
        select cast(m.source_line as bigint) as source_line
        from records as m
        semi join hits using (record_id)
        where m.load_id = $load_id
        """,
        params={"load_id": load_id},
    ).pl()


def _move_duplicates(con: duckdb.DuckDBPyConnection, load_id: int, lines: pl.DataFrame) -> int:
    """Move this load's rows at ``lines`` from ``records`` to ``duplicates``."""
    if lines.is_empty():
        return 0
    con.register("dup_lines", lines.unique())
    try:
        scope = "where load_id = ? and source_line in (select source_line from dup_lines)"
        con.execute(
            f"insert into duplicates select load_id, source_line, record_id, msisdn, start_at, charge from records {scope}",
            [load_id],
        )
        con.execute(f"delete from records {scope}", [load_id])
    finally:
        con.unregister("dup_lines")
    return lines.n_unique()


def commit_file(
    con: duckdb.DuckDBPyConnection,
    *,
    result: FileResult,
    chunks: Iterable[tuple[pl.DataFrame, pl.DataFrame]],
    started_at: dt.datetime,
    timezone: str,
    home_country: str,
) -> None:
    """Insert one file's checked chunks, drop duplicates, refresh the cubes and write its
    manifest row, atomically: the chunks are read inside the transaction, so a read
    error, any failure or a killed process leaves the warehouse as it was.
    """
    assert result.load_id is not None
    load_id = result.load_id
    con.execute("begin transaction")
    try:
        earlier = bool(con.execute("select exists(select 1 from records)").fetchall()[0][0])
        ledger = _IdLedger()
        reasons: Counter[str] = Counter()
        read = rejected = 0
        t_check = t_insert = 0.0
        tick = time.perf_counter()
        for good, bad in chunks:
            t_check += time.perf_counter() - tick
            tick = time.perf_counter()
            read += good.height + bad.height
            rejected += bad.height
            if bad.height:
                reasons.update(bad["reason"].to_list())
                con.register("bad_rows", bad)
                con.execute("insert into quarantine select * from bad_rows")
                con.unregister("bad_rows")
            if good.height:
                ledger.add(good)
                con.register("new_records", good)
                con.execute("insert into records by name select * from new_records")
                con.unregister("new_records")
            t_insert += time.perf_counter() - tick
            tick = time.perf_counter()
        result.rows_read, result.rows_rejected, result.rejects_by_reason = read, rejected, dict(reasons)
        t1 = time.perf_counter()
        log.debug("%s: rows inserted (peak RSS %d MiB)", result.file, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
        lines = ledger.repeated_lines(con, load_id)
        if earlier:
            lines = pl.concat([lines, _earlier_duplicate_lines(con, load_id)])
        result.rows_duplicate = _move_duplicates(con, load_id, lines)
        result.rows_loaded = read - rejected - result.rows_duplicate
        _fault("after_insert")
        t2 = time.perf_counter()
        if result.rows_loaded:
            lo, hi = con.execute(
                "select min(start_at), max(start_at) from records where load_id = ?", [load_id]
            ).fetchall()[0]
            cubes.refresh_cubes(con, load_id=load_id, lo=lo, hi=hi, timezone=timezone, home_country=home_country)
        log.debug(
            "%s: read and check %.2fs, insert %.2fs, dedupe %.2fs, cubes %.2fs (peak RSS %d MiB)", result.file,
            t_check, t_insert, t2 - t1, time.perf_counter() - t2,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        )
        con.execute(
            """
            insert into loads values (?, ?, ?, ?, ?, 'loaded', null, ?, ?, ?, ?, ?, ?)
            """,
            [
                load_id,
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
        t3 = time.perf_counter()
        con.execute("commit")
        log.debug("%s: commit %.2fs", result.file, time.perf_counter() - t3)
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        for view in ("new_records", "bad_rows", "dup_lines", "candidate_lines"):
            con.unregister(view)
        cubes.drop_scratch(con)


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
