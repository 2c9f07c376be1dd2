"""Rated records: the rating engine applied to a warehouse month, stored or on the fly.

Table ``rated_records`` (grain: one row per record) holds each record's expected charge
and rule; ``rated_months`` (one row per month) says what the stored rating was computed
from, so a month whose records, plans or subscribers changed since is re-rated instead of
served stale. :func:`rated_month` returns the stored rows when they are current and rates
on the fly otherwise (the dashboard reads a read-only snapshot and cannot write).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import duckdb
import polars as pl

from analytics import lake, store
from analytics.calendar import month_bounds, record_months
from analytics.config import settings
from analytics.partitioned import Runner
from analytics.rating import rate_records

log = logging.getLogger(__name__)

RATED_COLUMNS = (
    "record_id",
    "month_date",
    "start_at",
    "msisdn",
    "service",
    "direction",
    "region",
    "plan_id",
    "allowance_kind",
    "rule",
    "billable_units",
    "units_from_allowance",
    "allowance_used",
    "allowance_left_after",
    "expected_charge",
    "charge",
)


def ensure_billing_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the billing tables and the ``rated_records`` view over the lake's files
    (idempotent; needs a writable connection). A ``rated_records`` table of the
    single-file layout is dropped with its month stamps: the months re-rate."""
    con.execute(store.sql("billing_schema"))
    kind = store.scalar(con, "select table_type from information_schema.tables where table_name = 'rated_records'")
    if kind == "BASE TABLE":
        con.execute("drop table rated_records")
        con.execute("delete from rated_months")
        kind = None
    if kind is None:
        lake.refresh_view(con, store.path_of(con), encrypted=store.encrypted(), table="rated_records")


def _params(month: dt.date, timezone: str) -> dict[str, dt.datetime]:
    start, end = month_bounds(month, timezone)
    return {"start_at": start, "end_at": end}


def _reference_hashes(con: duckdb.DuckDBPyConnection) -> tuple[str | None, str | None]:
    df = store.fetch(con, "@billing_reference_hashes")
    d = dict(zip(df["kind"], df["content_sha256"], strict=True))
    return d.get("plans"), d.get("subscribers")


def rate_fetched(
    con: duckdb.DuckDBPyConnection, raw: pl.DataFrame, *, timezone: str, home_country: str
) -> pl.LazyFrame:
    """Rate records fetched with ``subscriber_plan_id`` alongside (all input columns kept)."""
    own = pl.col("plan_id").str.strip_chars()
    resolved = (
        raw.lazy()
        .with_columns(
            pl.when(own.is_not_null() & (own != "")).then(own).otherwise(pl.col("subscriber_plan_id")).alias("plan_id")
        )
        .drop("subscriber_plan_id")
    )
    plans = store.fetch(con, "@plans").lazy()
    return rate_records(resolved, plans, home_country=home_country, timezone=timezone)


def rate_month(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    timezone: str | None = None,
    home_country: str | None = None,
    runner: Runner | None = None,
) -> pl.DataFrame:
    """Rate one local month of the warehouse now: one row per record, :data:`RATED_COLUMNS`.

    ``runner`` (analytics.partitioned): each share of the subscribers rated by this same
    function on a cluster worker (allowances are per subscriber-month: shares are exact)."""
    cfg = settings()
    tz, home = timezone or cfg.timezone, home_country or cfg.home_country
    if runner is not None:
        return pl.concat(runner(rate_month, {"month": month, "timezone": tz, "home_country": home}), how="vertical")
    raw = store.fetch(con, "@billing_month_records", _params(month, tz))
    out = rate_fetched(con, raw, timezone=tz, home_country=home).select(RATED_COLUMNS).collect()
    log.debug("rated %s: %d records", month, out.height)
    return out


def rate_subscriber_month(
    con: duckdb.DuckDBPyConnection, msisdn: str, month: dt.date, *, timezone: str | None = None
) -> pl.DataFrame:
    """One subscriber's month rated now (exact: allowances are per subscriber-month).

    One row per record with every records column plus the rating columns, in record order.
    """
    cfg = settings()
    tz = timezone or cfg.timezone
    raw = store.fetch(con, "@billing_subscriber_records", {"msisdn": msisdn, **_params(month, tz)})
    return rate_fetched(con, raw, timezone=tz, home_country=cfg.home_country).collect().sort("start_at", "record_id")


def stored_is_current(con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str | None = None) -> bool:
    """True when ``rated_records`` holds ``month`` rated from the records and references now loaded."""
    if not store.has_table(con, "rated_months"):
        return False
    tz = timezone or settings().timezone
    stored = store.fetch(con, "@billing_rated_month_stamp", {"month_date": month})
    if stored.height == 0:
        return False
    now = store.fetch(con, "@billing_month_state", _params(month, tz)).row(0, named=True)
    plans_sha, subs_sha = _reference_hashes(con)
    row = stored.row(0, named=True)
    return (row["records"], row["max_load_id"], row["plans_sha"], row["subs_sha"]) == (
        now["records"],
        now["max_load_id"],
        plans_sha,
        subs_sha,
    )


def rated_month(
    con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str | None = None, runner: Runner | None = None
) -> pl.DataFrame:
    """The month's rated records (no particular order): stored when current, else rated now (read-only safe)."""
    if stored_is_current(con, month, timezone=timezone):
        return store.fetch(con, "@billing_rated_records", {"month_date": month})
    return rate_month(con, month, timezone=timezone, runner=runner)


def _month_stamp(con: duckdb.DuckDBPyConnection, month: dt.date, tz: str) -> list:
    """The ``rated_months`` row for ``month`` as the warehouse is now."""
    state = store.fetch(con, "@billing_month_state", _params(month, tz)).row(0, named=True)
    plans_sha, subs_sha = _reference_hashes(con)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return [month, state["records"], state["max_load_id"], plans_sha, subs_sha, now]


def _write_month(cur: duckdb.DuckDBPyConnection, month: dt.date, rated: pl.DataFrame, stamp: list) -> None:
    """Replace the stored rating of ``month`` in one transaction on ``cur`` (its own cursor)."""
    cur.execute("begin")
    try:
        lake.replace_month(
            cur,
            store.path_of(cur),
            "rated_records",
            month.strftime("%Y-%m"),
            rated.select(RATED_COLUMNS),
            timezone=settings().timezone,
            encrypted=store.encrypted(),
        )
        cur.execute("delete from rated_months where month_date = ?", [month])
        cur.execute("insert into rated_months values (?, ?, ?, ?, ?, ?)", stamp)
        cur.execute("commit")
    except BaseException:
        cur.execute("rollback")
        raise
    log.info("stored rated records for %s: %d", month.isoformat()[:7], rated.height)


def store_rated_month(
    con: duckdb.DuckDBPyConnection, month: dt.date, rated: pl.DataFrame, *, timezone: str | None = None
) -> None:
    """Replace the stored rating of ``month`` by ``rated`` (:func:`rate_month` rows), with the
    state it was computed from, in one transaction (inside ``store.writer``)."""
    stamp = _month_stamp(con, month, timezone or settings().timezone)
    cur = store.cursor(con)
    try:
        _write_month(cur, month, rated, stamp)
    finally:
        cur.close()


@contextmanager
def refreshed_month(
    con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str | None = None, runner: Runner | None = None
) -> Iterator[pl.DataFrame]:
    """Yields the month's rating (inside ``store.writer``): the stored rows when current, else
    the month rated now, stored on its own cursor in a background thread while the block
    compares (DuckDB's insert runs on one core); leaving the block waits for the store and
    raises its error, if any. The month is rated once and never read back."""
    ensure_billing_schema(con)
    tz = timezone or settings().timezone
    if stored_is_current(con, month, timezone=tz):
        yield store.fetch(con, "@billing_rated_records", {"month_date": month})
        return
    rated = rate_month(con, month, timezone=tz, runner=runner)
    stamp = _month_stamp(con, month, tz)
    cur = store.cursor(con)  # made here: a connection's cursors are created on one thread
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(_write_month, cur, month, rated, stamp)
            try:
                yield rated
            finally:
                pending.result()
    finally:
        cur.close()


def refresh_rated_records(
    con: duckdb.DuckDBPyConnection,
    months: list[dt.date] | None = None,
    *,
    timezone: str | None = None,
    force: bool = False,
) -> dict[str, int]:
    """Re-rate and store ``months`` (default: every month with records; stale ones only unless
    ``force``). Call inside ``store.writer``; runs its own transaction per month.

    The ingest calls this with the local months a load touched. Returns {month: records}.
    """
    ensure_billing_schema(con)
    tz = timezone or settings().timezone
    targets = months if months is not None else record_months(con, timezone=tz)
    done: dict[str, int] = {}
    for month in sorted({m.replace(day=1) for m in targets}):
        if not force and stored_is_current(con, month, timezone=tz):
            continue
        rated = rate_month(con, month, timezone=tz)
        store_rated_month(con, month, rated, timezone=tz)
        done[month.isoformat()[:7]] = rated.height
    return done
