"""Records as immutable Parquet files under a Delta Lake table, next to the DuckDB file.

Layout of a warehouse ``data/warehouse.duckdb``::

    data/warehouse.duckdb            small tables: cubes, marts, reference data, manifest
    data/warehouse.duckdb.lake/records/_delta_log/...        the Delta log (delta-rs)
    data/warehouse.duckdb.lake/records/month=2026-10/*.parquet   records, one local month a folder

The commit point is DuckDB. ``lake_files`` (one row per Parquet file that makes the
``records`` table) is written in the same DuckDB transaction as the load's cubes and
manifest row, and so is the view ``records`` over exactly those files (DuckDB's built-in
``read_parquet``). A load that fails or is killed before that commit leaves files that no
view names: :func:`clean_orphans` deletes them on the next writer open. After each
commit the Delta log is brought to the same file set (:func:`sync_delta`): an append
for new files, a partition overwrite where files were replaced (compaction, retention).
A crash between the two commits leaves the log behind DuckDB, and the next sync catches
up; the log is never ahead of DuckDB. Other engines (Spark, Polars ``scan_delta``, Dask)
read the Delta table; the dashboard reads through DuckDB.

A published snapshot is the small DuckDB file (its ``records`` view names immutable
files), so a publish copies no records. Files a compaction or retention replaced stay on
disk until no kept snapshot names them (``lake_retired``).

Grain of ``records``: one row per distinct CDR, record_id unique across the warehouse.
Files are sorted by (msisdn, start_at) when written, so a lookup by number prunes row
groups by their statistics; a month folder keeps a time-range read to its months.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

log = logging.getLogger(__name__)

TABLE = "records"
ROW_GROUP_ROWS = 122_880
PARQUET_KEY_NAME = "lake_key"
COMPACT_MIN_FILES = 8  # a month folder with more files than this is compacted automatically
COMPACT_MAX_ROWS = 4_000_000  # ... when its small files (below this many rows) can be merged


def lake_dir(warehouse: str | Path) -> Path:
    return Path(f"{warehouse}.lake")


def table_dir(warehouse: str | Path, table: str = TABLE) -> Path:
    return lake_dir(warehouse) / table


def _encryption_clause(encrypted: bool) -> str:
    return f", encryption_config={{footer_key: '{PARQUET_KEY_NAME}'}}" if encrypted else ""


@dataclass(frozen=True)
class LakeTable:
    """How a lake table's files are laid out.

    ``schema``: the empty DuckDB table that fixes its columns; ``time``: the column whose
    bounds ``lake_files`` keeps per file (``min_start_at``/``max_start_at``) and whose month
    names the file's folder: the local month of a UTC timestamp, or the month of a date
    (``month_of_date``); ``order``: the sort within a file, which makes its row groups'
    statistics prune lookups; ``open_hours``: compaction leaves files that reach into the
    table's last ``open_hours`` hours unmerged (the live feed's and the next daily load's
    keys land there, and a load rewrites the file holding a key it touched: merged into
    the month's big file, every live file would rewrite the month).
    """

    schema: str
    time: str
    order: str
    month_of_date: bool = False
    open_hours: int = 0  # compaction leaves the files of the table's newest hours alone


TABLES = {
    "records": LakeTable("records_schema", "start_at", "msisdn, start_at"),
    "rated_records": LakeTable("rated_records_schema", "start_at", "msisdn, start_at"),
    # the two cubes that grow with the traffic (cell-hours and subscriber-months): kept
    # out of the DuckDB file so that a publish copies no more as history grows
    "usage_hourly_cell": LakeTable(
        "usage_hourly_cell_schema", "hour_at", "hour_at, cell_id, service, direction", open_hours=48
    ),
    "subscriber_month": LakeTable("subscriber_month_schema", "month_date", "month_date, msisdn", month_of_date=True),
}
SCHEMAS = {name: t.schema for name, t in TABLES.items()}  # lake table -> its empty schema table
CUBES = ("usage_hourly_cell", "subscriber_month")  # lake tables the load's cube refresh writes
COMPACTED = ("records", "usage_hourly_cell")  # tables whose small files gather, a load at a time


def columns(con: duckdb.DuckDBPyConnection, table: str = TABLE) -> list[tuple[str, str]]:
    """(name, type) of a lake table's schema, in table order."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns where table_name = ? order by ordinal_position",
        [SCHEMAS[table]],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _month_sql(table: str) -> str:
    """SQL of a row's partition month (YYYY-MM); ``$tz`` is the business time zone."""
    spec = TABLES[table]
    if spec.month_of_date:
        return f"strftime({spec.time}, '%Y-%m')"
    return f"strftime(timezone($tz, timezone('UTC', {spec.time})), '%Y-%m')"


def files(con: duckdb.DuckDBPyConnection, *, table: str = TABLE) -> list[str]:  # noqa: D401
    """The relative paths of the files that make ``table`` now (in this transaction)."""
    return [r[0] for r in con.execute("select path from lake_files where tbl = ? order by path", [table]).fetchall()]


def refresh_view(con: duckdb.DuckDBPyConnection, warehouse: str | Path, *, encrypted: bool, table: str = TABLE) -> None:
    """(Re)define the view ``table`` over its files in ``lake_files``."""
    body = _files_select(con, warehouse, table, files(con, table=table), encrypted=encrypted)
    con.execute(f"create or replace view {table} as {body}")  # table: a key of SCHEMAS


def span_view(
    con: duckdb.DuckDBPyConnection,
    warehouse: str | Path,
    name: str,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    encrypted: bool,
    table: str = TABLE,
) -> int:
    """A temp view ``name`` over the files of ``table`` whose time bounds meet [lo, hi]
    (in this transaction): what a query of that span must read, which the table's view
    cannot narrow down for DuckDB when files are sorted by number rather than time (their
    row groups' time statistics span the whole month). Files it names."""
    rows = con.execute(
        "select path from lake_files where tbl = ? and max_start_at >= ? and min_start_at <= ? order by path",
        [table, lo, hi],
    ).fetchall()
    body = _files_select(con, warehouse, table, [r[0] for r in rows], encrypted=encrypted)
    con.execute(f"create or replace temp view {name} as {body}")  # name: a literal of the caller
    return len(rows)


def _files_select(
    con: duckdb.DuckDBPyConnection, warehouse: str | Path, table: str, paths: list[str], *, encrypted: bool
) -> str:
    """SQL reading ``table``'s columns from the files ``paths`` (relative to its folder), or
    from its empty schema table when there are none: the body of its views."""
    cols = ", ".join(f'"{c}"' for c, _ in columns(con, table))
    if not paths:
        return f"select {cols} from {SCHEMAS[table]}"
    base = table_dir(warehouse, table).resolve()
    listed = ", ".join("'" + str(base / p).replace("'", "''") + "'" for p in paths)
    return f"select {cols} from read_parquet([{listed}]{_encryption_clause(encrypted)})"


def local_month(column: str = "start_at", *, timezone: str) -> pl.Expr:
    """The local calendar month (YYYY-MM) of a UTC timestamp column: the partition key."""
    at = pl.col(column).dt.replace_time_zone("UTC")
    if timezone != "UTC":
        at = at.dt.convert_time_zone(timezone)
    return at.dt.strftime("%Y-%m")


# DuckDB types of lake columns -> the Polars types whose Parquet DuckDB reads back as them
_POLARS_TYPES = {
    "VARCHAR": pl.String,
    "TIMESTAMP": pl.Datetime("us"),
    "DATE": pl.Date,
    "INTEGER": pl.Int32,
    "BIGINT": pl.Int64,
    "BOOLEAN": pl.Boolean,
    "DOUBLE": pl.Float64,
}


def polars_schema(cols: list[tuple[str, str]]) -> dict[str, pl.DataType] | None:
    """The Polars types of a lake table's (name, DuckDB type) columns, or None when one has
    no exact counterpart here (such a table is written by DuckDB)."""
    out: dict[str, pl.DataType] = {}
    for name, kind in cols:
        decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", kind)
        if decimal:
            out[name] = pl.Decimal(int(decimal[1]), int(decimal[2]))
        elif kind in _POLARS_TYPES:
            out[name] = _POLARS_TYPES[kind]
        else:
            return None
    return out


def partition_months(rows: pl.DataFrame, *, table: str, timezone: str) -> dict[str, pl.DataFrame]:
    """``rows`` split by partition month (YYYY-MM). A timestamp's local month is converted
    once per distinct UTC quarter hour (every zone's offset is a whole number of quarters),
    not per row."""
    spec = TABLES[table]
    if spec.month_of_date:
        keyed = rows.with_columns(_month=pl.col(spec.time).dt.strftime("%Y-%m"))
    else:
        quarter = pl.col(spec.time).cast(pl.Datetime("us")).dt.truncate("15m")
        quarters = rows.select(quarter.alias("_quarter")).unique()
        months = quarters.with_columns(_month=local_month("_quarter", timezone=timezone))
        keyed = rows.with_columns(_quarter=quarter).join(months, on="_quarter", how="left").drop("_quarter")
    return {m: part.drop("_month") for (m,), part in keyed.partition_by("_month", as_dict=True).items()}


def write_files(
    warehouse: str | Path,
    rows: pl.DataFrame,
    *,
    cols: list[tuple[str, str]],
    load_id: int,
    timezone: str,
    tag: str | None = None,
    table: str = TABLE,
    prefix: str = "l",
) -> list[dict]:
    """Write ``rows`` as one unencrypted Parquet file per partition month with Polars, typed
    as ``cols`` (:func:`columns`) and sorted by the table's order; the ``lake_files`` rows to
    add (:func:`add_files`). Uses no DuckDB connection, so it can run in a thread while the
    load's connection works."""
    schema = polars_schema(cols)
    assert schema is not None, f"{table}: a column type without a Polars counterpart"
    spec = TABLES[table]
    order = [c.strip() for c in spec.order.split(",")]
    written = []
    for month, part in sorted(partition_months(rows, table=table, timezone=timezone).items()):
        rel = f"month={month}/{prefix}{load_id:08d}-{tag or uuid.uuid4().hex[:12]}.parquet"
        path = table_dir(warehouse, table) / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        frame = part.select(pl.col(c).cast(t) for c, t in schema.items()).sort(order)
        frame.write_parquet(path, compression="zstd", row_group_size=ROW_GROUP_ROWS, statistics=True)
        written.append(_file_entry(table, rel, month, load_id, frame, path))
    return written


def _file_entry(table: str, rel: str, month: str, load_id: int, frame: pl.DataFrame, path: Path) -> dict:
    """The ``lake_files`` row (without ``added_at``) of ``frame`` written at ``path``."""
    bound = pl.col(TABLES[table].time).cast(pl.Datetime("us"))
    rows, lo, hi = frame.select(pl.len(), bound.min().alias("lo"), bound.max().alias("hi")).row(0)
    return {
        "tbl": table,
        "path": rel,
        "month": month,
        "load_id": load_id,
        "rows": rows,
        "bytes": path.stat().st_size,
        "min_start_at": lo,
        "max_start_at": hi,
    }


def add_files(con: duckdb.DuckDBPyConnection, entries: Iterable[dict]) -> None:
    """List written files (:func:`write_files`) in ``lake_files`` (caller's transaction)."""
    for entry in entries:
        con.execute(
            "insert into lake_files values ($tbl, $path, $month, $load_id, $rows, $bytes, $min_start_at, "
            "$max_start_at, $added_at)",
            {**entry, "added_at": utc_now()},
        )


def write_records(
    con: duckdb.DuckDBPyConnection,
    warehouse: str | Path,
    rows: pl.DataFrame,
    *,
    load_id: int,
    timezone: str,
    encrypted: bool,
    tag: str | None = None,
    table: str = TABLE,
) -> list[dict]:
    """Write ``rows`` (records columns, any order) as one Parquet file per local month,
    sorted by (msisdn, start_at), and list them in ``lake_files`` (caller's transaction).
    Unencrypted files are written by Polars (:func:`write_files`); encrypted ones by
    DuckDB's ``COPY`` (its Parquet encryption is the one DuckDB reads back).
    The view is not refreshed here: call :func:`refresh_view` once after the last write."""
    if rows.is_empty():
        return []
    cols = columns(con, table)
    if not encrypted and polars_schema(cols) is not None:
        written = write_files(warehouse, rows, cols=cols, load_id=load_id, timezone=timezone, tag=tag, table=table)
        add_files(con, written)
        return written
    spec = TABLES[table]
    select = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in cols)
    written = []
    for month, frame in sorted(partition_months(rows, table=table, timezone=timezone).items()):
        rel = f"month={month}/l{load_id:08d}-{tag or uuid.uuid4().hex[:12]}.parquet"
        path = table_dir(warehouse, table) / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        con.register("lake_rows", frame)
        try:
            con.execute(
                f"copy (select {select} from lake_rows order by {spec.order}) to '{path}' "  # path: built here
                f"(format parquet, compression zstd, row_group_size {ROW_GROUP_ROWS}{_copy_encryption(encrypted)})"
            )
        finally:
            con.unregister("lake_rows")
        entry = _file_entry(table, rel, month, load_id, frame, path)
        add_files(con, [entry])
        written.append(entry)
    return written


def write_records_table(
    con: duckdb.DuckDBPyConnection,
    warehouse: str | Path,
    table: str,
    *,
    load_id: int,
    timezone: str,
    encrypted: bool,
) -> int:
    """Write the rows of the DuckDB table ``table`` (records columns) as the load's lake
    files, one per local month, sorted, listed in ``lake_files`` (caller's transaction);
    for bulk builds (benchmarks, fixtures) that generate records in SQL. Rows written."""
    cols = columns(con)
    select = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in cols)
    month = "strftime(timezone(?, start_at::timestamptz), '%Y-%m')"
    months = [r[0] for r in con.execute(f"select distinct {month} from {table} order by 1", [timezone]).fetchall()]
    total = 0
    for m in months:
        rel = f"month={m}/l{load_id:08d}-{uuid.uuid4().hex[:12]}.parquet"
        path = table_dir(warehouse) / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        con.execute(
            f"copy (select {select} from {table} where {month} = ? order by msisdn, start_at) to '{path}' "
            f"(format parquet, compression zstd, row_group_size {ROW_GROUP_ROWS}{_copy_encryption(encrypted)})",
            [timezone, m],
        )
        rows, lo, hi = con.execute(
            f"select count(*), min(start_at), max(start_at) from {table} where {month} = ?", [timezone, m]
        ).fetchall()[0]
        con.execute(
            "insert into lake_files values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [TABLE, rel, m, load_id, rows, path.stat().st_size, lo, hi, utc_now()],
        )
        total += rows
    return total


def _copy_encryption(encrypted: bool) -> str:
    return f", encryption_config {{footer_key: '{PARQUET_KEY_NAME}'}}" if encrypted else ""


def replace_month(
    con: duckdb.DuckDBPyConnection,
    warehouse: str | Path,
    table: str,
    month: str,
    rows: pl.DataFrame,
    *,
    timezone: str,
    encrypted: bool,
) -> None:
    """Replace the files of ``month`` of the derived lake table ``table`` (a mart rebuilt
    whole per month, such as ``rated_records``) by ``rows``, in the caller's transaction."""
    old = [
        r[0] for r in con.execute("select path from lake_files where tbl = ? and month = ?", [table, month]).fetchall()
    ]
    retire(con, old)
    write_records(con, warehouse, rows, load_id=0, timezone=timezone, encrypted=encrypted, table=table)
    refresh_view(con, warehouse, encrypted=encrypted, table=table)


def replace_keys(
    con: duckdb.DuckDBPyConnection,
    warehouse: str | Path,
    table: str,
    *,
    new: str,
    keys: str,
    key_columns: Iterable[str],
    timezone: str,
    encrypted: bool,
    load_id: int = 0,
    frame: pl.DataFrame | None = None,
) -> dict[str, int]:
    """Replace, in the lake table ``table``, every row whose ``key_columns`` are in the
    DuckDB relation ``keys`` by the rows of the relation ``new`` (the current rows of
    exactly those keys), in the caller's transaction; the view is refreshed.

    Only files of ``new``'s months whose time bounds meet the new rows' are touched: they
    are rewritten, with the replaced keys' rows left out and the new rows in, as one file
    of the month; a month with no such file gets the new rows as a file of their own (a
    daily load into later hours appends). Files written and retired.

    ``frame``: ``new``'s rows in memory, if the caller has them: when no file is to be
    rewritten and files are unencrypted, Polars writes them without a DuckDB scan."""
    spec = TABLES[table]
    cols = columns(con, table)
    if frame is not None and not encrypted and polars_schema(cols) is not None:
        time_bounds = frame.select(pl.col(spec.time).min().alias("lo"), pl.col(spec.time).max().alias("hi")).row(0)
        meets = con.execute(
            "select exists(select 1 from lake_files where tbl = ? and max_start_at >= ? and min_start_at <= ?)",
            [table, *time_bounds],
        ).fetchall()[0][0]
        if frame.is_empty() or not meets:  # nothing stored near: the new rows are files of their own
            entries = write_files(
                warehouse, frame, cols=cols, load_id=load_id, timezone=timezone, table=table, prefix="k"
            )
            add_files(con, entries)
            refresh_view(con, warehouse, encrypted=encrypted, table=table)
            return {"written": len(entries), "retired": 0}
    select = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in cols)
    using = ", ".join(key_columns)
    # the month of each distinct time (a few thousand hours), not a time zone conversion per row
    con.execute(
        f"create or replace temp table lake_months as select {spec.time}, {_month_sql(table)} as _month "
        f"from (select distinct {spec.time} from {new})",  # new: a temp table named by the caller
        {} if spec.month_of_date else {"tz": timezone},
    )
    spans = con.execute(
        f"select _month, min({spec.time})::timestamp, max({spec.time})::timestamp from lake_months "
        "group by _month order by _month"
    ).fetchall()
    enc = _encryption_clause(encrypted)
    base = table_dir(warehouse, table).resolve()
    written = retired = 0
    for m, lo, hi in spans:
        old = [
            r[0]
            for r in con.execute(
                "select path from lake_files where tbl = ? and month = ? and max_start_at >= ? and min_start_at <= ? "
                "order by path",
                [table, m, lo, hi],
            ).fetchall()
        ]
        fresh = (
            f"select * from {new} semi join (select {spec.time} from lake_months where _month = $m) using ({spec.time})"
        )
        if old:
            listed = ", ".join("'" + str(base / p).replace("'", "''") + "'" for p in old)
            source = f"select * from read_parquet([{listed}]{enc}) anti join {keys} using ({using}) union all by name {fresh}"
        else:
            source = fresh
        rel = f"month={m}/k{load_id:08d}-{uuid.uuid4().hex[:12]}.parquet"
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        con.execute(
            f"copy (select {select} from ({source}) order by {spec.order}) to '{target}' "  # built here
            f"(format parquet, compression zstd, row_group_size {ROW_GROUP_ROWS}{_copy_encryption(encrypted)})",
            {"m": m},
        )
        rows, t_lo, t_hi = con.execute(
            f"select count(*), min({spec.time})::timestamp, max({spec.time})::timestamp "
            f"from read_parquet('{target}'{enc})"
        ).fetchall()[0]
        retired += retire(con, old)
        con.execute(
            "insert into lake_files values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [table, rel, m, load_id, rows, target.stat().st_size, t_lo, t_hi, utc_now()],
        )
        written += 1
    con.execute("drop table if exists temp.lake_months")
    refresh_view(con, warehouse, encrypted=encrypted, table=table)
    return {"written": written, "retired": retired}


def retire(con: duckdb.DuckDBPyConnection, paths: Iterable[str]) -> int:
    """Take files out of the table (caller's transaction); they stay on disk until
    :func:`clean_retired` finds that no kept snapshot can name them."""
    paths = list(paths)
    if not paths:
        return 0
    con.execute(
        "insert into lake_retired select tbl, path, ? from lake_files where path in (select unnest(?))",
        [utc_now(), paths],
    )
    con.execute("delete from lake_files where path in (select unnest(?))", [paths])
    return len(paths)


def clean_orphans(con: duckdb.DuckDBPyConnection, warehouse: str | Path) -> int:
    """Delete Parquet files under the table folder that no committed state names: left by
    a load that failed or was killed before its commit. Runs under the writer lock."""
    removed = 0
    for table in SCHEMAS:
        base = table_dir(warehouse, table)
        if not base.exists():
            continue
        known = {
            r[0]
            for r in con.execute(
                "select path from lake_files where tbl = $t union all select path from lake_retired where tbl = $t",
                {"t": table},
            ).fetchall()
        }
        for path in base.glob("month=*/*.parquet"):
            if path.relative_to(base).as_posix() not in known:
                path.unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("removed %d orphan file(s) of an uncommitted load", removed)
    return removed


def clean_retired(
    con: duckdb.DuckDBPyConnection, warehouse: str | Path, *, oldest_snapshot: dt.datetime | None, force: bool = False
) -> int:
    """Delete retired files that no kept snapshot can name: those retired before the
    oldest kept snapshot was published (a snapshot names the files of its moment), or all
    of them with ``force`` (retention: personal data goes now). Caller's transaction."""
    if force or oldest_snapshot is None:
        rows = con.execute("select tbl, path from lake_retired").fetchall()
    else:
        rows = con.execute("select tbl, path from lake_retired where retired_at < ?", [oldest_snapshot]).fetchall()
    gone = [r[1] for r in rows]
    for tbl, rel in rows:
        (table_dir(warehouse, tbl) / rel).unlink(missing_ok=True)
    if gone:
        con.execute("delete from lake_retired where path in (select unnest(?))", [gone])
    return len(gone)


# a table's small files that compaction may merge: below a row count, and not reaching into
# the table's newest open_hours hours
_SMALL_FILES = (
    "select {select} from lake_files where tbl = $tbl and rows < $max_rows and ($open = 0 "
    "or max_start_at < (select max(max_start_at) from lake_files where tbl = $tbl) - to_hours($open::integer)) {group}"
)


def compact(
    con: duckdb.DuckDBPyConnection,
    warehouse: str | Path,
    *,
    months: Iterable[str] | None = None,
    min_files: int = 2,
    max_rows: int = COMPACT_MAX_ROWS,
    table: str = TABLE,
) -> dict[str, int]:
    """Merge each month's small files (below ``max_rows`` rows) of ``table`` into one file
    in the table's sort order, one transaction; the replaced files are retired (they stay
    until no kept snapshot names them). A month with fewer than ``min_files`` small files
    is left."""
    spec = TABLES[table]
    enc = bool(_key_set(con))
    wanted = set(months) if months is not None else None
    small = con.execute(
        _SMALL_FILES.format(select="month, list(path order by path)", group="group by month order by month"),
        {"tbl": table, "max_rows": max_rows, "open": spec.open_hours},
    ).fetchall()
    before = int(con.execute("select count(*) from lake_files where tbl = ?", [table]).fetchall()[0][0])
    merged_months = 0
    base = table_dir(warehouse, table).resolve()
    con.execute("begin")
    try:
        for month, paths in small:
            if (wanted is not None and month not in wanted) or len(paths) < min_files:
                continue
            listed = ", ".join("'" + str(base / p).replace("'", "''") + "'" for p in paths)
            rel = f"month={month}/c{uuid.uuid4().hex[:16]}.parquet"
            target = base / rel
            con.execute(
                f"copy (select * from read_parquet([{listed}]{_encryption_clause(enc)}) order by {spec.order}) "
                f"to '{target}' (format parquet, compression zstd, row_group_size {ROW_GROUP_ROWS}{_copy_encryption(enc)})"
            )
            rows, lo, hi = con.execute(
                "select sum(rows), min(min_start_at), max(max_start_at) from lake_files where path in (select unnest(?))",
                [paths],
            ).fetchall()[0]
            retire(con, paths)
            con.execute(
                "insert into lake_files values (?, ?, ?, 0, ?, ?, ?, ?, ?)",
                [table, rel, month, rows, target.stat().st_size, lo, hi, utc_now()],
            )
            merged_months += 1
        if merged_months:
            refresh_view(con, warehouse, encrypted=enc, table=table)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    after = int(con.execute("select count(*) from lake_files where tbl = ?", [table]).fetchall()[0][0])
    return {"months_compacted": merged_months, "files_before": before, "files_after": after}


def delete_before(
    con: duckdb.DuckDBPyConnection, warehouse: str | Path, cutoff: dt.datetime, *, table: str = TABLE
) -> int:
    """Take every record with ``start_at < cutoff`` out of the table (caller's
    transaction): a file wholly before it is retired, a file across it is rewritten
    without those rows. Rows removed. The retired files still hold the rows: retention
    deletes them with :func:`clean_retired` (``force``) once it has committed."""
    enc = _key_set(con)
    base = table_dir(warehouse, table).resolve()
    hit = con.execute(
        "select path, month, max_start_at >= ? from lake_files where tbl = ? and min_start_at < ?",
        [cutoff, table, cutoff],
    ).fetchall()
    if not hit:
        return 0
    before = int(con.execute(f"select count(*) from {table}").fetchall()[0][0])  # table: a key of SCHEMAS
    for path, month, straddles in hit:
        if straddles:
            rel = f"month={month}/r{uuid.uuid4().hex[:16]}.parquet"
            target = base / rel
            source = "'" + str(base / path).replace("'", "''") + "'"
            con.execute(
                f"copy (select * from read_parquet([{source}]{_encryption_clause(enc)}) where start_at >= ? "
                f"order by {TABLES[table].order}) to '{target}' "
                f"(format parquet, compression zstd, row_group_size {ROW_GROUP_ROWS}{_copy_encryption(enc)})",
                [cutoff],
            )
            rows, lo, hi = con.execute(
                f"select count(*), min(start_at), max(start_at) from read_parquet('{target}'{_encryption_clause(enc)})"
            ).fetchall()[0]
            if rows:
                con.execute(
                    "insert into lake_files select tbl, ?, month, load_id, ?, ?, ?, ?, ? from lake_files where path = ?",
                    [rel, rows, target.stat().st_size, lo, hi, utc_now(), path],
                )
            else:
                target.unlink()
        retire(con, [path])
    refresh_view(con, warehouse, encrypted=enc, table=table)
    return before - int(con.execute(f"select count(*) from {table}").fetchall()[0][0])


def months_to_compact(
    con: duckdb.DuckDBPyConnection,
    *,
    min_files: int = COMPACT_MIN_FILES,
    max_rows: int = COMPACT_MAX_ROWS,
    table: str = TABLE,
) -> list[str]:
    """Months of ``table`` with more than ``min_files`` small files: what an automatic
    compaction merges."""
    rows = con.execute(
        _SMALL_FILES.format(select="month", group="group by month having count(*) > $min_files order by month"),
        {"tbl": table, "max_rows": max_rows, "open": TABLES[table].open_hours, "min_files": min_files},
    ).fetchall()
    return [r[0] for r in rows]


def _key_set(con: duckdb.DuckDBPyConnection) -> bool:  # noqa: ARG001 - the key is the process's, not the file's
    """True when lake files are written and read encrypted (``ANALYTICS_DB_KEY`` is set)."""
    from analytics.config import secret  # noqa: PLC0415 - config imports nothing of ours

    return bool(secret("db_key"))


# --- the Delta log -------------------------------------------------------------------------


def _arrow_schema(con: duckdb.DuckDBPyConnection):
    return con.sql("select * from records_schema limit 0").to_arrow_table().schema


def sync_delta(con: duckdb.DuckDBPyConnection, warehouse: str | Path) -> int | None:
    """Bring the Delta log to the file set DuckDB committed; the table version after it.

    Appends new files; a month whose files were replaced (compaction, retention) is
    overwritten as one partition. Writes nothing when the log already matches."""
    import pyarrow as pa  # noqa: PLC0415 - heavy, only the writer needs it
    from deltalake import DeltaTable  # noqa: PLC0415
    from deltalake.transaction import AddAction, create_table_with_add_actions  # noqa: PLC0415

    uri = str(table_dir(warehouse).resolve())
    rows = con.execute(
        "select path, month, rows, bytes, min_start_at, max_start_at from lake_files where tbl = ? order by path",
        [TABLE],
    ).fetchall()
    want = {r[0]: r for r in rows}
    from deltalake import Schema  # noqa: PLC0415

    schema = Schema.from_arrow(_arrow_schema(con).append(pa.field("month", pa.string())))
    now_ms = int(time.time() * 1000)

    def action(r) -> AddAction:
        stats = {"numRecords": int(r[2])}
        return AddAction(r[0], int(r[3]), {"month": r[1]}, now_ms, True, json.dumps(stats))

    if not DeltaTable.is_deltatable(uri):
        if not want:
            return None
        Path(uri).mkdir(parents=True, exist_ok=True, mode=0o700)
        create_table_with_add_actions(
            uri, schema, [action(r) for r in want.values()], mode="error", partition_by=["month"]
        )
        return DeltaTable(uri).version()
    table = DeltaTable(uri)
    have = set(table.file_uris())
    have_rel = {Path(u).relative_to(uri).as_posix() if u.startswith(uri) else u for u in (_local(u) for u in have)}
    if have_rel == set(want):
        return table.version()
    months_changed = {p.split("/", 1)[0].removeprefix("month=") for p in have_rel - set(want)}
    new = [want[p] for p in set(want) - have_rel if want[p][1] not in months_changed]
    if new:
        table.create_write_transaction([action(r) for r in new], mode="append", schema=schema, partition_by=["month"])
    for month in sorted(months_changed):
        table = DeltaTable(uri)
        acts = [action(r) for r in want.values() if r[1] == month]
        table.create_write_transaction(
            acts, mode="overwrite", schema=schema, partition_by=["month"], partition_filters=[("month", "=", month)]
        )
    return DeltaTable(uri).version()


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


def delta_version(warehouse: str | Path) -> int | None:
    from deltalake import DeltaTable  # noqa: PLC0415

    uri = str(table_dir(warehouse).resolve())
    return DeltaTable(uri).version() if DeltaTable.is_deltatable(uri) else None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def ensure_private(path: Path) -> None:
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
