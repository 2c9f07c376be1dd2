"""Ingest: extract files -> validated, de-duplicated records and refreshed cubes.

``ingest_files`` is the one entry point (the CLI, the watcher, the app's upload and the
demo all use it). Per file: refuse garbage or a header missing required columns with a
one-line reason; otherwise validate every row (bad rows to quarantine with file, line
and reason), drop duplicates of known record_ids, and commit records, quarantine,
duplicates, cube refresh and the manifest row in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import duckdb
import polars as pl

from analytics import formats, store
from analytics.config import settings
from analytics.ingest import reference
from analytics.ingest.load import (
    FileResult,
    commit_file,
    mark_already_loaded,
    next_load_id,
    previous_load,
    record_refusal,
)
from analytics.ingest.reader import REQUIRED, RefusedFile, file_sha256, header_columns, is_parquet, open_v1, screen
from analytics.ingest.validate import bad_records, check_records, good_records
from analytics.security.retention import retained_from

__all__ = ["ingest_files", "RefusedFile"]

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
CHUNK_ROWS = 250_000


@dataclass(frozen=True)
class IngestSettings:
    """``[ingest]`` of analytics.toml: DuckDB's memory caps while a file loads (its chunks
    inserted, then the cubes refreshed) and the plausible start times (docs/formats.md)."""

    memory_limit: str = "2560MB"
    cube_memory_limit: str = "1280MB"
    earliest_start: str | dt.date = "2000-01-01"  # a TOML date or "YYYY-MM-DD"
    max_future_days: float = 2.0


class FileSummary(TypedDict):
    """One file of the ``ingest`` JSON (``FileResult.as_dict()``; cdr-extract-v1 fixes its keys)."""

    file: str
    path: str
    sha256: str
    format: str
    status: str  # loaded | already_loaded | refused
    error: str | None
    rows_read: int
    rows_loaded: int
    rows_duplicate: int
    rows_rejected: int
    rejects_by_reason: dict[str, int]
    seconds: float
    load_id: int | None


class _RefusedExit(TypedDict, total=False):
    """Set when a file was refused: the CLI's exit status and reason (popped, not printed)."""

    _exit: int
    _reason: str


class IngestSummary(_RefusedExit):
    """:func:`ingest_files`: the ``ingest`` command's JSON, as the contract fixes it."""

    files: list[FileSummary]
    rows_read: int
    rows_loaded: int
    rows_duplicate: int
    rows_rejected: int
    rejects_by_reason: dict[str, int]
    reference: dict[str, Any]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _detect_format(path: Path) -> str:
    """v1 when the header holds the contract's required columns, else ask the format sniffers."""
    try:
        columns = header_columns(path)
    except RefusedFile:
        raise
    except Exception:  # binary or undecodable header: let the v1 reader explain
        return "v1"
    # A header naming several contract columns is a v1 file (refused, if incomplete,
    # with the names of the missing columns), not some other layout.
    if is_parquet(path) or len(set(REQUIRED) & set(columns)) >= 3 or path.stat().st_size == 0:
        return "v1"
    try:
        return formats.detect(path)
    except formats.FormatError as exc:
        raise RefusedFile(str(exc)) from exc


def _checked_chunks(
    raw: pl.LazyFrame,
    *,
    cells: pl.LazyFrame,
    load_id: int,
    source_file: str,
    cfg: dict[str, str],
    charge_optional: bool = False,
    msisdn_e164: bool = True,
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """(good rows, bad rows) per chunk of ``raw``: peak memory stays near one chunk."""

    def check(frame: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        checked = check_records(
            frame,
            not_before=cfg.get("not_before"),
            window=cfg.get("window"),
            cells=cells,
            timezone=cfg["timezone"],
            home_country=cfg["home_country"],
            currency=cfg["currency"],
            charge_optional=charge_optional,
            msisdn_e164=msisdn_e164,
        )
        good, bad = pl.collect_all(
            [good_records(checked, load_id=load_id), bad_records(checked, load_id=load_id, source_file=source_file)]
        )
        return good, bad

    any_rows = False
    for batch in raw.collect_batches(chunk_size=CHUNK_ROWS):
        any_rows = True
        yield check(batch.lazy())
    if not any_rows:  # no rows: empty frames that keep the schema
        yield check(raw.clear())


@contextmanager
def _source(path: Path, fmt: str, opts: Any) -> Iterator[tuple[pl.LazyFrame, dict[str, bool]]]:
    """The file as a lazy frame of contract columns, with its validation options.

    Garbage or a malformed file raises :class:`RefusedFile`, also when it shows only part
    way through the load (whose transaction then rolls back).
    """
    try:
        if fmt == "v1":
            with open_v1(path) as raw:
                yield raw, {}
            return
        yield (
            formats.read(path, fmt, opts),
            {
                "charge_optional": not formats.has_charge(fmt, opts),
                "msisdn_e164": getattr(formats.FORMATS[fmt], "MSISDN_IS_E164", True),
            },
        )
    except RefusedFile:
        raise
    except Exception as exc:  # a malformed file surfaces as a polars/format error while reading
        if isinstance(exc, formats.FormatError):
            raise RefusedFile(str(exc)) from exc
        if isinstance(exc, (duckdb.Error, AssertionError, AttributeError, NameError, TypeError)):
            raise  # a warehouse failure or a defect of ours is not the file's fault
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RefusedFile(f"{path.name}: unreadable as {fmt} ({first[:300]})") from exc


def _load_references(con: Any, refs: dict[str, Path | None], *, cells_frame: pl.DataFrame | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, path in refs.items():
        if path is None:
            continue
        started = _now()
        if kind == "cells" and cells_frame is not None:
            sha, checked = (
                file_sha256(path),
                reference.check_reference(cells_frame.with_columns(pl.all().cast(pl.String)), reference.SPECS["cells"]),
            )
        else:
            sha, checked = reference.prepare(path, kind)
        if reference.stored_hash(con, kind) == sha:
            out[kind] = {"file": path.name, "status": "unchanged", "rows": None}
            continue
        spec = reference.SPECS[kind]
        table = reference.typed_table(checked, spec)
        bad = checked.filter(pl.col("reason").is_not_null())
        con.execute("begin transaction")
        try:
            load_id = next_load_id(con)
            if bad.height:
                quarantine = bad.select(
                    pl.lit(load_id, pl.Int64).alias("load_id"),
                    pl.lit(path.name).alias("source_file"),
                    pl.col("source_line"),
                    pl.col("reason"),
                    pl.lit(None, pl.String).alias("detail"),
                    pl.struct(*spec.required, *spec.optional).struct.json_encode().alias("raw"),
                )
                con.register("ref_bad", quarantine)
                con.execute("insert into quarantine select * from ref_bad")
                con.unregister("ref_bad")
            reference.store_reference(con, kind=kind, table=table, file_name=path.name, sha256=sha)
            con.execute(
                "insert into loads values (?, ?, ?, ?, ?, 'loaded', null, ?, ?, 0, ?, ?, ?)",
                [
                    load_id,
                    path.name,
                    str(path),
                    sha,
                    f"reference:{kind}",
                    checked.height,
                    table.height,
                    bad.height,
                    started,
                    _now(),
                ],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        out[kind] = {
            "file": path.name,
            "status": "replaced",
            "rows": table.height,
            "rows_rejected": bad.height,
            "rejects_by_reason": dict(Counter(bad["reason"].to_list())),
        }
    return out


def ingest_files(
    paths: Sequence[str | Path],
    *,
    warehouse: str | Path | None = None,
    cells: str | Path | None = None,
    plans: str | Path | None = None,
    subscribers: str | Path | None = None,
    home_country: str | None = None,
    fmt: str | None = None,
    region: str | None = None,
    mapping: str | Path | None = None,
    timezone: str | None = None,
    currency: str | None = None,
    on_progress: Progress | None = None,
    cluster: str | None = None,
) -> IngestSummary:
    """Validate and load ``paths`` (and reference files) into the warehouse; the ``ingest`` JSON.

    With ``cluster`` (``local:N`` or a scheduler address) each file is read, checked and
    written by a cluster worker, and the driver commits once (analytics/ingest/distributed.py)."""
    cfg_obj = settings()
    limits = cfg_obj.section("ingest", IngestSettings)  # DuckDB's memory caps while a file loads
    cfg = {
        "timezone": timezone or cfg_obj.timezone,
        "home_country": (home_country or cfg_obj.home_country).upper(),
        "currency": (currency or cfg_obj.currency).upper(),
        "memory_limit": limits.memory_limit,
        "cube_memory_limit": limits.cube_memory_limit,
        "window": plausible_window(limits),
    }
    if fmt == "v1":
        fmt = None
    from analytics import formats

    if mapping is not None:
        fmt = fmt or "mapping"
    if fmt is not None and fmt not in formats.FORMATS:
        raise RefusedFile(f"unknown format {fmt!r}; known formats: v1, {', '.join(formats.FORMATS)}")
    # Options reach every non-v1 reader, also when the format is sniffed per file.
    opts = formats.FormatOptions(
        region=region,
        cells_path=Path(cells) if cells else None,
        mapping_path=Path(mapping) if mapping else None,
        timezone=cfg["timezone"],
        home_country=cfg["home_country"],
        currency=cfg["currency"],
    )
    cells_frame = formats.read_cells(Path(cells), fmt, opts) if cells and fmt else None
    files = [Path(p) for p in paths]
    if cluster is not None and files:
        from analytics.ingest.distributed import ingest_on_cluster

        refs_in = {
            "cells": Path(cells) if cells else None,
            "plans": Path(plans) if plans else None,
            "subscribers": Path(subscribers) if subscribers else None,
        }
        return ingest_on_cluster(
            files,
            cluster=cluster,
            warehouse=warehouse,
            fmt=fmt,
            opts=opts,
            cfg=cfg,
            references=refs_in,
            cells_frame=cells_frame,
            on_progress=on_progress,
        )
    results: list[FileResult] = []
    with store.writer(warehouse) as con:
        refs = _load_references(
            con,
            {
                "cells": Path(cells) if cells else None,
                "plans": Path(plans) if plans else None,
                "subscribers": Path(subscribers) if subscribers else None,
            },
            cells_frame=cells_frame,
        )
        cells_lf = store.fetch(con, "select cell_id, region from cells").lazy()
        cfg["not_before"] = _retention_horizon(con)
        for i, path in enumerate(files):
            rows_done = _row_progress(on_progress, path.name, i, len(files))
            if on_progress:
                on_progress(i / max(len(files), 1), f"loading {path.name} ({i + 1}/{len(files)})")
            results.append(_ingest_one(con, path, fmt=fmt, opts=opts, cells=cells_lf, cfg=cfg, on_rows=rows_done))
    if on_progress:
        on_progress(1.0, f"loaded {len(files)} file(s)")
    return _summarise(results, refs)


def plausible_window(options: IngestSettings, *, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Start times outside [earliest_start, load time + max_future_days] are implausible
    (``out_of_range:start_time``): a year-3000 record would otherwise become "the latest month"."""
    try:
        earliest = dt.datetime.fromisoformat(str(options.earliest_start))
        future = options.max_future_days
    except (TypeError, ValueError) as exc:
        raise RefusedFile(
            f"analytics.toml [ingest]: earliest_start must be a date (YYYY-MM-DD) and max_future_days a number ({exc})"
        ) from exc
    return earliest.replace(tzinfo=None), (now or _now()) + dt.timedelta(days=future)


def _retention_horizon(con: Any) -> dt.datetime | None:
    return retained_from(con)


def _row_progress(on_progress: Progress | None, name: str, index: int, count: int) -> Callable[[int, int], None] | None:
    """Progress within file ``index`` of ``count``: rows checked so far of the file's total."""
    if on_progress is None:
        return None

    def report(done: int, total: int) -> None:
        share = done / total if total else 1.0
        on_progress(
            (index + share) / max(count, 1), f"loading {name} ({index + 1}/{count}): {done:,} of {total:,} rows"
        )

    return report


def _ingest_one(
    con: Any,
    path: Path,
    *,
    fmt: str | None,
    opts: Any,
    cells: pl.LazyFrame,
    cfg: dict,
    on_rows: Callable[[int, int], None] | None = None,
) -> FileResult:
    t0 = time.perf_counter()
    started = _now()
    result = FileResult(file=path.name, path=str(path), sha256="", format=fmt or "v1")
    try:
        if not path.exists():
            raise RefusedFile(f"{path}: no such file")
        if path.is_dir():
            raise RefusedFile(f"{path}: a directory, not an extract file")
        try:
            result.sha256 = file_sha256(path)
        except OSError as exc:  # permission denied, I/O error: this file only
            raise RefusedFile(f"{path}: unreadable ({exc.strerror or exc})") from exc
        prior = previous_load(con, result.sha256)
        if prior is not None:
            mark_already_loaded(result, prior)
            log.info("%s: already loaded (load %s), skipped", path.name, prior["load_id"])
            return result
        screen(path)  # garbage, UTF-16, over-long lines: refused before any format reads it
        result.format = fmt or _detect_format(path)
        result.load_id = next_load_id(con)
        with _source(path, result.format, opts) as (raw, options):
            commit_file(
                con,
                result=result,
                record_ids=raw.select("record_id"),
                chunks=_checked_chunks(
                    raw, cells=cells, load_id=result.load_id, source_file=path.name, cfg=cfg, **options
                ),
                started_at=started,
                timezone=cfg["timezone"],
                home_country=cfg["home_country"],
                on_rows=on_rows,
                memory_limit=cfg["memory_limit"],
                cube_memory_limit=cfg["cube_memory_limit"],
            )
    except RefusedFile as exc:
        result.status, result.error = "refused", str(exc)
        result.rows_read = result.rows_loaded = result.rows_duplicate = result.rows_rejected = 0
        result.rejects_by_reason = {}
        record_refusal(con, result, started)
        log.warning("refused %s", exc)
    result.seconds = round(time.perf_counter() - t0, 3)
    if result.status == "loaded":
        log.info(
            "%s: read %d, loaded %d, duplicate %d, rejected %d in %.2fs",
            path.name,
            result.rows_read,
            result.rows_loaded,
            result.rows_duplicate,
            result.rows_rejected,
            result.seconds,
        )
    return result


def _summarise(results: list[FileResult], refs: dict[str, Any]) -> IngestSummary:
    reasons: Counter[str] = Counter()
    for r in results:
        reasons.update(r.rejects_by_reason)
    out: IngestSummary = {
        "files": [r.as_dict() for r in results],
        "rows_read": sum(r.rows_read for r in results),
        "rows_loaded": sum(r.rows_loaded for r in results),
        "rows_duplicate": sum(r.rows_duplicate for r in results),
        "rows_rejected": sum(r.rows_rejected for r in results),
        "rejects_by_reason": dict(reasons),
        "reference": refs,
    }
    refused = [r for r in results if r.status == "refused"]
    if refused:
        out["_exit"] = 1
        out["_reason"] = f"{len(refused)} of {len(results)} file(s) refused: {refused[0].error}"
    return out
