"""Refresh of the marts that are derived from the records after a load.

The cubes are refreshed inside each file's load transaction; the heavier marts are
refreshed once per ingest run, after the loads committed: the stored rating of every
month whose records changed (billing, support and plan recommendations read it) and the
fraud alerts of the records that arrived. Each mart keeps its own staleness check, so a
run with nothing new does no work. Forecasts are recomputed by ``python -m analytics
forecast`` (and the demo build), incrementally per series.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

from analytics import store

log = logging.getLogger(__name__)


def refresh_marts(
    warehouse: str | Path | None = None,
    *,
    fraud_since: dt.datetime | None = None,
    forecasts: bool = False,
) -> dict[str, Any]:
    """Re-rate stale months, run fraud detection over records since ``fraud_since``."""
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    from analytics.billing import refresh_rated_records

    with store.writer(warehouse) as con:
        rated = refresh_rated_records(con)
    out["rated_months"] = {str(k): v for k, v in rated.items()}
    out["rating_s"] = round(time.perf_counter() - t0, 2)

    t1 = time.perf_counter()
    from analytics.fraud.engine import run_detection

    alerts = run_detection(warehouse, since=fraud_since)
    out["fraud_alerts"] = alerts.height
    out["fraud_s"] = round(time.perf_counter() - t1, 2)

    if forecasts:
        t2 = time.perf_counter()
        from analytics.forecast.pipeline import run_forecast

        with store.writer(warehouse) as con:
            out["forecasts"] = {freq: run_forecast(con, freq=freq)["series_refit"] for freq in ("daily", "hourly")}
        out["forecast_s"] = round(time.perf_counter() - t2, 2)
    log.info("marts refreshed: %s", out)
    return out


def earliest_new_record(result: dict[str, Any], warehouse: str | Path | None = None) -> dt.datetime | None:
    """The earliest start_at among the records an ingest result loaded (None if none)."""
    load_ids = [f["load_id"] for f in result.get("files", []) if f.get("status") == "loaded" and f.get("rows_loaded")]
    if not load_ids:
        return None
    with store.reader(warehouse) as con:
        return store.scalar(con, "select min(start_at) from records where load_id in (select unnest(?))", [load_ids])
