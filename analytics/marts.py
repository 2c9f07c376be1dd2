"""Refresh of the marts that are derived from the records after a load.

The cubes are refreshed inside each file's load transaction; the heavier marts are
refreshed once per ingest run, after the loads committed, each with its own staleness
check, so a run with nothing new does no work:

* billing: the stored rating and reconciliation of every month whose records, billed
  duplicates, plans or subscribers changed (analytics.billing; the Billing page, the
  subscriber lookup and plan recommendations read them);
* segments: the stored segment report of every month whose inputs changed (this module,
  tables ``segment_months`` and ``segment_parts``; the Segments page reads it);
* fraud: the alerts of the records that arrived;
* network: the quality of every cell-hour of the UTC months whose records changed, and the
  incidents from the first of them on (analytics.network, docs/network.md).

Forecasts are kept fresh by :func:`analytics.pipeline.refresh_after` (outside any
writer, changed series only) once a warehouse has them.

The segment report (``analytics.marketing.report.segment_report``) takes ~20 s for a month
of 10 M records: too long for a page's first view. Its inputs are the month's records and
the months before it that it reads (the previous month for the churn signal, the upsell
window), the plans and subscribers, and the ``[marketing]`` settings; a month is rebuilt
when any of them changed, so a load into the latest month rebuilds that month only, while
a late load into an earlier month also rebuilds the months whose window holds it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import duckdb
import polars as pl

from analytics import store
from analytics.calendar import month_bounds, record_months, shift_month
from analytics.config import settings
from analytics.marketing.settings import marketing_settings

if TYPE_CHECKING:
    from analytics.marketing.report import SegmentReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MartsSettings:
    """``[marts]`` of analytics.toml (docs/architecture.md)."""

    segments_open_month_hours: float = 24.0  # the running month's segments stay stale this long
    forecasts_after_load: bool = True  # refresh the forecasts of a warehouse that has some


def marts_settings() -> MartsSettings:
    return settings().section("marts", MartsSettings)


SEGMENT_PARTS = ("subscribers", "segments", "matrix", "recommendations", "upsell", "plan_costs")
STATE_COLUMNS = ("window_start", "records", "max_load_id", "plans_sha", "subs_sha", "options_sha")


class MartsRefresh(TypedDict, total=False):
    """:func:`refresh_marts`: what each mart rebuilt, and its seconds (no fraud keys when
    detection failed: the error is raised after the other marts are published)."""

    reconciled_months: dict[str, int]  # month -> mismatches
    billing_s: float
    segment_months: dict[str, int]  # month -> subscribers
    segments_s: float
    network: dict[str, Any]  # analytics.network.mart.refresh
    fraud_alerts: int
    fraud_s: float


class StoredSegments(TypedDict):
    """:func:`stored_segment_report`: the stored report of a month and how current it is."""

    status: Literal["current", "stale", "missing"]
    report: SegmentReport | None
    built_at: dt.datetime | None


def refresh_marts(
    warehouse: str | Path | None = None,
    *,
    fraud_since: dt.datetime | None = None,
) -> MartsRefresh:
    """Rate and reconcile stale months, rebuild stale segment months, run fraud detection
    over records since ``fraud_since``."""
    out: MartsRefresh = {}
    t0 = time.perf_counter()
    from analytics.billing import refresh_reconciliation
    from analytics.fraud.engine import detect_into
    from analytics.network.mart import refresh as refresh_network

    failed: BaseException | None = None
    with store.writer(warehouse) as con:  # one writer: one snapshot published for all three marts
        out["reconciled_months"] = refresh_reconciliation(con)
        out["billing_s"] = round(time.perf_counter() - t0, 2)
        t1 = time.perf_counter()
        out["segment_months"] = refresh_segments(con)
        out["segments_s"] = round(time.perf_counter() - t1, 2)
        out["network"] = refresh_network(con)  # quality per cell-hour and incidents (analytics.network)
        t2 = time.perf_counter()
        try:
            alerts = detect_into(con, since=fraud_since)
        except Exception as exc:  # the committed billing and segment marts are still published
            failed = exc
        else:
            out["fraud_alerts"] = alerts.height
            out["fraud_s"] = round(time.perf_counter() - t2, 2)
    if failed is not None:
        raise failed

    log.info("marts refreshed: %s", out)
    return out


def earliest_new_record(result: dict[str, Any], warehouse: str | Path | None = None) -> dt.datetime | None:
    """The earliest start_at among the records an ingest result loaded (None if none)."""
    load_ids = [f["load_id"] for f in result.get("files", []) if f.get("status") == "loaded" and f.get("rows_loaded")]
    if not load_ids:
        return None
    with store.reader(warehouse) as con:
        return store.fetch(con, "@marts_earliest_new_record", {"load_ids": load_ids}).item()


# --- Segment mart ------------------------------------------------------------------------


def ensure_marts_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create this module's tables (idempotent; needs a writable connection)."""
    con.execute(store.sql("marts_schema"))


def segment_state(con: duckdb.DuckDBPyConnection, month: dt.date) -> dict[str, Any]:
    """What the stored segment report of ``month`` must have been computed from to be current."""
    from analytics.billing.rated import _reference_hashes

    cfg = settings()
    lookback = max(1, marketing_settings().upsell_window_months - 1)  # churn: the month before; upsell: its window
    window_start = shift_month(month, -lookback)
    start_at, _ = month_bounds(window_start, cfg.timezone)
    _, end_at = month_bounds(month, cfg.timezone)
    state = store.fetch(con, "@billing_month_state", {"start_at": start_at, "end_at": end_at}).row(0, named=True)
    plans_sha, subs_sha = _reference_hashes(con)
    # the [marketing] table as written in the file (the key stored reports were built with)
    key = json.dumps(
        [dict(cfg.table("marketing")), cfg.timezone, cfg.home_country.upper()], sort_keys=True, default=str
    )
    return {
        "window_start": window_start,
        **state,
        "plans_sha": plans_sha,
        "subs_sha": subs_sha,
        "options_sha": hashlib.sha256(key.encode()).hexdigest()[:16],
    }


def _encode(value: Any) -> Any:
    """Totals as JSON that keeps their types (Decimal, date, dicts with non-string keys)."""
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {"$items": [[k, _encode(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$decimal" in value:
            return Decimal(value["$decimal"])
        if "$date" in value:
            return dt.date.fromisoformat(value["$date"])
        return {k: _decode(v) for k, v in value["$items"]}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _parquet(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, statistics=False)
    return buf.getvalue()


def store_segment_report(
    con: duckdb.DuckDBPyConnection, month: dt.date, report: dict[str, Any], state: dict[str, Any], *, built_s: float
) -> None:
    """Replace the stored segment report of ``month`` (one transaction, inside ``store.writer``)."""
    ensure_marts_schema(con)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    parts = [[month, name, report[name].height, _parquet(report[name])] for name in SEGMENT_PARTS]
    cols = ("month_date", *STATE_COLUMNS, "totals_json", "built_s", "built_at")
    row = [month, *(state[c] for c in STATE_COLUMNS), json.dumps(_encode(report["totals"])), built_s, now]
    with store.transaction(con) as cur:
        cur.execute("delete from segment_parts where month_date = ?", [month])
        cur.execute("delete from segment_months where month_date = ?", [month])
        cur.executemany("insert into segment_parts values (?, ?, ?, ?)", parts)
        cur.execute(f"insert into segment_months ({', '.join(cols)}) values ({', '.join('?' * len(cols))})", row)
    log.info("stored segment report of %s: %d subscribers", month.isoformat()[:7], report["subscribers"].height)


def stored_segment_report(con: duckdb.DuckDBPyConnection, month: dt.date) -> StoredSegments:
    """The stored segment report of ``month`` (read-only safe).

    ``status``: ``current`` (built from the data now loaded), ``stale`` (built before a
    change of its inputs: records, plans, subscribers or settings), ``missing`` (never
    built). ``report``: :func:`segment_report`'s dict (None when missing), ``built_at``."""
    if not store.has_table(con, "segment_months"):
        return {"status": "missing", "report": None, "built_at": None}
    head = store.fetch(con, "@marts_segment_month", {"month_date": month})
    if head.height == 0:
        return {"status": "missing", "report": None, "built_at": None}
    row, now = head.row(0, named=True), segment_state(con, month)
    status = "current" if all(row[c] == now[c] for c in STATE_COLUMNS) else "stale"
    blobs = store.fetch(con, "@marts_segment_parts", {"month_date": month})
    report: dict[str, Any] = {p: pl.read_parquet(io.BytesIO(b)) for p, b in blobs.iter_rows()}
    report.update(month=month, totals=_decode(json.loads(row["totals_json"])))
    return {"status": status, "report": report, "built_at": row["built_at"]}


def refresh_segments(
    con: duckdb.DuckDBPyConnection,
    months: list[dt.date] | None = None,
    *,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Rebuild the stored segment report of every stale month of ``months`` inside
    ``store.writer``. Returns {month: subscribers} of those rebuilt.

    Without ``months`` (the refresh after a load): every month with records, except the
    open month (the latest with records) while its stored report is younger than
    ``[marts] segments_open_month_hours``: a daily file into the running month does not
    rebuild its segments each time; the page shows the report as stale since it was
    built, with a button to rebuild it now. A month is rebuilt once a later month has
    records (it is complete)."""
    from analytics.marketing.report import segment_report

    ensure_marts_schema(con)
    targets = months if months is not None else record_months(con)
    current = store.fetch(con, "@marts_segment_months")
    open_month = max((m.replace(day=1) for m in targets), default=None) if months is None else None
    max_age = dt.timedelta(hours=marts_settings().segments_open_month_hours)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    done: dict[str, int] = {}
    for month in sorted({m.replace(day=1) for m in targets}):
        state = segment_state(con, month)
        stored = current.filter(pl.col("month_date") == month)
        if stored.height and all(stored[c][0] == state[c] for c in STATE_COLUMNS):
            continue
        if month == open_month and stored.height and now - stored["built_at"][0] < max_age:
            log.info(
                "segments of the open month %s left stale (built %s)", month.isoformat()[:7], stored["built_at"][0]
            )
            continue
        t0 = time.perf_counter()
        report = segment_report(con, month=month)
        store_segment_report(con, month, report, state, built_s=round(time.perf_counter() - t0, 2))
        done[month.isoformat()[:7]] = report["subscribers"].height
    return done
