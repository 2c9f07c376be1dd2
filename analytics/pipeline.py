"""Load, then refresh what the load changed: the one home of that order.

Every entry point that loads extracts (``python -m analytics ingest``, the landing-folder
watcher, the demo build, the Data quality page's upload) calls :func:`load_and_refresh`;
the watcher defers the marts to a quiet folder and calls :func:`refresh_after` then.

After the load's own transaction (records, cubes, manifest) the marts follow the records
that arrived (billing months, segment months, fraud since the first new record), and the
lake's small files of a month are compacted once a month has gathered enough of them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics import lake, store
from analytics.ingest import IngestSummary, ingest_files
from analytics.marts import MartsRefresh, earliest_new_record, marts_settings, refresh_marts

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class LoadReport:
    """What one run did: the ``ingest`` JSON, the marts refresh (None when skipped or
    nothing loaded), the compaction of the lake (None when no month needed it)."""

    ingest: IngestSummary
    marts: MartsRefresh | None = None
    compaction: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows_loaded(self) -> int:
        return int(self.ingest.get("rows_loaded") or 0)

    def as_json(self) -> dict[str, Any]:
        """The ``ingest`` command's JSON: the contract's keys, plus ``marts`` and ``compaction``."""
        out = dict(self.ingest)
        if self.marts is not None:
            out["marts"] = self.marts
        if self.compaction is not None:
            out["compaction"] = self.compaction
        return out


def load_and_refresh(
    paths: Sequence[str | Path],
    *,
    warehouse: str | Path | None = None,
    marts: bool = True,
    on_progress: Progress | None = None,
    **ingest_options: Any,
) -> LoadReport:
    """Load ``paths`` (and reference files in ``ingest_options``), then refresh the marts
    of what changed unless ``marts`` is False, then compact months with many small files."""
    t0 = time.perf_counter()
    result = ingest_files(paths, warehouse=warehouse, on_progress=on_progress, **ingest_options)
    t1 = time.perf_counter()
    refreshed = refresh_after([result], warehouse=warehouse) if marts and result.get("rows_loaded") else None
    t2 = time.perf_counter()
    compaction = compact_if_needed(warehouse) if result.get("rows_loaded") else None
    seconds = {"load": round(t1 - t0, 2), "marts": round(t2 - t1, 2), "compaction": round(time.perf_counter() - t2, 2)}
    return LoadReport(ingest=result, marts=refreshed, compaction=compaction, seconds=seconds)


def refresh_after(
    results: Sequence[dict[str, Any]], *, warehouse: str | Path | None = None, forecasts: bool | None = None
) -> dict[str, Any]:
    """Refresh the marts after the given ingest results (fraud from their first new record),
    then the forecasts: with ``forecasts=None`` when the warehouse already has forecasts and
    ``[marts] forecasts_after_load`` is on (a warehouse without any is given them by the
    first start, ``demo`` or ``forecast``). The forecast fit holds no warehouse lock and
    refits only the series that changed."""
    files = [f for r in results for f in r.get("files", [])]
    since: dt.datetime | None = earliest_new_record({"files": files}, warehouse) if files else None
    out = refresh_marts(warehouse, fraud_since=since)
    if forecasts is None:
        forecasts = marts_settings().forecasts_after_load and _has_forecasts(warehouse)
    if forecasts:
        from analytics.forecast.pipeline import refresh  # noqa: PLC0415 - heavy (statsmodels, prophet)

        t0 = time.perf_counter()
        done = refresh(warehouse or store.default_path(), totals_when_due=True)  # totals: docs/forecast.md
        out["forecasts"] = {"series_refit": done.series_refit, "series_total": done.series_total}
        out["forecast_s"] = round(time.perf_counter() - t0, 2)
    return out


def _has_forecasts(warehouse: str | Path | None) -> bool:
    with store.reader(warehouse) as con:
        return store.has_table(con, "forecast_runs") and bool(store.fetch(con, "@pipeline_forecast_runs").item())


def compact_if_needed(warehouse: str | Path | None = None) -> dict[str, Any] | None:
    """Compact the months that gathered more than ``lake.COMPACT_MIN_FILES`` small files,
    of the records and of the hourly cube (a load adds a file to each); what was merged of
    the records (the cube's merge is logged: a cluster load writes one cube file where
    one machine writes one per file, and their JSON must not differ), or None."""
    path = Path(warehouse or store.default_path())
    with store.reader(path) as con:
        due = {t: m for t in lake.COMPACTED if (m := lake.months_to_compact(con, table=t))}
    if not due:
        return None
    out: dict[str, Any] | None = None
    with store.writer(path) as con:
        for table, months in due.items():
            done = lake.compact(con, path, months=months, table=table)
            log.info("compacted %s of %s: %s", ", ".join(months), table, done)
            if table == lake.TABLE:
                out = done
    return out
