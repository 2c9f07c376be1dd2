"""The stored reconciliation of a month: what the Billing page shows, built when the rating is.

Reconciling a month at 10 M records takes 3-7 s (read or rate the month, compare every
record), too long for a page's first view. :func:`analytics.billing.reconcile.refresh_reconciliation`
(called by ``analytics.marts.refresh_marts`` after each ingest run, and by ``python -m
analytics reconcile``) stores the month's report in three tables (analytics/sql/billing_schema.sql):

* ``reconcile_months``: one row per month: the totals that need every checked item
  (records checked, billed and expected totals, not reconciled, unrated) and what the
  report was computed from: the month's record count and max load_id, its billed duplicate
  rows (count, max load_id) and the plans / subscribers file hashes;
* ``reconcile_mismatches``: one row per mismatched item (the other totals and the class
  breakdown are sums over these);
* ``reconcile_breakdown``: one row per month x dimension (region, plan_id, service) x value.

:func:`stored_parts` serves them only while that state still matches the warehouse (a
read-only snapshot can check it; it cannot write), so a load the marts have not caught up
with yet falls back to reconciling on the fly, never to a stale report.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import duckdb
import polars as pl

from analytics import store
from analytics.billing.rated import _params, _reference_hashes

log = logging.getLogger(__name__)

DIMENSIONS = ("region", "plan_id", "service")
STATE_COLUMNS = ("records", "max_load_id", "dup_rows", "dup_max_load_id", "plans_sha", "subs_sha")
TOTAL_COLUMNS = ("records_checked", "billed_total", "expected_total", "not_reconciled", "unrated")


def month_state(con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str) -> dict[str, Any]:
    """What the month's stored reconciliation must have been computed from to be current."""
    state = store.fetch(con, "@billing_reconcile_state", _params(month, timezone)).row(0, named=True)
    plans_sha, subs_sha = _reference_hashes(con)
    return {**state, "plans_sha": plans_sha, "subs_sha": subs_sha}


def _current_row(con: duckdb.DuckDBPyConnection, month: dt.date, state: dict[str, Any]) -> dict[str, Any] | None:
    """The month's ``reconcile_months`` row when it was built from ``state``, else None."""
    if not store.has_table(con, "reconcile_months"):
        return None
    stored = store.fetch(con, "@billing_reconcile_month", {"month_date": month})
    if stored.height == 0:
        return None
    row = stored.row(0, named=True)
    return row if all(row[c] == state[c] for c in STATE_COLUMNS) else None


def is_current(
    con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str, state: dict[str, Any] | None = None
) -> bool:
    """True when ``reconcile_months`` holds ``month`` built from the data now loaded
    (``state``: :func:`month_state`, when the caller has it already)."""
    return _current_row(con, month, state or month_state(con, month, timezone=timezone)) is not None


def stored_parts(
    con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str, state: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The month's stored totals, mismatches and breakdowns, or None when absent or stale.

    ``mismatches`` comes in the report's order (start_at, record_id, source); each
    breakdown frame has the dimension's own column name, sorted with nulls last."""
    totals = _current_row(con, month, state or month_state(con, month, timezone=timezone))
    if totals is None:
        return None
    mism = store.fetch(con, "@billing_reconcile_mismatches", {"month_date": month})
    rows = store.fetch(con, "@billing_reconcile_breakdown", {"month_date": month})
    parts = {
        dim: rows.filter(pl.col("dimension") == dim)
        .drop("month_date", "dimension")
        .rename({"value": dim})
        .sort(dim, nulls_last=True)
        for dim in DIMENSIONS
    }
    return {"totals": {c: totals[c] for c in TOTAL_COLUMNS}, "mismatches": mism, "breakdown": parts}


def write_report(con: duckdb.DuckDBPyConnection, month: dt.date, report: dict[str, Any], state: dict[str, Any]) -> None:
    """Replace the stored reconciliation of ``month`` by ``report`` (``month_report``'s dict),
    stamped with ``state`` (:func:`month_state` taken before computing it), in one transaction."""
    summary = report["summary"]
    breakdown = pl.concat(
        [
            report[f"by_{dim.removesuffix('_id')}"].select(
                pl.lit(month).alias("month_date"),
                pl.lit(dim).alias("dimension"),
                pl.col(dim).cast(pl.String).alias("value"),
                pl.exclude(dim),
            )
            for dim in DIMENSIONS
        ]
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    row = [month, *(state[c] for c in STATE_COLUMNS), *(summary[c] for c in TOTAL_COLUMNS), now]
    cols = ("month_date", *STATE_COLUMNS, *TOTAL_COLUMNS, "built_at")
    with store.transaction(con) as cur:
        for table in ("reconcile_months", "reconcile_mismatches", "reconcile_breakdown"):
            cur.execute(f"delete from {table} where month_date = ?", [month])  # noqa: S608 - fixed names
        cur.register("_rec_mism", report["mismatches"])
        cur.execute("insert into reconcile_mismatches by name select * from _rec_mism")
        cur.unregister("_rec_mism")
        cur.register("_rec_breakdown", breakdown)
        cur.execute("insert into reconcile_breakdown by name select * from _rec_breakdown")
        cur.unregister("_rec_breakdown")
        cur.execute(f"insert into reconcile_months ({', '.join(cols)}) values ({', '.join('?' * len(cols))})", row)
    log.info("stored reconciliation of %s: %d mismatches", month.isoformat()[:7], report["mismatches"].height)
