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

One read: the file arrives as checked chunks (checked one ahead in a thread); good rows
gather in batches of ``FILE_ROWS``, whose duplicates are decided before the batch is
written (see :class:`_Dedupe`: deleting rows inserted in the same transaction made
DuckDB's commit several times slower), and each batch is written as lake files by Polars
in a thread while the next is read. The new rows' cube columns (``CUBE_COLUMNS``, about
90 bytes a row) stay in memory, up to ``MEMORY_ROWS`` rows, and the cubes are computed
from them (analytics/ingest/cubes.py) instead of reading the files back; a bigger file's
cubes are computed by DuckDB from its files. Peak memory: two batches of good rows, the
cube columns of up to ``MEMORY_ROWS`` new rows, and DuckDB's buffer pool.
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import polars as pl

from analytics import lake, store
from analytics.ingest import cubes

log = logging.getLogger(__name__)
T = TypeVar("T")

FAULT_ENV = "ANALYTICS_FAULT"  # test hook: "after_insert" kills the process mid-transaction
FILE_ROWS = 2_000_000  # good rows per batch and lake file (about 400 MB in Polars at most)
# new rows whose cube columns a load keeps in memory at most: a bigger file's cubes are
# computed by DuckDB from its lake files, within DuckDB's memory limit (10 M rows in
# memory took the Polars aggregates to about 4 GiB)
MEMORY_ROWS = 3_000_000


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


# the records' columns the cube refresh reads: kept in memory for it as the load streams
CUBE_COLUMNS = (
    "start_at",
    "msisdn",
    "region",
    "cell_id",
    "service",
    "direction",
    "duration_s",
    "bytes_up",
    "bytes_down",
    "charge",
    "disposition",
    "is_roaming",
    "destination_country",
    "load_id",
)


class _LakeWriter:
    """Writes a load's new rows as the lake's Parquet files (analytics/lake.py), a file per
    local month and batch, sorted within. Unencrypted files are written by Polars in a
    thread, so DuckDB's work (quarantine, cubes) goes on meanwhile; encrypted ones by
    DuckDB's ``COPY`` on the load's connection. The files are listed in ``lake_files``
    inside the load's transaction (:meth:`publish`), so until its commit no view names them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, warehouse: str, *, load_id: int, timezone: str) -> None:
        self.con, self.warehouse, self.load_id, self.timezone = con, warehouse, load_id, timezone
        self.encrypted = store.encrypted()
        self.cols = lake.columns(con)
        self.threaded = not self.encrypted and lake.polars_schema(self.cols) is not None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-write") if self.threaded else None
        self.futures: list[Future[list[dict]]] = []
        self.files = 0
        self.published = False

    def write(self, rows: pl.DataFrame) -> None:
        if rows.is_empty():
            return
        self.files += 1
        tag = f"{self.files:04d}"
        if self.pool is None:
            lake.write_records(
                self.con,
                self.warehouse,
                rows,
                load_id=self.load_id,
                timezone=self.timezone,
                encrypted=self.encrypted,
                tag=tag,
            )
            return
        if len(self.futures) >= 1:  # at most one batch waits while one is written: bounded memory
            self.futures[-1].result()
        self.futures.append(
            self.pool.submit(
                lake.write_files,
                self.warehouse,
                rows,
                cols=self.cols,
                load_id=self.load_id,
                timezone=self.timezone,
                tag=tag,
            )
        )

    def publish(self) -> None:
        """Wait for the files, list them and point the ``records`` view at the files
        including this load's (same transaction). Once."""
        if self.published:
            return
        self.published = True
        for future in self.futures:
            lake.add_files(self.con, future.result())
        lake.refresh_view(self.con, self.warehouse, encrypted=self.encrypted)

    def close(self) -> None:
        """Stop the thread (after its current file: a failed load's files are orphans that
        the next writer deletes)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class _Dedupe:
    """Which good rows repeat a record_id, decided per batch of good rows before the
    batch is written.

    A row is a duplicate when an earlier load stored its id (one DuckDB semi join per
    batch, only when ``records`` has rows) or when an earlier good row of this file has it:
    within the batch the first good row of an id is loaded, and against earlier batches the
    64-bit hashes of their kept ids find the few candidates, which are compared exactly.
    An id on a rejected line therefore does not make its later good line a duplicate.
    Nothing written is ever deleted again, which keeps the commit cheap.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, earlier: bool) -> None:
        self.con, self.earlier = con, earlier
        self.kept_ids: list[pl.Series] = []  # record_ids loaded from earlier batches of this file
        self.kept_hashes: list[pl.Series] = []

    def split(self, good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(rows to load, duplicate rows) of one batch of good rows, in file order."""
        if good.is_empty():
            return good, good.clear()
        ids = good["record_id"]
        dup = ~ids.is_first_distinct()
        hashes = ids.hash(seed=0)
        if self.kept_hashes:
            seen = pl.concat(self.kept_hashes)
            candidate = hashes.is_in(seen.implode())
            if candidate.any():
                earlier_ids = pl.concat(self.kept_ids).filter(seen.is_in(hashes.filter(candidate).implode()))
                dup = dup | (candidate & ids.is_in(earlier_ids.implode()))
        if self.earlier:
            frame = ids.to_frame()
            self.con.register("file_ids", frame)
            try:
                stored = self.con.sql(
                    "select distinct r.record_id from records as r semi join file_ids using (record_id)"
                ).pl()["record_id"]
            finally:
                self.con.unregister("file_ids")
            if stored.len():
                dup = dup | ids.is_in(stored.implode())
        if not dup.any():
            new, dups = good, good.clear()
        else:
            new, dups = good.filter(~dup), good.filter(dup)
        self.kept_ids.append(new["record_id"])
        self.kept_hashes.append(hashes.filter(~dup) if dup.any() else hashes)
        return new, dups


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

    The file is read once: good rows gather in batches of ``FILE_ROWS``, each
    de-duplicated and written as lake files (in a thread) while the next is read, and the
    cube columns of the new rows stay in memory, from which the cubes are computed
    (analytics/ingest/cubes.py) without reading the files back. ``record_ids`` is read
    (for its row count) only when ``on_rows`` reports progress.

    A cluster worker (analytics/ingest/distributed.py) runs it on a scratch in-memory
    DuckDB whose ``records`` view names the committed files: ``warehouse`` then says
    where the lake lies, and the cubes are left to the driver (``cube_refresh=False``).
    """
    assert result.load_id is not None
    load_id = result.load_id
    if memory_limit:
        con.execute("set memory_limit = ?", [memory_limit])
    con.execute("begin transaction")
    records: _LakeWriter | None = None
    try:
        earlier = bool(con.execute("select exists(select 1 from records)").fetchall()[0][0])
        total = record_ids.select(pl.len()).collect().item() if on_rows else 0
        dedupe = _Dedupe(con, earlier=earlier)
        reasons: Counter[str] = Counter()
        records = _LakeWriter(con, warehouse or store.path_of(con), load_id=load_id, timezone=timezone)
        kept: list[pl.DataFrame] = []  # the new rows' cube columns
        batch: list[pl.DataFrame] = []
        quarantined: list[pl.DataFrame] = []
        counts = {"read": 0, "rejected": 0, "duplicate": 0, "batch": 0, "kept": 0}
        t_check = t_batch = 0.0

        def flush() -> None:
            if quarantined:
                _insert(con, "quarantine", _without_purged_values(pl.concat(quarantined)))
                quarantined.clear()
            if not batch:
                return
            good = pl.concat(batch) if len(batch) > 1 else batch[0]
            batch.clear()
            counts["batch"] = 0
            new, dups = dedupe.split(good)
            counts["duplicate"] += dups.height
            if dups.height:
                _insert(
                    con,
                    "duplicates",
                    dups.select("load_id", "source_line", "record_id", "msisdn", "start_at", "charge"),
                )
            if cube_refresh and new.height and counts["kept"] >= 0:
                kept.append(new.select(CUBE_COLUMNS))
                counts["kept"] += new.height
                if counts["kept"] > MEMORY_ROWS:  # too big to hold: the cubes read the files
                    kept.clear()
                    counts["kept"] = -1
            records.write(new)

        tick = time.perf_counter()
        for good, bad in _prefetched(iter(chunks)):
            t_check += time.perf_counter() - tick
            tick = time.perf_counter()
            counts["read"] += good.height + bad.height
            counts["rejected"] += bad.height
            if bad.height:
                reasons.update(bad["reason"].to_list())
                quarantined.append(bad)
            if good.height:
                batch.append(good)
                counts["batch"] += good.height
            if counts["batch"] >= FILE_ROWS:
                flush()
            t_batch += time.perf_counter() - tick
            if on_rows:
                on_rows(counts["read"], total)
            tick = time.perf_counter()
        flush()
        read, rejected, duplicate = counts["read"], counts["rejected"], counts["duplicate"]
        result.rows_read, result.rows_rejected, result.rows_duplicate = read, rejected, duplicate
        result.rows_loaded, result.rejects_by_reason = read - rejected - duplicate, dict(reasons)
        t2 = time.perf_counter()
        t_cubes = 0.0
        if result.rows_loaded and cube_refresh:
            rows = (pl.concat(kept, rechunk=False) if len(kept) > 1 else kept[0]) if kept else None
            kept.clear()
            if cube_memory_limit:
                con.execute("set memory_limit = ?", [cube_memory_limit])
            if rows is None:
                records.publish()
                lo, hi = con.execute(
                    "select min(start_at), max(start_at) from records where load_id = ?", [load_id]
                ).fetchall()[0]
            else:
                lo, hi = rows.select(pl.col("start_at").min().alias("lo"), pl.col("start_at").max().alias("hi")).row(0)
            fresh = cubes.is_fresh(con, load_id=load_id, lo=lo, hi=hi)
            if not fresh or rows is None:  # the SQL path reads the stored records, this load's included
                records.publish()
            t_cubes = time.perf_counter()
            cubes.refresh_cubes(
                con, load_id=load_id, lo=lo, hi=hi, timezone=timezone, home_country=home_country, rows=rows, fresh=fresh
            )
            t_cubes = time.perf_counter() - t_cubes
            del rows
        t3 = time.perf_counter()
        records.publish()
        t_wait = time.perf_counter() - t3
        log.debug(
            "%s: waiting for checked chunks %.2fs, batches (dedupe, quarantine) %.2fs, lake files written and "
            "cubes %.2fs (cubes %.2fs, then waiting for the files %.2fs; peak RSS %d MiB)",
            result.file,
            t_check,
            t_batch,
            time.perf_counter() - t2,
            t_cubes,
            t_wait,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        )
        _fault("after_insert")
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
        if records is not None:
            records.close()
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
