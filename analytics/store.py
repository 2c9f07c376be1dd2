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

import fcntl
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from analytics.config import secret, settings

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent / "sql"
ENCRYPTION_ENV = "ANALYTICS_DB_KEY"


class WarehouseError(RuntimeError):
    """A warehouse that cannot be opened or written (one-line reason)."""


INCLUDE = re.compile(r"\{include:([a-z0-9_]+)\}")


@lru_cache(maxsize=256)
def sql(name: str) -> str:
    """The text of ``analytics/sql/<name>.sql``.

    ``{include:other}`` is replaced by ``other.sql`` without its comment lines: a fragment
    (a column list, an expression) that several queries share, defined once.
    """
    path = SQL_DIR / f"{name}.sql"
    if not path.exists():
        raise KeyError(f"no SQL named {name!r} in {SQL_DIR}")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(
        ln if ln.lstrip().startswith("--") else INCLUDE.sub(lambda m: _fragment(m.group(1)), ln) for ln in lines
    )


def _fragment(name: str) -> str:
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


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open ``path`` as the default catalog (attached with its key when encrypted)."""
    key = _encryption_key()
    try:
        config = {"memory_limit": settings().section("warehouse").get("memory_limit", "3GB")}
        if not key:
            return duckdb.connect(str(path), read_only=read_only, config=config)
        con = duckdb.connect(":memory:", config=config)
        # DuckDB 2.0 writes encrypted files with its built-in mbedtls only when told so
        # (its OpenSSL path needs the httpfs extension, which cannot be fetched here).
        con.execute("set force_mbedtls_unsafe = 'true'")
        mode = ", read_only" if read_only else ""
        con.execute(f"attach ? as wh (encryption_key ?{mode})", [str(path), key])
        con.execute("use wh")
        return con
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open warehouse {path}: {exc}".splitlines()[0]) from exc


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
def _flock(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(sql("schema"))


@contextmanager
def writer(path: str | Path | None = None, *, publish: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection under the writers' lock; publishes a snapshot on success.

    The caller opens its own transaction(s) (``begin`` / ``commit``); an exception
    escaping the block rolls back whatever is open and publishes nothing.
    """
    path = Path(path or default_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    with _flock(lock_path(path), fcntl.LOCK_EX):
        con = _open(path, read_only=False)
        try:
            ensure_schema(con)
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
            con.execute("checkpoint")
        finally:
            con.close()
        t1 = time.perf_counter()
        if publish:
            publish_snapshot(path)
        log.debug("checkpoint %.2fs, snapshot %.2fs", t1 - t0, time.perf_counter() - t1)


def publish_snapshot(path: str | Path, *, keep: int = 3) -> Path:
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
    os.replace(tmp, version)
    link = snapshot_path(path)
    tmp_link = link.with_name(link.name + f".tmp{os.getpid()}")
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(version.name, tmp_link)
    os.replace(tmp_link, link)
    versions = sorted(path.parent.glob(f"{path.name}.snap-*[0-9]"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    for old in versions[:-keep]:
        old.unlink(missing_ok=True)
    return version


@contextmanager
def reader(path: str | Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection on the writer's file, after any running load commits."""
    path = Path(path or default_path())
    if not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `python -m analytics ingest` or `demo` first")
    with _flock(lock_path(path), fcntl.LOCK_SH):
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
        with _flock(lock_path(path), fcntl.LOCK_EX):
            current = _current_snapshot(path) or publish_snapshot(path)
    return _open(current, read_only=True)


def fetch(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> pl.DataFrame:
    """Run ``query`` (SQL text, or ``@name`` for analytics/sql/name.sql) on its own cursor."""
    text = sql(query[1:]) if query.startswith("@") else query
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
