"""The heavy marts on a Dask cluster, one subscriber-hash share of the records per task.

A mart whose rows for a subscriber depend on that subscriber's records only (the
bandicoot and usage indicators, the plan costs, recommendations and upsell, the month
rating) is computed by the one-machine path's own function on a *share* of the
subscribers: ``hash(msisdn) % parts = part`` (DuckDB's ``hash``, the same on every
machine). Each task opens a scratch in-memory DuckDB with the warehouse's schema, the
reference tables (``cells``, ``plans``, and the share's ``subscribers``) and the
``lake_files`` rows of ``records`` the driver saw, and a ``records`` view over those
lake files filtered to the share: the worker reads the month's Parquet files itself
and never opens the warehouse. The task function is called on that connection exactly as
the one-machine path calls it on the warehouse; the driver gets one result per share
back (:func:`run`) and merges them (concatenate, then the canonical sort), and whatever
needs every subscriber at once (k-means, the totals) runs on the driver.

The driver holds its warehouse connection (a reader, or the writer of a command that
stores) for the whole run, so no writer retires the lake files the workers read.
A worker that dies is replaced and its task retried by the engine
(``distributed.scheduler.allowed-failures``); a task that keeps failing fails the run
with one line (:class:`~analytics.cluster.ClusterError`) before anything is stored.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import duckdb
import polars as pl

from analytics import cluster as engine
from analytics import lake, store
from analytics.config import WarehouseSettings, settings

log = logging.getLogger(__name__)

REFERENCES = ("cells", "plans", "subscribers")  # the small tables the marts' queries join
FAULT_POINT = "mart_share"  # tests: ANALYTICS_FAULT=mart_share kills a worker inside its task

# (function, kwargs) -> one result per share, in share order
# (function, kwargs[, by=expression]) -> one result per share, in share order
Runner = Callable[..., list[Any]]


@dataclass(frozen=True)
class Share:
    """One task: the function to run on one share of the subscribers, and what it needs."""

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    part: int
    parts: int
    warehouse: str
    lake_files: pl.DataFrame
    references: dict[str, pl.DataFrame] = field(default_factory=dict)
    memory_limit: str = "2GB"
    by: str = "msisdn"  # the SQL expression over records whose hash picks the share


def share_filter(part: int, parts: int, column: str = "msisdn") -> str:
    """The SQL predicate of share ``part`` of ``parts`` (integers: safe to inline)."""
    return f"hash({column}) % {int(parts)} = {int(part)}"


# --- on a worker ---------------------------------------------------------------------------


def scratch(share: Share, spill: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose ``records`` view is the share's records of the lake files
    the driver listed, beside the reference tables (``subscribers``: the share's only)."""
    # spills go to a folder of the task's own (``spill``: run_share's, which it removes),
    # not to ./.tmp of the worker's working directory, where a killed worker would leave them
    spill = spill or tempfile.mkdtemp(prefix=f"analytics-share-{share.part}-")
    con = duckdb.connect(":memory:", config={"memory_limit": share.memory_limit, "temp_directory": spill})
    con.execute("set enable_progress_bar = false")
    if store.encrypted():  # as store._open: the lake files are encrypted with the warehouse's key
        con.execute("set force_mbedtls_unsafe = 'true'")
        con.execute("set temp_file_encryption = true")
        key = store._parquet_key(store._encryption_key())  # noqa: SLF001 - the one derivation of the key
        con.execute(f"pragma add_parquet_key('{lake.PARQUET_KEY_NAME}', '{key}')")  # hex: no quoting issue
        con.execute("attach ':memory:' as wh")  # store.cursor says `use wh` on an encrypted warehouse
        con.execute("use wh")
    con.execute(store.sql("schema"))
    for name, frame in {**share.references, "lake_files": share.lake_files}.items():
        if frame.height:
            con.register("_incoming", frame)
            con.execute(f"insert into {name} by name select * from _incoming")  # name: one of ours
            con.unregister("_incoming")
    where = share_filter(share.part, share.parts, share.by)
    if share.by == "msisdn":  # a share by another key (wangiri: the calling number) keeps them all
        con.execute(f"delete from subscribers where not ({where})")
    lake.refresh_view(con, share.warehouse, encrypted=store.encrypted())
    con.execute("alter view records rename to records_lake")
    con.execute(f"create view records as select * from records_lake where {where}")
    return con


def run_share(share: Share) -> Any:
    """The worker's task: ``share.fn(con, **share.kwargs)`` on the share's scratch DuckDB."""
    t0 = time.perf_counter()
    spill = tempfile.mkdtemp(prefix=f"analytics-share-{share.part}-")
    con = scratch(share, spill)
    try:
        out = share.fn(con, **share.kwargs)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    store._fault(FAULT_POINT)  # noqa: SLF001 - the tests' crash hook
    log.info("share %d/%d of %s: %.2fs", share.part, share.parts, share.fn.__name__, time.perf_counter() - t0)
    return out


# --- on the driver -------------------------------------------------------------------------


def run(
    client: Any,
    con: duckdb.DuckDBPyConnection,
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    name: str,
    parts: int | None = None,
    by: str = "msisdn",
) -> list[Any]:
    """``fn(share_con, **kwargs)`` on every share of the subscribers, one task each; the
    results in share order. ``parts`` defaults to the cluster's worker count. ``by``: the
    SQL expression over records whose hash makes the shares (a constant of the caller)."""
    parts = parts or max(len(client.scheduler_info().get("workers", {})), 1)
    lake_files = store.fetch(con, "@partitioned_lake_files", {"tbl": lake.TABLE})
    references = {t: store.fetch(con, f"@partitioned_reference_{t}") for t in REFERENCES}
    memory = settings().section("warehouse", WarehouseSettings).memory_limit
    shares = [
        Share(
            fn=fn,
            kwargs=kwargs,
            part=i,
            parts=parts,
            warehouse=store.path_of(con),
            lake_files=lake_files,
            references=references,
            memory_limit=memory,
            by=by,
        )
        for i in range(parts)
    ]
    tag = uuid.uuid4().hex  # keys unique to this run: another run may share the scheduler
    t0 = time.perf_counter()
    futures = client.map(run_share, shares, pure=False, key=[f"{name}-{i}-{tag}" for i in range(parts)])
    try:
        out = client.gather(futures)
    except Exception as exc:
        client.cancel(futures)
        raise engine.ClusterError(f"{name} on the cluster failed, nothing stored: {engine.one_line(exc)}") from exc
    log.info("%s on the cluster: %d shares in %.2fs", name, parts, time.perf_counter() - t0)
    return out


@contextmanager
def cluster_runner(
    spec: str | None, con: duckdb.DuckDBPyConnection, *, name: str, parts: int | None = None
) -> Iterator[Runner | None]:
    """A :data:`Runner` on cluster ``spec`` for the block (None without a spec: one machine)."""
    if not spec:
        yield None
        return
    with engine.connect(spec) as client:
        yield partial(run, client, con, name=name, parts=parts)


def concat(
    frames: Sequence[pl.DataFrame], *, by: Sequence[str], descending: bool | Sequence[bool] = False
) -> pl.DataFrame:
    """The shares' frames as one, in the canonical order ``by`` (the one-machine order)."""
    return pl.concat(list(frames), how="vertical").sort(list(by), descending=descending, maintain_order=True)
