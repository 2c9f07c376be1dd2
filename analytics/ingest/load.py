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
import resource
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
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


def _replace_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame, keys: tuple[str, ...]) -> None:
    """Delete ``table``'s rows whose ``keys`` appear in ``rows``, then insert ``rows``."""
    con.register("cube_rows", rows)
    try:
        key_list = ", ".join(keys)  # fixed identifiers from this module, never user input
        con.execute(f"delete from {table} where ({key_list}) in (select distinct {key_list} from cube_rows)")
        con.execute(f"insert into {table} by name select * from cube_rows")
    finally:
        con.unregister("cube_rows")


def _records_between(con: duckdb.DuckDBPyConnection, lo: dt.datetime, hi: dt.datetime) -> pl.LazyFrame:
    """Stored records (the new ones included) with start_at in [lo, hi), for a recompute."""
    return con.sql(
        "select start_at, region, cell_id, msisdn, service, direction, duration_s, bytes_up, bytes_down, charge, "
        "disposition, destination_country, is_roaming from records where start_at >= ? and start_at < ?",
        params=[lo, hi],
    ).pl().lazy()


def refresh_cubes(
    con: duckdb.DuckDBPyConnection, new: pl.DataFrame, *, load_id: int, timezone: str, home_country: str
) -> None:
    """Refresh every usage cube for the keys the ``new`` records (already inserted) touch."""
    t0 = time.perf_counter()
    new_lf = new.lazy()
    lo, hi = new["start_at"].min(), new["start_at"].max()
    # hour grain: recompute the touched hours, from the warehouse when older rows share them
    hour_lo, hour_hi = cubes.floor_hour(lo), cubes.floor_hour(hi) + dt.timedelta(hours=1)
    if _overlap(con, hour_lo, hour_hi, load_id):
        touched = new_lf.select(cubes.hour_at()).unique()
        scoped = _records_between(con, hour_lo, hour_hi).join(
            touched, left_on=pl.col("start_at").dt.truncate("1h"), right_on="hour_at", how="semi"
        )
    else:
        scoped = new_lf
    hourly = cubes.hourly_cube(scoped).collect()
    t1 = time.perf_counter()
    _replace_rows(con, "usage_hourly_cell", hourly, ("hour_at",))
    t2 = time.perf_counter()
    # day grain: the same for the touched local days (a zone's day lies within +-1 day of UTC)
    rollup = cubes.day_rollup(new_lf, timezone=timezone, home_country=home_country).collect()
    day_lo, day_hi = lo - dt.timedelta(days=2), hi + dt.timedelta(days=2)
    touched_days = rollup.select("day_date", "region").unique()
    if _overlap(con, day_lo, day_hi, load_id):
        scoped_rollup = cubes.day_rollup(
            _records_between(con, day_lo, day_hi), timezone=timezone, home_country=home_country
        ).join(touched_days.lazy(), on=["day_date", "region"], how="semi")
    else:
        scoped_rollup = rollup.lazy()
    _replace_rows(con, "usage_daily_region", cubes.daily_cube(scoped_rollup).collect(), ("day_date", "region"))
    t3 = time.perf_counter()
    # month grains: additive merges in SQL from the new rows' rollup
    con.register("new_rollup", rollup)
    run_script(con, store.sql("cubes_refresh"), {"home": home_country})
    log.debug(
        "cubes: hourly %.2fs + store %.2fs, daily %.2fs, months %.2fs",
        t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t3,
    )


def _overlap(con: duckdb.DuckDBPyConnection, lo: dt.datetime, hi: dt.datetime, load_id: int) -> bool:
    """Whether a record of an earlier load lies in [lo, hi)."""
    return bool(
        con.execute(
            "select exists(select 1 from records where start_at >= ? and start_at < ? and load_id <> ?)",
            [lo, hi, load_id],
        ).fetchall()[0][0]
    )


def _split_duplicates(con: duckdb.DuckDBPyConnection, good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(new rows, duplicate rows): a record_id earlier in the file or already stored is a duplicate."""
    seen = pl.Series("record_id", [], pl.String)
    if good.height and con.execute("select exists(select 1 from records)").fetchall()[0][0]:
        ids = good.select("record_id")
        con.register("incoming_ids", ids)
        try:
            # on `con` itself: a registered frame is not visible to other cursors
            seen = con.sql("select distinct r.record_id from records as r semi join incoming_ids using (record_id)").pl()[
                "record_id"
            ]
        finally:
            con.unregister("incoming_ids")
    flagged = good.with_columns(
        _dup=~pl.col("record_id").is_first_distinct() | pl.col("record_id").is_in(seen.implode())
    )
    return flagged.filter(~pl.col("_dup")).drop("_dup"), flagged.filter(pl.col("_dup")).drop("_dup")


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
    try:
        t0 = time.perf_counter()
        new, dups = _split_duplicates(con, good)
        t1 = time.perf_counter()
        result.rows_loaded, result.rows_duplicate = new.height, dups.height
        con.register("new_records", new)
        con.register("dup_rows", dups.select("load_id", "source_line", "record_id", "msisdn", "start_at", "charge"))
        con.register("bad_rows", bad)
        con.execute("insert into records by name select * from new_records")
        con.execute("insert into duplicates select * from dup_rows")
        con.execute("insert into quarantine select * from bad_rows")
        _fault("after_insert")
        t2 = time.perf_counter()
        if result.rows_loaded:
            refresh_cubes(con, new, load_id=result.load_id, timezone=timezone, home_country=home_country)
        log.debug(
            "%s: dedupe %.2fs, insert %.2fs, cubes %.2fs (peak RSS %d MiB)", result.file, t1 - t0, t2 - t1,
            time.perf_counter() - t2, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
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
        for view in ("new_records", "dup_rows", "bad_rows", "new_rollup", "cube_rows"):
            con.unregister(view)
        for t in ("new_srm", "merged_srm", "touched_region_months", "merged_region_month", "touched_sub_months",
                  "merged_sub_month"):
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
