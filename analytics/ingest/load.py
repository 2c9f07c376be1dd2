"""Loading one validated file into the warehouse in one transaction.

Exactly once: a record_id already in ``records`` (from any earlier load) or earlier in
the same file is a duplicate: it goes to ``duplicates``, not ``records``. A file whose
content hash is already in the manifest is not read again (status ``already_loaded``).
Atomic: records, quarantine, duplicates, cube refresh and the manifest row commit
together; any failure (or a killed process) leaves the warehouse as it was.

Storage: good rows go to Parquet files of the lake (analytics/lake.py), listed in
``lake_files`` and named by the ``records`` view inside the same transaction; quarantine,
duplicates, cubes and the manifest row are DuckDB tables. A failure or a killed process
leaves unnamed files, which the next writer deletes.

Streaming: the file arrives as checked chunks that are written as they come, so peak
memory is about ``FILE_ROWS`` good rows plus DuckDB's buffer pool, whatever the file's size. Duplicates
are decided before each chunk's insert (see :class:`_Dedupe`): deleting rows inserted in
the same transaction made DuckDB's commit several times slower.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import resource
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import numpy as np
import polars as pl

from analytics import lake, store
from analytics.ingest import cubes

log = logging.getLogger(__name__)
T = TypeVar("T")

FAULT_ENV = "ANALYTICS_FAULT"  # test hook: "after_insert" kills the process mid-transaction
FILE_ROWS = 2_000_000  # good rows buffered per lake file (about 400 MB in Polars at most)


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


def mark_already_loaded(result: FileResult, prior: dict[str, Any]) -> None:
    """The result of a file whose content was loaded before (``prior``: :func:`previous_load`):
    nothing is read, the earlier counts are reported as duplicates."""
    result.status = "already_loaded"
    result.format = prior["format"]
    result.rows_read = prior["rows_read"]
    result.rows_duplicate = prior["rows_loaded"] + prior["rows_duplicate"]
    result.rows_rejected = prior["rows_rejected"]
    result.rejects_by_reason = prior["rejects_by_reason"]
    result.error = f"already loaded as load {prior['load_id']} ({prior['file_name']}); nothing changed"


def next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    # Writers are serialised by store.writer's lock, so max + 1 cannot race.
    return int(store.scalar(con, "select coalesce(max(load_id), 0) + 1 from loads"))


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        log.warning("fault injection: killing the process at %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


class _LakeAppender:
    """Writes good rows as the lake's Parquet files (analytics/lake.py), a file per local
    month of up to ``FILE_ROWS`` rows, sorted within; files are listed in ``lake_files``
    inside the load's transaction, so until its commit no view names them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, warehouse: str, *, load_id: int, timezone: str) -> None:
        self.con, self.warehouse, self.load_id, self.timezone = con, warehouse, load_id, timezone
        self.encrypted = store.encrypted()
        self.pending: list[pl.DataFrame] = []
        self.rows = 0
        self.files = 0

    def add(self, rows: pl.DataFrame) -> None:
        if rows.is_empty():
            return
        self.pending.append(rows)
        self.rows += rows.height
        if self.rows >= FILE_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        frame = pl.concat(self.pending, rechunk=False) if len(self.pending) > 1 else self.pending[0]
        self.pending, self.rows = [], 0
        self.files += 1
        lake.write_records(
            self.con,
            self.warehouse,
            frame,
            load_id=self.load_id,
            timezone=self.timezone,
            encrypted=self.encrypted,
            tag=f"{self.files:04d}",
        )

    def publish(self) -> None:
        """Point the ``records`` view at the files including this load's (same transaction)."""
        lake.refresh_view(self.con, self.warehouse, encrypted=self.encrypted)


class _Dedupe:
    """Which good rows repeat a record_id, decided before they are inserted.

    A first pass over the file's record_id column (no other column is typed) finds the
    few ids that can be duplicates: those whose 64-bit hash occurs more than once in the
    file, and those an earlier load stored (one DuckDB join). While the chunks stream,
    only rows among those candidates are compared exactly, against the candidate ids
    already loaded from this file; the first good row of an id is loaded, so an id on a
    rejected line does not make its later good line a duplicate. Nothing inserted is
    ever deleted again, which keeps the commit cheap.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, record_ids: pl.LazyFrame, *, earlier: bool) -> None:
        ids = record_ids.select(pl.col("record_id").cast(pl.String).str.strip_chars()).collect(engine="streaming")
        self.rows = ids.height  # the file's rows: progress of a load is rows checked of these
        hashes = np.sort(ids["record_id"].hash(seed=0).to_numpy())
        self.repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
        self.stored = pl.Series("record_id", [], pl.String)
        if earlier and ids.height:
            con.register("file_ids", ids)
            try:
                self.stored = con.sql(
                    "select distinct r.record_id from records as r semi join file_ids using (record_id)"
                ).pl()["record_id"]
            finally:
                con.unregister("file_ids")
        self.loaded = pl.Series("record_id", [], pl.String)  # candidate ids loaded from this file

    def split(self, good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(rows to load, duplicate rows) of one chunk of good rows."""
        if good.is_empty() or (not self.repeated.size and self.stored.is_empty()):
            return good, good.clear()
        candidate = pl.Series(np.isin(good["record_id"].hash(seed=0).to_numpy(), self.repeated))
        ids = pl.col("record_id")
        flagged = good.with_columns(_candidate=candidate).with_columns(
            _dup=ids.is_in(self.stored.implode())
            | (pl.col("_candidate") & (ids.is_in(self.loaded.implode()) | ~ids.is_first_distinct().over("_candidate")))
        )
        new = flagged.filter(~pl.col("_dup"))
        self.loaded = pl.concat([self.loaded, new.filter(pl.col("_candidate"))["record_id"]])
        return new.drop("_candidate", "_dup"), flagged.filter(pl.col("_dup")).drop("_candidate", "_dup")


def _prefetched(items: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """``items``, produced one step ahead in a thread: Polars checks the next chunk while
    DuckDB inserts this one (both release the GIL). An error in the producer is raised
    here; leaving early stops the producer."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> None:
        while not stop.is_set():
            try:
                box.put((kind, value), timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                put("item", item)
            put("end", None)
        except BaseException as exc:  # handed to the consumer
            put("error", exc)

    worker = threading.Thread(target=produce, name="ingest-check", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join()


def commit_file(
    con: duckdb.DuckDBPyConnection,
    *,
    result: FileResult,
    record_ids: pl.LazyFrame,
    chunks: Iterable[tuple[pl.DataFrame, pl.DataFrame]],
    started_at: dt.datetime,
    timezone: str,
    home_country: str,
    memory_limit: str | None = None,
    cube_memory_limit: str | None = None,
    on_rows: Callable[[int, int], None] | None = None,
    warehouse: str | None = None,
    cube_refresh: bool = True,
) -> None:
    """Insert one file's checked chunks, drop duplicates, refresh the cubes and write its
    manifest row, atomically: the chunks are read inside the transaction, so a read
    error, any failure or a killed process leaves the warehouse as it was.

    A cluster worker (analytics/ingest/distributed.py) runs it on a scratch in-memory
    DuckDB whose ``records`` view names the committed files: ``warehouse`` then says
    where the lake lies, and the cubes are left to the driver (``cube_refresh=False``).
    """
    assert result.load_id is not None
    load_id = result.load_id
    if memory_limit:
        con.execute("set memory_limit = ?", [memory_limit])
    con.execute("begin transaction")
    try:
        earlier = bool(con.execute("select exists(select 1 from records)").fetchall()[0][0])
        t0 = time.perf_counter()
        dedupe = _Dedupe(con, record_ids, earlier=earlier)
        t_ids = time.perf_counter() - t0
        reasons: Counter[str] = Counter()
        records = _LakeAppender(con, warehouse or store.path_of(con), load_id=load_id, timezone=timezone)
        read = rejected = duplicate = 0
        t_check = t_insert = 0.0
        tick = time.perf_counter()
        for good, bad in _prefetched(iter(chunks)):
            t_check += time.perf_counter() - tick
            tick = time.perf_counter()
            read += good.height + bad.height
            rejected += bad.height
            if bad.height:
                reasons.update(bad["reason"].to_list())
                _insert(con, "quarantine", _without_purged_values(bad))
            new, dups = dedupe.split(good)
            duplicate += dups.height
            if dups.height:
                _insert(
                    con,
                    "duplicates",
                    dups.select("load_id", "source_line", "record_id", "msisdn", "start_at", "charge"),
                )
            records.add(new)
            t_insert += time.perf_counter() - tick
            if on_rows:
                on_rows(read, dedupe.rows)
            tick = time.perf_counter()
        records.flush()
        records.publish()
        result.rows_read, result.rows_rejected, result.rejects_by_reason = read, rejected, dict(reasons)
        result.rows_duplicate, result.rows_loaded = duplicate, read - rejected - duplicate
        log.debug(
            "%s: rows inserted (peak RSS %d MiB)",
            result.file,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        )
        _fault("after_insert")
        t2 = time.perf_counter()
        if result.rows_loaded and cube_refresh:
            if cube_memory_limit:
                con.execute("set memory_limit = ?", [cube_memory_limit])
            lo, hi = con.execute(
                "select min(start_at), max(start_at) from records where load_id = ?", [load_id]
            ).fetchall()[0]
            cubes.refresh_cubes(con, load_id=load_id, lo=lo, hi=hi, timezone=timezone, home_country=home_country)
        log.debug(
            "%s: id pass %.2fs, waiting for checked chunks %.2fs, insert %.2fs, cubes %.2fs (peak RSS %d MiB)",
            result.file,
            t_ids,
            t_check,
            t_insert,
            time.perf_counter() - t2,
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
        cubes.drop_scratch(con)


def _without_purged_values(bad: pl.DataFrame) -> pl.DataFrame:
    """A re-delivered record older than the last retention cutoff is quarantined without
    its raw values: retention deleted them once, the quarantine must not keep them again.
    Its line, reason and record time stay (the time lets the next retention age it)."""
    purged = pl.col("reason").str.starts_with("before_retention")
    kept = pl.struct(start_time=pl.col("raw").str.json_path_match("$.start_time")).struct.json_encode()
    return bad.with_columns(raw=pl.when(purged).then(kept).otherwise(pl.col("raw")))


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame) -> None:
    con.register("rows", rows)
    try:
        con.execute(f"insert into {table} by name select * from rows")  # table: a name from this module
    finally:
        con.unregister("rows")


def record_refusal(
    con: duckdb.DuckDBPyConnection,
    result: FileResult,
    started_at: dt.datetime,
    *,
    load_id: int | None = None,
) -> None:
    """A refused file leaves only its manifest row (status ``refused`` with the reason).
    ``load_id``: given by a caller inside a transaction (the cluster driver), where
    :func:`next_load_id`'s own cursor cannot see the rows it inserted."""
    con.execute(
        "insert into loads values (?, ?, ?, ?, ?, 'refused', ?, 0, 0, 0, 0, ?, ?)",
        [
            load_id if load_id is not None else next_load_id(con),
            result.file,
            result.path,
            result.sha256,
            result.format,
            result.error,
            started_at,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        ],
    )
