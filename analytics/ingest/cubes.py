"""Refreshing the usage cubes for the keys one load touched (the load's aggregates from
cube_frames.py or cubes_refresh.sql, then cubes_touched.sql, and cubes_months_fresh.sql or
cubes_months_merge.sql).

The cubes and their grains (schema.sql states each):

* ``usage_hourly_cell``: UTC hour x region x cell x service x direction ('' for no cell);
* ``usage_daily_region``: local day x region x service;
* ``usage_monthly_region``: local month x region;
* ``subscriber_month``: local month x msisdn.

Each holds exact distinct subscriber counts, refreshed inside the load's transaction. A
touched hour or day key is recomputed from all stored records of that key. A one-machine
load into months no other load has records in (fresh) holds every such record in memory:
its aggregates are computed in Polars from those rows (cube_frames.py), and no lake file
is read back. Otherwise (a merge, or the cluster driver, whose rows are in the workers'
files) DuckDB computes them in SQL over the stored records, streaming within its memory
limit. The month grains depend on whether other
loads have records in the load's months: if not (a bulk load), they are aggregated from
the load's own rows (cubes_months_fresh.sql); if so (a daily extract), the touched rows
become their stored values plus the load's, with the helper ``month_subscriber_regions``
keeping distinct counts exact (cubes_months_merge.sql). Adding a day costs that day's
records, never a rescan of its month or year.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Any

import duckdb
import polars as pl

from analytics import lake, store
from analytics.ingest import cube_frames

log = logging.getLogger(__name__)

TEMP_TABLES = (
    "zone_quarters",
    "load_hours",
    "load_days",
    "touched_days",
    "touched_region_months",
    "touched_sub_months",
    "load_delta",
    "helper_ready",
    "helper_rows",
    "monthly_next",
    "sub_next",
    "hourly_next",
    "daily_next",
)


def run_script(con: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any]) -> None:
    """Execute a multi-statement SQL script, giving each statement the parameters it names."""
    for statement in (s.strip() for s in text.split(";\n")):
        body = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()
        if not body:
            continue
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", body)}
        t0, c0 = time.perf_counter(), time.process_time()
        con.execute(body, used) if used else con.execute(body)
        log.debug(
            "%.2fs (cpu %.2fs)  %s", time.perf_counter() - t0, time.process_time() - c0, body.splitlines()[0][:70]
        )


def _span(lo: dt.datetime, hi: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """UTC bounds around every local month a load of start times [lo, hi] can touch, with margins."""
    span_lo = _month_start(lo - dt.timedelta(days=2)) - dt.timedelta(days=2)
    span_hi = _month_start(_month_start(hi + dt.timedelta(days=2)) + dt.timedelta(days=32)) + dt.timedelta(days=2)
    return span_lo, span_hi


def is_fresh(
    con: duckdb.DuckDBPyConnection,
    *,
    load_id: int,
    lo: dt.datetime,
    hi: dt.datetime,
    last_load_id: int | None = None,
) -> bool:
    """True when no other load has records in the months loads ``load_id..last_load_id``
    (start times [lo, hi]) can touch: decided from the lake's file bounds, not a scan (a
    compacted file, load 0, counts as another load's)."""
    span_lo, span_hi = _span(lo, hi)
    return not con.execute(
        "select exists(select 1 from lake_files where tbl = 'records' and max_start_at >= ? and min_start_at < ? "
        "and load_id not between ? and ?)",
        [span_lo, span_hi, load_id, load_id if last_load_id is None else last_load_id],
    ).fetchall()[0][0]


def refresh_cubes(
    con: duckdb.DuckDBPyConnection,
    *,
    load_id: int,
    lo: dt.datetime,
    hi: dt.datetime,
    timezone: str,
    home_country: str,
    last_load_id: int | None = None,
    rows: pl.DataFrame | None = None,
    fresh: bool | None = None,
) -> None:
    """Recompute every cube's keys touched by load ``load_id`` (start_at within [lo, hi]);
    with ``last_load_id``, by the loads ``load_id..last_load_id`` taken as one (a cluster
    run's files, analytics/ingest/distributed.py): the same cubes as one refresh each.

    ``rows``: the load's records (at least :data:`~analytics.ingest.load.CUBE_COLUMNS`),
    held in memory by the caller: the load's own rows are then read from it instead of its
    lake files, and on the fresh path (:func:`is_fresh`, which ``fresh`` may pass on) so
    are all the rows of the touched hours and days. Without it, the stored records."""
    last_load_id = load_id if last_load_id is None else last_load_id
    t0 = time.perf_counter()
    span_lo, span_hi = _span(lo, hi)
    if fresh is None:
        fresh = is_fresh(con, load_id=load_id, lo=lo, hi=hi, last_load_id=last_load_id)
    # Cube rows have no order: without it DuckDB inserts an aggregate's output from every
    # thread instead of one.
    con.execute("set preserve_insertion_order = false")
    try:
        params = {
            "load_id": load_id,
            "last_load_id": last_load_id,
            "lo": lo,
            "hi": hi,
            "span_lo": span_lo,
            "span_hi": span_hi,
            "tz": timezone,
            "home": home_country,
        }
        warehouse, encrypted = store.path_of(con), store.encrypted()
        if fresh and rows is not None:  # every row of the touched hours and days is in memory
            t1 = time.perf_counter()
            frames = cube_frames.load_aggregates(rows, timezone=timezone, home_country=home_country)
            # the hourly rows (about one per record) are read by DuckDB where they lie in
            # memory; the small tables are copied in
            con.register("hourly_rows", frames["hourly_next"])
            hourly = "hourly_rows"
            for name, frame in frames.items():
                if name == "hourly_next":
                    continue
                con.register("cube_frame", frame)
                try:
                    con.execute(f"create or replace temp table {name} as select * from cube_frame")  # name: ours
                finally:
                    con.unregister("cube_frame")
            log.debug("load aggregates in Polars: %.2fs", time.perf_counter() - t1)
        else:
            frames, hourly = {}, "hourly_next"
            if rows is not None:
                con.register("load_records", rows)
            else:
                con.execute("create or replace temp view load_records as select * from records")
            margin = dt.timedelta(days=2)
            lake.span_view(con, warehouse, "near_records", lo - margin, hi + margin, encrypted=encrypted)
            run_script(con, store.sql("cubes_refresh"), params)
        run_script(con, store.sql("cubes_touched"), params)
        run_script(con, store.sql("cubes_months_fresh" if fresh else "cubes_months_merge"), params)
        for table, new, keys, key_columns in (
            ("usage_hourly_cell", hourly, "load_hours", ("hour_at",)),
            ("subscriber_month", "sub_next", "touched_sub_months", ("month_date", "msisdn")),
        ):
            t1 = time.perf_counter()
            out = lake.replace_keys(
                con,
                warehouse,
                table,
                new=new,
                keys=keys,
                key_columns=key_columns,
                timezone=timezone,
                encrypted=encrypted,
                load_id=last_load_id,
                frame=frames.get("hourly_next" if new == hourly else new),
            )
            log.debug("%s: %s in %.2fs", table, out, time.perf_counter() - t1)
    finally:
        con.execute("reset preserve_insertion_order")
    log.debug("cubes refreshed in %.2fs", time.perf_counter() - t0)


def _month_start(at: dt.datetime) -> dt.datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the refresh's temp tables (after its transaction ended, either way)."""
    con.execute("drop view if exists temp.month_records")
    con.execute("drop view if exists temp.near_records")
    for registered in ("load_records", "hourly_rows"):
        try:
            con.unregister(registered)
        except duckdb.Error:
            pass
    con.execute("drop view if exists temp.load_records")
    for table in TEMP_TABLES:
        con.execute(f"drop table if exists temp.{table}")
