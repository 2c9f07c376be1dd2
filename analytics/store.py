"""The one owner of the DuckDB warehouse: connections, locking, snapshots and named SQL.

Concurrency model (DuckDB allows one read-write process *or* several read-only
processes on a file, never both):

* **Writers** (ingest, watch, forecast/fraud runs, retention, the app's own small
  writes) go through :func:`writer`. It takes an exclusive ``flock`` on
  ``<warehouse>.lock`` so writer processes queue instead of failing, opens the file
  read-write, and on success checkpoints and *publishes* a snapshot: a copy of the
  file written to a temporary name and renamed over ``<warehouse>.snapshot``.
  A failure inside the block rolls the open transaction back and publishes nothing.
* **The dashboard** reads only the published snapshot (:func:`snapshot_reader`).
  Readers of the snapshot never hold a lock on the writer's file, so a long load
  never blocks the dashboard and the dashboard never blocks a load; a reader keeps
  the inode it opened, so a rename mid-query cannot tear it. The snapshot's version
  (inode + mtime) is the cache key: when a load lands, the key changes and cached
  queries are recomputed.
* **Batch readers** (``summary``, ``reconcile``...) use :func:`reader`: a shared
  ``flock`` and a read-only connection on the writer's file, so they wait for a
  running load to commit and then see its result.

All SQL lives in ``analytics/sql/*.sql`` (loaded by name with :func:`sql`) or in the
module that owns a table; values always go in as parameters.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from analytics import lake, tariff
from analytics.config import WarehouseSettings, secret, settings

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent / "sql"
ENCRYPTION_ENV = "ANALYTICS_DB_KEY"


KEEP_SNAPSHOTS = 3  # published versions kept; a reader of an older one keeps its open file
_published_bytes: dict[str, int] = {}  # warehouse -> bytes its last publish copied (benchmarks)


def published_bytes(path: str | Path) -> int | None:
    """Bytes copied by the last publish of ``path`` in this process."""
    return _published_bytes.get(str(path))


class WarehouseError(RuntimeError):
    """A warehouse that cannot be opened or written (one-line reason)."""


INCLUDE = re.compile(r"\{include:([a-z0-9_]+)\}")


@lru_cache(maxsize=256)
def sql(name: str) -> str:
    """The text of ``analytics/sql/<name>.sql``.

    ``{include:other}`` is replaced by ``other.sql`` without its comment lines: a fragment
    (a column list, an expression) that several queries share, defined once; the
    ``rating_*`` fragments are generated from the tariff rules (:func:`analytics.tariff.sql_fragments`).
    """
    path = SQL_DIR / f"{name}.sql"
    if not path.exists():
        raise KeyError(f"no SQL named {name!r} in {SQL_DIR}")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(
        ln if ln.lstrip().startswith("--") else INCLUDE.sub(lambda m: _fragment(m.group(1)), ln) for ln in lines
    )


def _fragment(name: str) -> str:
    generated = tariff.sql_fragments()  # the tariff rules' fragments, generated from their one table
    if name in generated:
        return generated[name]
    text = sql(name)
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--")).strip()


def default_path() -> Path:
    return settings().warehouse_path


def snapshot_path(path: str | Path) -> Path:
    return Path(f"{path}.snapshot")


def lock_path(path: str | Path) -> Path:
    return Path(f"{path}.lock")


def _encryption_key() -> str | None:
    return secret("db_key")


def spill_dir(path: str | Path) -> Path:
    """Where DuckDB spills for a connection of this process: inside the warehouse's own
    folder (never the current directory), one subfolder per process so a writer can delete
    what a killed process left without touching a live reader's files."""
    return Path(f"{path}.tmp") / str(os.getpid())


def clean_spill(path: str | Path) -> int:
    """Delete the spill folders of processes that no longer run; how many."""
    root = Path(f"{path}.tmp")
    removed = 0
    for sub in root.glob("*") if root.exists() else ():
        if sub.name.isdigit() and not _alive(int(sub.name)):
            shutil.rmtree(sub, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _parquet_key(key: str) -> str:
    """A 256-bit Parquet key (32 characters) derived from the warehouse key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open ``path`` as the default catalog (attached with its key when encrypted)."""
    key = _encryption_key()
    spill = spill_dir(path.parent / path.name.split(".snap-")[0])
    try:
        spill.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = {
            "memory_limit": settings().section("warehouse", WarehouseSettings).memory_limit,
            "temp_directory": str(spill),
        }
        if not key:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
            con.execute("set enable_progress_bar = false")
            return con
        con = duckdb.connect(":memory:", config=config)
        con.execute("set enable_progress_bar = false")
        # DuckDB 2.0 writes encrypted files with its built-in mbedtls only when told so
        # (its OpenSSL path needs the httpfs extension, which cannot be fetched here).
        con.execute("set force_mbedtls_unsafe = 'true'")
        con.execute("set temp_file_encryption = true")
        con.execute(
            f"pragma add_parquet_key('{lake.PARQUET_KEY_NAME}', '{_parquet_key(key)}')"
        )  # hex: no quoting issue
        mode = ", read_only" if read_only else ""
        con.execute(f"attach ? as wh (encryption_key ?{mode})", [str(path), key])
        con.execute("use wh")
        return con
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open warehouse {path}: {exc}".splitlines()[0]) from exc


def encrypted() -> bool:
    """True when the warehouse and its lake files are encrypted (``ANALYTICS_DB_KEY``)."""
    return bool(_encryption_key())


def path_of(con: duckdb.DuckDBPyConnection) -> str:
    """The warehouse file ``con`` has open (its lake lies beside it)."""
    return str(scalar(con, "select path from duckdb_databases() where database_name = current_database()"))


def append_records(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, load_id: int) -> int:
    """Add typed record rows to the lake as files of load ``load_id`` and point the
    ``records`` view at them (caller's transaction; the load path, benchmarks and test
    fixtures that build a warehouse without an extract)."""
    path = path_of(con)
    lake.write_records(con, path, rows, load_id=load_id, timezone=settings().timezone, encrypted=encrypted())
    lake.refresh_view(con, path, encrypted=encrypted())
    return rows.height


def append_records_from(con: duckdb.DuckDBPyConnection, table: str, *, load_id: int) -> int:
    """Like :func:`append_records`, for rows generated in SQL into the DuckDB table ``table``."""
    path = path_of(con)
    n = lake.write_records_table(con, path, table, load_id=load_id, timezone=settings().timezone, encrypted=encrypted())
    lake.refresh_view(con, path, encrypted=encrypted())
    return n


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new cursor on ``con`` that sees the warehouse as its default catalog."""
    cur = con.cursor()
    if _encryption_key():
        cur.execute("use wh")
    return cur


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of ``con`` inside one transaction: committed when the block ends, rolled
    back (and the error re-raised) when it raises; the cursor is closed either way."""
    cur = cursor(con)
    try:
        cur.execute("begin")
        try:
            yield cur
            cur.execute("commit")
        except BaseException:
            cur.execute("rollback")
            raise
    finally:
        cur.close()


@contextmanager
def file_lock(path: Path, mode: int = fcntl.LOCK_EX) -> Iterator[None]:
    """``flock`` on ``path`` (created 0600) for the block: the one lock helper of the project."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def ensure_schema(con: duckdb.DuckDBPyConnection, path: str | Path | None = None, *, migrate: bool = True) -> None:
    """The core tables, and the view ``records`` over the lake's files (a warehouse of the
    single-file layout, whose records are a table, is migrated first)."""
    con.execute(sql("schema"))
    if path is None:
        return
    kind = scalar(con, "select table_type from information_schema.tables where table_name = 'records'")
    moved = _moved(con, path)
    if kind == "BASE TABLE" and migrate:
        _migrate(con, path)
    elif kind is None or moved:
        lake.refresh_view(con, path, encrypted=encrypted())
    for cube in lake.CUBES:
        kind = scalar(con, "select table_type from information_schema.tables where table_name = ?", [cube])
        if kind == "BASE TABLE":
            if migrate:
                _migrate_cube(con, path, cube)
        elif kind is None or moved:
            lake.refresh_view(con, path, encrypted=encrypted(), table=cube)


def _moved(con: duckdb.DuckDBPyConnection, path: str | Path) -> bool:
    """True when the records view names files of another folder (the warehouse was moved
    or copied with its lake): the views then name the lake beside it again."""
    if not scalar(con, "select count(*) from lake_files where tbl = 'records'"):
        return False
    text = scalar(
        con, "select sql from duckdb_views() where view_name = 'records' and database_name = current_database()"
    )
    return lake.table_dir(path).exists() and str(lake.table_dir(path).resolve()) not in (text or "")


def copy_warehouse(source: str | Path, target: str | Path) -> Path:
    """Copy a warehouse: its DuckDB file and its lake folder (the next writer of the copy
    points its views at the copied lake). Snapshots are not copied."""
    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    if lake.lake_dir(source).exists():
        shutil.copytree(lake.lake_dir(source), lake.lake_dir(target), dirs_exist_ok=True)
    return target


def _migrate(con: duckdb.DuckDBPyConnection, path: str | Path) -> dict[str, int]:
    """Move the records of a single-file warehouse into the lake, one transaction: the
    table's rows become Parquet files per month, the counts are checked, the table is
    replaced by the view. The Delta log follows on the writer's success."""
    tz = settings().timezone
    with transaction(con) as cur:
        before = int(cur.execute("select count(*) from records").fetchall()[0][0])
        months = [
            r[0]
            for r in cur.execute(
                "select distinct strftime(timezone(?, start_at::timestamptz), '%Y-%m') from records order by 1", [tz]
            ).fetchall()
        ]
        for month in months:
            frame = cur.sql(
                "select * from records where strftime(timezone(?, start_at::timestamptz), '%Y-%m') = ?",
                params=[tz, month],
            ).pl()
            lake.write_records(cur, path, frame, load_id=0, timezone=tz, encrypted=encrypted(), tag=f"migrated-{month}")
        cur.execute("drop table records")
        lake.refresh_view(cur, path, encrypted=encrypted())
        after = int(cur.execute("select count(*) from records").fetchall()[0][0])
        if after != before:
            raise WarehouseError(f"migration of {path} counted {after:,} records in the lake, {before:,} in the table")
    log.info("migrated %s: %d records in %d month(s) moved to %s", path, before, len(months), lake.table_dir(path))
    return {"records": before, "months": len(months)}


def _migrate_cube(con: duckdb.DuckDBPyConnection, path: str | Path, cube: str) -> int:
    """Move a cube table of an older warehouse (one whose cubes were DuckDB tables) into
    the lake, one transaction, the count checked; the table becomes the view. Rows moved."""
    tz = settings().timezone
    with transaction(con) as cur:
        before = int(cur.execute(f"select count(*) from {cube}").fetchall()[0][0])  # cube: a name of lake.CUBES
        frame = cur.sql(f"select * from {cube}").pl()
        cur.execute(f"drop table {cube}")
        lake.write_records(cur, path, frame, load_id=0, timezone=tz, encrypted=encrypted(), table=cube)
        lake.refresh_view(cur, path, encrypted=encrypted(), table=cube)
        after = int(cur.execute(f"select count(*) from {cube}").fetchall()[0][0])
        if after != before:
            raise WarehouseError(
                f"migration of {path} counted {after:,} {cube} rows in the lake, {before:,} in the table"
            )
    log.info("migrated %s: %d %s rows moved to %s", path, before, cube, lake.table_dir(path, cube))
    return before


@contextmanager
def writer(
    path: str | Path | None = None,
    *,
    publish: bool = True,
    migrate: bool = True,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection under the writers' lock; publishes a snapshot on success.

    The caller opens its own transaction(s) (``begin`` / ``commit``); an exception
    escaping the block rolls back whatever is open and publishes nothing.
    """
    path = Path(path or default_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(path), fcntl.LOCK_EX):
        clean_spill(path)
        con = _open(path, read_only=False)
        try:
            ensure_schema(con, path, migrate=migrate)
            lake.clean_orphans(con, path)
            yield con
        except BaseException:
            try:
                con.execute("rollback")
            except duckdb.Error:
                pass
            con.close()
            raise
        t0 = time.perf_counter()
        try:
            if publish:  # files no snapshot kept after this publish can name
                with transaction(con) as cur:
                    lake.clean_retired(cur, path, oldest_snapshot=_oldest_snapshot(path, after_publish=True))
            con.execute("checkpoint")
            t1 = time.perf_counter()
            _fault("before_publish")
            if publish:
                publish_snapshot(path)
            t2 = time.perf_counter()
            _fault("before_delta_sync")
            lake.sync_delta(con, path)  # reads DuckDB only: the published file stays as it is
        finally:
            con.close()
        log.debug("checkpoint %.2fs, snapshot %.2fs, delta log %.2fs", t1 - t0, t2 - t1, time.perf_counter() - t2)


def _fault(point: str) -> None:
    """Test hook: ``ANALYTICS_FAULT=<point>`` kills the process there (a crash between commits)."""
    if os.environ.get("ANALYTICS_FAULT") == point:
        os.kill(os.getpid(), 9)


def _snapshot_versions(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.snap-*[0-9]"), key=lambda p: int(p.name.rsplit("-", 1)[1]))


def _oldest_snapshot(path: Path, *, after_publish: bool = False, keep: int = KEEP_SNAPSHOTS) -> dt.datetime:
    """When the oldest snapshot kept (after the next publish) was published (UTC): files
    retired before it are named by no kept snapshot."""
    versions = _snapshot_versions(path)
    versions = versions[-(keep - 1) :] if after_publish and keep > 1 else versions
    if not versions:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ns = int(versions[0].name.rsplit("-", 1)[1])
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).replace(tzinfo=None)


def publish_snapshot(path: str | Path, *, keep: int = KEEP_SNAPSHOTS) -> Path:
    """Copy the (checkpointed) warehouse to a new ``<path>.snap-<ns>`` file and point
    ``<path>.snapshot`` (a symlink, replaced atomically) at it.

    Each version has its own file name because DuckDB caches database instances by
    path within a process: reopening one path could return the previous contents.
    Older versions beyond ``keep`` are unlinked; a reader that still has one open keeps
    reading it (POSIX unlink semantics).
    """
    path = Path(path)
    version = path.with_name(f"{path.name}.snap-{time.time_ns()}")
    tmp = version.with_name(version.name + ".tmp")
    shutil.copyfile(path, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, version)
    _published_bytes[str(path)] = version.stat().st_size
    link = snapshot_path(path)
    tmp_link = link.with_name(link.name + f".tmp{os.getpid()}")
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(version.name, tmp_link)
    os.replace(tmp_link, link)
    versions = _snapshot_versions(path)
    for old in versions[:-keep]:
        old.unlink(missing_ok=True)
    return version


def purge_history(path: str | Path) -> dict[str, int]:
    """Delete every older snapshot and every retired lake file now (retention: rows it
    deleted must not survive in a copy). The current snapshot stays."""
    path = Path(path)
    with file_lock(lock_path(path), fcntl.LOCK_EX):
        current = _current_snapshot(path)
        old = [v for v in _snapshot_versions(path) if current is None or v.name != current.name]
        for v in old:
            v.unlink(missing_ok=True)
        con = _open(path, read_only=False)
        try:
            with transaction(con) as cur:
                files = lake.clean_retired(cur, path, oldest_snapshot=None, force=True)
            con.execute("checkpoint")
        finally:
            con.close()
    return {"snapshots": len(old), "files": files}


@contextmanager
def reader(path: str | Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection on the writer's file, after any running load commits."""
    path = Path(path or default_path())
    if not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `python -m analytics ingest` or `demo` first")
    with file_lock(lock_path(path), fcntl.LOCK_SH):
        con = _open(path, read_only=True)
        try:
            yield con
        finally:
            con.close()


def _current_snapshot(path: Path) -> Path | None:
    link = snapshot_path(path)
    try:
        target = link.parent / os.readlink(link)
    except (FileNotFoundError, OSError):
        return None
    return target if target.exists() else None


def snapshot_version(path: str | Path | None = None) -> str | None:
    """Identity of the published snapshot (changes whenever a load lands), or None."""
    current = _current_snapshot(Path(path or default_path()))
    return current.name if current else None


def snapshot_reader(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published snapshot (the dashboard's view).

    Publishes one first if the warehouse exists but was never published.
    """
    path = Path(path or default_path())
    current = _current_snapshot(path)
    if current is None:
        if not path.exists():
            raise WarehouseError(f"no warehouse at {path}")
        with file_lock(lock_path(path), fcntl.LOCK_EX):
            current = _current_snapshot(path) or publish_snapshot(path)
    elif _behind(path, current):
        current = _publish_if_idle(path) or current
    return _open(current, read_only=True)


def _behind(path: Path, current: Path) -> bool:
    """True when the warehouse changed after its snapshot was published: a writer died
    between its commit and its publish (or its Delta sync)."""
    try:
        return path.stat().st_mtime_ns > int(current.name.rsplit("-", 1)[1])
    except (OSError, ValueError):
        return False


def _publish_if_idle(path: Path) -> Path | None:
    """Publish the committed state when no writer runs (never waits for one: a running
    writer publishes itself when it ends)."""
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        try:
            current = _current_snapshot(path)
            if current is not None and not _behind(path, current):
                return current
            log.warning("the snapshot of %s is older than its last commit: publishing it now", path)
            return publish_snapshot(path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_PARAM = re.compile(r"\$([A-Za-z_]\w*)")
_COMMENT = re.compile(r"--[^\n]*")


def fetch(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> pl.DataFrame:
    """The project's one query runner: ``query`` (SQL text, or ``@name`` for
    analytics/sql/name.sql) on its own cursor, as a Polars frame.

    ``params``: a list for ``?`` placeholders, or a mapping for ``$name`` ones. A mapping
    may hold more names than the statement uses (DuckDB refuses unused ones, so only the
    used ones are passed); a name the statement uses but the mapping lacks is a TypeError.
    """
    text = sql(query[1:]) if query.startswith("@") else query
    if isinstance(params, Mapping):
        used = set(_PARAM.findall(_COMMENT.sub("", text)))
        if missing := used - params.keys():
            raise TypeError(f"{query[:60]!r} needs parameters: {', '.join(sorted(missing))}")
        params = {k: v for k, v in params.items() if k in used} or None
    cur = cursor(con)
    try:
        # DuckDB 2.0: results of execute() have no .pl(); relations from sql() do.
        return cur.sql(text, params=params).pl() if params is not None else cur.sql(text).pl()
    finally:
        cur.close()


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when the warehouse has a table ``name`` (module-owned tables are created on first write)."""
    return bool(scalar(con, "select count(*) from information_schema.tables where table_name = ?", [name]))


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> Any:
    text = sql(query[1:]) if query.startswith("@") else query
    cur = cursor(con)
    try:
        rows = cur.execute(text, params).fetchall() if params is not None else cur.execute(text).fetchall()
        row = rows[0] if rows else None
    finally:
        cur.close()
    return None if row is None else row[0]


def migrate(con: duckdb.DuckDBPyConnection, path: str | Path) -> dict[str, int]:
    """Move what of a warehouse still lies in DuckDB tables into the lake: its records,
    then the cubes that live in the lake (``lake.CUBES``); the counts moved
    (``python -m analytics migrate``, analytics/lake_command.py)."""
    out: dict[str, int] = {}
    if scalar(con, "select table_type from information_schema.tables where table_name = 'records'") == "BASE TABLE":
        out.update(_migrate(con, path))
    for cube in lake.CUBES:
        if scalar(con, "select table_type from information_schema.tables where table_name = ?", [cube]) == "BASE TABLE":
            out[cube] = _migrate_cube(con, path, cube)
    return out


def needs_migration(con: duckdb.DuckDBPyConnection) -> bool:
    """True when records or a lake cube of this warehouse is still a DuckDB table."""
    return bool(
        scalar(
            con,
            "select count(*) from information_schema.tables where table_type = 'BASE TABLE' and table_name in ?",
            [["records", *lake.CUBES]],
        )
    )
