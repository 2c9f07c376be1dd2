"""The network quality mart and its incidents, refreshed after a load.

``quality_hourly_cell`` (one row per UTC hour x region x cell) is rebuilt per UTC month,
for the months whose records changed since it was built (records count and newest
load id, the staleness check the billing mart uses) or whose ``short_call_s`` changed:
the whole month, or from the first new record's hour when the month only gained later
loads' records; then the incidents are re-detected from the first rebuilt hour on
(:func:`analytics.network.incidents.refresh_incidents`). A refresh with nothing new
does no work and changes nothing. Called by ``analytics.marts.refresh_marts``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import duckdb

from analytics import store
from analytics.ingest.cubes import run_script
from analytics.network.incidents import refresh_incidents
from analytics.network.kpis import NetworkSettings, options

log = logging.getLogger(__name__)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create this module's tables (idempotent; needs a writable connection)."""
    run_script(con, store.sql("network_schema"), {})


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _at(month: dt.date) -> dt.datetime:
    return dt.datetime(month.year, month.month, 1)


def _options_sha(opts: NetworkSettings) -> str:
    return hashlib.sha256(json.dumps({"short_call_s": opts.short_call_s}).encode()).hexdigest()[:16]


def stale_months(con: duckdb.DuckDBPyConnection, *, opts: NetworkSettings) -> list[tuple[dt.date, dict[str, Any]]]:
    """UTC months whose stored quality rows do not match the records now loaded, with the
    state they are to be built from and ``from_at``, where their rebuild starts: the
    month's start or, when the month only gained records of later loads since it was
    built (a daily file), the hour of the first of them: a day costs its own hours."""
    sha = _options_sha(opts)
    stored = {r["month_date"]: r for r in store.fetch(con, "@network_quality_months").iter_rows(named=True)}
    out = []
    for month in store.fetch(con, "@network_record_months")["month_date"].to_list():
        span = {"start_at": _at(month), "end_at": _at(next_month(month))}
        now = {**store.fetch(con, "@billing_month_state", span).row(0, named=True), "options_sha": sha}
        old = stored.get(month)
        if old is not None and all(old[k] == now[k] for k in ("records", "max_load_id", "options_sha")):
            continue
        from_at = span["start_at"]
        if old is not None and old["options_sha"] == sha and old["max_load_id"] is not None:
            params = {"from_at": span["start_at"], "to_at": span["end_at"], "after_load_id": old["max_load_id"]}
            added = store.fetch(con, "@network_month_additions", params).row(0, named=True)
            if added["added"] and old["records"] + added["added"] == now["records"]:  # additions only
                from_at = added["first_added_at"].replace(minute=0, second=0, microsecond=0)
        out.append((month, {**now, "from_at": from_at}))
    return out


def refresh(con: duckdb.DuckDBPyConnection, *, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Rebuild the stale months of the mart (from their ``from_at``, see
    :func:`stale_months`), then the incidents from the first rebuilt hour on (inside
    ``store.writer``). Returns {"quality_months": [...], "incidents": n or None, ...}."""
    ensure_schema(con)
    opts = options(overrides)
    t0 = time.perf_counter()
    stale = stale_months(con, opts=opts)
    if not stale:
        return {"quality_months": [], "incidents": None}
    start = min(state["from_at"] for _, state in stale)
    with store.transaction(con) as cur:
        for month, state in stale:
            params = {
                "from_at": state["from_at"],
                "to_at": _at(next_month(month)),
                "short_call_s": opts.short_call_s,
            }
            run_script(cur, store.sql("network_quality_month"), params)
    t1 = time.perf_counter()
    n = refresh_incidents(con, since=start)
    # the months are marked current last: when the incidents fail, the next refresh redoes both
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.transaction(con) as cur:
        for month, state in stale:
            cur.execute("delete from quality_months where month_date = ?", [month])
            cur.execute(
                "insert into quality_months values (?, ?, ?, ?, ?)",
                [month, state["records"], state["max_load_id"], state["options_sha"], now],
            )
    out = {
        "quality_months": [m.isoformat()[:7] for m, _ in stale],
        "from": start.isoformat(),
        "incidents": n,
        "quality_s": round(t1 - t0, 2),
        "incidents_s": round(time.perf_counter() - t1, 2),
    }
    log.info("network quality refreshed: %s", out)
    return out
