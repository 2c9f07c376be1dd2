"""Queries behind the dashboard pages: functions ``fn(con, ...) -> pl.DataFrame | dict``.

Every function takes the DuckDB connection first (the page calls it through
``pages/_shared.run``, which caches it per warehouse snapshot) and returns Polars.
Dates are local calendar dates in ``settings().timezone``; ranges are inclusive.
"""

from __future__ import annotations

from analytics.dashboard.common import bounds, dimensions, has_data
from analytics.dashboard.executive import available_months, month_report, narrative, printable_html
from analytics.dashboard.heatmaps import cell_map, hour_weekday, region_day
from analytics.dashboard.quality import (
    coverage_gaps,
    duplicate_rows,
    duplicates_by_load,
    load_manifest,
    quarantine_rows,
    quarantine_summary,
    silent_cells,
)
from analytics.dashboard.traffic import busy_hour, previous_period, records_behind, trend

__all__ = [
    "available_months",
    "bounds",
    "busy_hour",
    "cell_map",
    "coverage_gaps",
    "dimensions",
    "duplicate_rows",
    "duplicates_by_load",
    "has_data",
    "hour_weekday",
    "load_manifest",
    "month_report",
    "narrative",
    "previous_period",
    "printable_html",
    "quarantine_rows",
    "quarantine_summary",
    "records_behind",
    "region_day",
    "silent_cells",
    "trend",
]
