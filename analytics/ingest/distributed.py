"""``ingest FILE... --cluster SPEC``: files read, checked and written by cluster workers.

Each worker runs the one-machine path's own functions on its file (``_source``,
``_checked_chunks`` and :func:`~analytics.ingest.load.commit_file`) against a scratch
in-memory DuckDB whose ``records`` view names the warehouse's committed lake files; it
writes the file's good rows as lake Parquet files (same naming and sorting as
``lake.write_records``) and hands back the file's result, its quarantine and duplicate
rows, the lake files it wrote and the 64-bit hashes of the record_ids it kept. The
worker never opens the warehouse.

The driver holds the writer lock for the whole run (an orphan cleaner of another writer
would otherwise delete the workers' files) and, once every file is back:

1. de-duplicates across files: an id kept by two files is kept by the earlier one in
   file order; the later file's row becomes a duplicate and the few lake files holding
   such rows are rewritten without them (the workers already dropped ids stored before
   the run and repeats within their file, exactly as the one-machine path does);
2. in one transaction: per file in order its quarantine and duplicate rows, its files'
   ``lake_files`` rows and its manifest row; then the ``records`` view and one cube
   refresh of the run's loads taken as one load (the one-machine path's SQL, given the
   range of load_ids: exact distinct subscribers come for free, no partial cubes are
   merged; one refresh instead of one a file, whose fixed cost made the driver the
   bottleneck); then one commit. The Delta log follows when the writer closes.

The JSON, the counts, the quarantine, the duplicates, the records and the cubes are those
of a one-machine load of the same files (tests/test_cluster_ingest.py). One known
difference: when a run holds the same file twice and its first copy is refused, the
second copy is refused with the same reason but takes its load_id after the run's others.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from analytics import cluster as engine
from analytics import lake, store
from analytics.ingest import cubes
from analytics.ingest.load import (
    FileResult,
    commit_file,
    mark_already_loaded,
    next_load_id,
    previous_load,
    record_refusal,
)
from analytics.ingest.reader import RefusedFile, file_sha256, screen

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
DUPLICATE_COLUMNS = ["load_id", "source_line", "record_id", "msisdn", "start_at", "charge"]


@dataclass(frozen=True)
class Job:
    """One file for one worker: what it needs besides the shared files."""

    path: str
    load_id: int
    sha256: str
    fmt: str | None
    opts: Any
    cells: pl.DataFrame
    cfg: dict[str, Any]
    warehouse: str
    committed: pl.DataFrame  # the warehouse's lake_files rows of ``records`` when the run began


@dataclass
class Part:
    """What a worker hands back for one file."""

    result: FileResult
    started_at: dt.datetime
    quarantine: pl.DataFrame | None = None
    duplicates: pl.DataFrame | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    id_hashes: np.ndarray | None = None  # unique 64-bit hashes of the record_ids it kept


# --- on a worker ---------------------------------------------------------------------------


def digest(path: str) -> tuple[str | None, str | None]:
    """(content hash, None), or (None, why the file is refused) when this worker cannot
    read it: missing, a directory, unreadable (the reasons of ``_ingest_one``)."""
    p = Path(path)
    if not p.exists():
        return None, f"{p}: no such file"
    if p.is_dir():
        return None, f"{p}: a directory, not an extract file"
    try:
        return file_sha256(p), None
    except OSError as exc:  # permission denied, I/O error: this file only
        return None, f"{p}: unreadable ({exc.strerror or exc})"


def _scratch(job: Job) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the warehouse's schema, whose ``records`` view names the
    committed lake files: the ids stored before the run are de-duplicated against it."""
    con = duckdb.connect(":memory:", config={"memory_limit": job.cfg["memory_limit"]})
    con.execute("set enable_progress_bar = false")
    if store.encrypted():  # as store._open: DuckDB's built-in mbedtls writes encrypted Parquet
        con.execute("set force_mbedtls_unsafe = 'true'")
        con.execute("set temp_file_encryption = true")
        key = store._parquet_key(store._encryption_key())  # noqa: SLF001 - the one derivation of the key
        con.execute(f"pragma add_parquet_key('{lake.PARQUET_KEY_NAME}', '{key}')")  # hex: no quoting issue
    con.execute(store.sql("schema"))
    if job.committed.height:
        con.register("committed", job.committed)
        con.execute("insert into lake_files by name select * from committed")
        con.unregister("committed")
    lake.refresh_view(con, job.warehouse, encrypted=store.encrypted())
    return con


def check_and_write(job: Job) -> Part:
    """Read, check and de-duplicate one file (against itself and the stored records) and
    write its good rows as lake files of load ``job.load_id``: the worker's task."""
    from analytics.ingest import _checked_chunks, _detect_format, _source  # noqa: PLC0415 - package imports us

    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    t0 = time.perf_counter()
    path = Path(job.path)
    result = FileResult(file=path.name, path=str(path), sha256=job.sha256, format=job.fmt or "v1")
    con = _scratch(job)
    try:
        try:
            screen(path)  # as the one-machine path: garbage, UTF-16, over-long lines refused before reading
            result.format = job.fmt or _detect_format(path)
            result.load_id = job.load_id  # as the one-machine path: a file refused by its header shows none
            with _source(path, result.format, job.opts) as (raw, options):
                commit_file(
                    con,
                    result=result,
                    record_ids=raw.select("record_id"),
                    chunks=_checked_chunks(
                        raw, cells=job.cells.lazy(), load_id=job.load_id, source_file=path.name, cfg=job.cfg, **options
                    ),
                    started_at=started,
                    timezone=job.cfg["timezone"],
                    home_country=job.cfg["home_country"],
                    memory_limit=job.cfg["memory_limit"],
                    warehouse=job.warehouse,
                    cube_refresh=False,
                )
        except RefusedFile as exc:
            remove_files(job.warehouse, [job.load_id])  # what the rolled-back attempt wrote
            result.status, result.error = "refused", str(exc)
            result.rows_read = result.rows_loaded = result.rows_duplicate = result.rows_rejected = 0
            result.rejects_by_reason = {}
            result.seconds = round(time.perf_counter() - t0, 3)
            return Part(result=result, started_at=started)
        files = con.sql("select * from lake_files where load_id = ? order by path", params=[job.load_id]).pl()
        ids = con.sql("select record_id from records where load_id = ?", params=[job.load_id]).pl()["record_id"]
        part = Part(
            result=result,
            started_at=started,
            quarantine=con.sql("select * from quarantine").pl(),
            duplicates=con.sql("select * from duplicates").pl(),
            files=files.to_dicts(),
            id_hashes=np.unique(ids.hash(seed=0).to_numpy()),
        )
    finally:
        con.close()
    result.seconds = round(time.perf_counter() - t0, 3)
    return part


def remove_files(warehouse: str | Path, load_ids: Sequence[int]) -> int:
    """Delete the uncommitted lake files of ``load_ids`` (a refused file, a failed run)."""
    removed = 0
    base = lake.table_dir(warehouse)
    for load_id in load_ids:
        for p in base.glob(f"month=*/l{load_id:08d}-*.parquet"):
            p.unlink(missing_ok=True)
            removed += 1
    return removed


# --- on the driver -------------------------------------------------------------------------


def ingest_on_cluster(
    files: Sequence[Path],
    *,
    cluster: str,
    warehouse: str | Path | None,
    fmt: str | None,
    opts: Any,
    cfg: dict[str, Any],
    references: dict[str, Path | None],
    cells_frame: pl.DataFrame | None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """``ingest_files`` with each file read, checked and written by a worker of ``cluster``."""
    from analytics.ingest import _load_references, _retention_horizon, _summarise  # noqa: PLC0415

    with engine.connect(cluster) as client, store.writer(warehouse) as con:
        refs = _load_references(con, references, cells_frame=cells_frame)
        cells = store.fetch(con, "select cell_id, region from cells")
        cfg = {**cfg, "not_before": _retention_horizon(con)}
        results = _run(client, con, list(files), fmt=fmt, opts=opts, cells=cells, cfg=cfg, on_progress=on_progress)
    if on_progress:
        on_progress(1.0, f"loaded {len(files)} file(s)")
    return _summarise(results, refs)


@dataclass
class _Planned:
    result: FileResult
    started_at: dt.datetime
    job: Job | None = None
    part: Part | None = None
    repeat_of: int | None = None  # index of an earlier file of this run with the same content
    manifest_id: int | None = None  # its ``loads`` row's load_id


def _plan(
    con: duckdb.DuckDBPyConnection, files: list[Path], digests: list[tuple[str | None, str | None]], **job_args: Any
) -> list[_Planned]:
    """Per file, in order: refused (missing), already loaded, a repeat within the run, or a
    worker's job with the load_id the one-machine path would give it."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    next_id = next_load_id(con)
    seen: dict[str, int] = {}
    plan: list[_Planned] = []
    for i, (path, (sha, refusal)) in enumerate(zip(files, digests, strict=True)):
        result = FileResult(file=path.name, path=str(path), sha256=sha or "", format=job_args["fmt"] or "v1")
        item = _Planned(result=result, started_at=now)
        if sha is None:  # refused before it has a load_id; its manifest row takes the next one
            result.status, result.error = "refused", refusal
            item.manifest_id = next_id
            next_id += 1
        elif (prior := previous_load(con, sha)) is not None:
            mark_already_loaded(result, prior)
        elif sha in seen:
            item.repeat_of = seen[sha]
        else:
            seen[sha] = i
            result.load_id = item.manifest_id = next_id
            item.job = Job(path=str(path), load_id=next_id, sha256=sha, **job_args)
            next_id += 1
        plan.append(item)
    return plan


def _run(
    client: Any,
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    *,
    fmt: str | None,
    opts: Any,
    cells: pl.DataFrame,
    cfg: dict[str, Any],
    on_progress: Progress | None,
) -> list[FileResult]:
    import distributed  # noqa: PLC0415 - engine.connect checked it imports

    warehouse = store.path_of(con)
    digests = client.gather(client.map(digest, [str(p) for p in files], pure=False))
    committed = store.fetch(con, "select * from lake_files where tbl = ?", [lake.TABLE])
    plan = _plan(
        con, files, digests, fmt=fmt, opts=opts, cells=cells, cfg=cfg, warehouse=warehouse, committed=committed
    )
    jobs = [p for p in plan if p.job is not None]
    run = uuid.uuid4().hex  # keys unique to this run: another warehouse's run may share the scheduler
    futures = client.map(
        check_and_write, [p.job for p in jobs], pure=False, key=[f"ingest-{p.job.load_id}-{run}" for p in jobs]
    )
    by_key = {f.key: p for f, p in zip(futures, jobs, strict=True)}
    t0 = time.perf_counter()
    try:
        for done, future in enumerate(distributed.as_completed(futures), start=1):
            item = by_key[future.key]
            item.part = future.result()
            item.result = item.part.result
            if on_progress:
                on_progress(
                    done / max(len(jobs), 1) * 0.9, f"checked {item.result.file} on the cluster ({done}/{len(jobs)})"
                )
        t1 = time.perf_counter()
        _dedupe_across_files(con, warehouse, [p for p in jobs if p.result.status == "loaded"])
        t2 = time.perf_counter()
        _commit(con, warehouse, plan, cfg=cfg)
        log.info(
            "cluster ingest of %d file(s): workers %.2fs (file seconds %.2f), cross-file dedupe %.2fs, commit %.2fs",
            len(jobs),
            t1 - t0,
            sum(p.result.seconds for p in jobs),
            t2 - t1,
            time.perf_counter() - t2,
        )
    except BaseException as exc:
        distributed.wait(futures)  # no task may still write once the lock is released
        removed = remove_files(warehouse, [p.job.load_id for p in jobs])
        log.warning("cluster run failed; removed %d uncommitted lake file(s)", removed)
        if isinstance(exc, Exception):
            raise engine.ClusterError(f"cluster ingest failed, nothing committed: {engine.one_line(exc)}") from exc
        raise
    return [p.result for p in plan]


def _dedupe_across_files(con: duckdb.DuckDBPyConnection, warehouse: str, loaded: list[_Planned]) -> None:
    """An id kept by several files stays in the first (file order); in the later files its
    row becomes a duplicate and their lake files are rewritten without it."""
    hashes = [p.part.id_hashes for p in loaded if p.part.id_hashes is not None and p.part.id_hashes.size]
    if len(hashes) < 2:
        return
    all_hashes = np.sort(np.concatenate(hashes))
    repeated = np.unique(all_hashes[1:][all_hashes[1:] == all_hashes[:-1]])
    if not repeated.size:
        return
    enc = store.encrypted()
    base = lake.table_dir(warehouse).resolve()
    kept: set[str] = set()
    for item in loaded:
        part = item.part
        if not np.isin(part.id_hashes, repeated).any():
            continue
        dups: list[pl.DataFrame] = []
        entries = []
        for entry in part.files:
            source = _parquet_source(base / entry["path"], enc)
            ids = con.sql(f"select record_id from {source}").pl()["record_id"]  # source: built here
            candidates = ids.filter(pl.Series(np.isin(ids.hash(seed=0).to_numpy(), repeated)))
            again = sorted(set(candidates.to_list()) & kept)
            kept.update(candidates.to_list())
            if not again:
                entries.append(entry)
                continue
            dups.append(
                con.sql(
                    f"select {', '.join(DUPLICATE_COLUMNS)} from {source} where record_id in (select unnest(?))",
                    params=[again],
                ).pl()
            )
            entry = _rewrite_without(con, base, entry, again, enc)
            if entry is not None:
                entries.append(entry)
        if dups:
            moved = pl.concat(dups)
            part.duplicates = (
                pl.concat([part.duplicates, moved], how="vertical_relaxed") if part.duplicates is not None else moved
            )
            part.files = entries
            item.result.rows_duplicate += moved.height
            item.result.rows_loaded -= moved.height


def _parquet_source(path: Path, encrypted: bool) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    return f"read_parquet([{quoted}]{lake._encryption_clause(encrypted)})"  # noqa: SLF001 - one home of the clause


def _rewrite_without(
    con: duckdb.DuckDBPyConnection, base: Path, entry: dict[str, Any], ids: list[str], enc: bool
) -> dict[str, Any] | None:
    """The uncommitted lake file ``entry`` written again without the rows of ``ids``
    (sorted as lake.write_records sorts); None when no row is left."""
    old = base / entry["path"]
    rel = entry["path"].removesuffix(".parquet") + "d.parquet"
    target = base / rel
    source = _parquet_source(old, enc)
    rows, lo, hi = con.execute(
        f"select count(*), min(start_at), max(start_at) from {source} where record_id not in (select unnest(?))", [ids]
    ).fetchall()[0]
    if rows:
        con.execute(
            f"copy (select * from {source} where record_id not in (select unnest(?)) order by msisdn, start_at) "
            f"to '{target}' (format parquet, compression zstd, row_group_size {lake.ROW_GROUP_ROWS}"
            f"{lake._copy_encryption(enc)})",
            [ids],  # noqa: SLF001 - target: built here
        )
    old.unlink(missing_ok=True)
    if not rows:
        return None
    return {**entry, "path": rel, "rows": rows, "bytes": target.stat().st_size, "min_start_at": lo, "max_start_at": hi}


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame | None) -> None:
    if rows is None or rows.is_empty():
        return
    con.register("part_rows", rows)
    try:
        con.execute(f"insert into {table} by name select * from part_rows")  # table: a name from this module
    finally:
        con.unregister("part_rows")


def _commit(con: duckdb.DuckDBPyConnection, warehouse: str, plan: list[_Planned], *, cfg: dict[str, Any]) -> None:
    """Everything the workers made, in one transaction: per file in order its quarantine,
    duplicates, lake files and manifest row; then one view refresh and one cube refresh
    over the run's loads taken as one load (its keys are recomputed from all stored
    records, and its months merged with exact distinct counts, as a load of many files
    is: the same cubes as one refresh per file, without a refresh's fixed cost per file)."""
    enc = store.encrypted()
    late_id = max([p.manifest_id for p in plan if p.manifest_id is not None], default=next_load_id(con) - 1) + 1
    loaded: list[_Planned] = []
    con.execute("set memory_limit = ?", [cfg["memory_limit"]])
    con.execute("begin transaction")
    try:
        for item in plan:
            result = item.result
            if item.repeat_of is not None:
                first = plan[item.repeat_of].result
                if first.status == "loaded":
                    mark_already_loaded(result, {**first.as_dict(), "file_name": first.file})
                else:  # the known difference (module docstring): its load_id comes after the run's others
                    result.status, result.error, result.format = "refused", first.error, first.format
                    item.manifest_id, late_id = late_id, late_id + 1
            if result.status == "refused":
                record_refusal(con, result, item.started_at, load_id=item.manifest_id)
                continue
            if result.status != "loaded":
                continue
            part = item.part
            _insert(con, "quarantine", part.quarantine)
            _insert(con, "duplicates", part.duplicates)
            now = lake.utc_now()
            for entry in part.files:
                con.execute(
                    "insert into lake_files values ($tbl, $path, $month, $load_id, $rows, $bytes, $min_start_at, "
                    "$max_start_at, $added_at)",
                    {**entry, "added_at": now},
                )
            con.execute(
                "insert into loads values (?, ?, ?, ?, ?, 'loaded', null, ?, ?, ?, ?, ?, ?)",
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
                    item.started_at,
                    lake.utc_now(),
                ],
            )
            if part.files:
                loaded.append(item)
        lake.refresh_view(con, warehouse, encrypted=enc)
        if loaded:
            con.execute("set memory_limit = ?", [cfg["cube_memory_limit"]])
            entries = [e for item in loaded for e in item.part.files]
            cubes.refresh_cubes(
                con,
                load_id=loaded[0].result.load_id,
                last_load_id=loaded[-1].result.load_id,
                lo=min(e["min_start_at"] for e in entries),
                hi=max(e["max_start_at"] for e in entries),
                timezone=cfg["timezone"],
                home_country=cfg["home_country"],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        cubes.drop_scratch(con)
