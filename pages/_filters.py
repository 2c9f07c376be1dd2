"""The sidebar filters (set in app.py, persisted in the URL) resolved against the data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import streamlit as st

from analytics import dashboard
from analytics.calendar import record_months
from pages._cache import run
from pages._settings import dashboard_settings
from pages._widgets import no_data_hint


@dataclass(frozen=True)
class Filters:
    start: date | None
    end: date | None
    regions: tuple[str, ...]
    services: tuple[str, ...]


def filters() -> Filters:
    """The sidebar filters shared by all pages (set in app.py, persisted in the URL)."""
    s = st.session_state
    return Filters(
        start=s.get("f_start"),
        end=s.get("f_end"),
        regions=tuple(s.get("f_regions") or ()),
        services=tuple(s.get("f_services") or ()),
    )


@dataclass(frozen=True)
class Window:
    """The sidebar filters resolved against the data: inclusive local dates, () = all."""

    start: date
    end: date
    regions: tuple[str, ...]
    services: tuple[str, ...]

    @property
    def args(self) -> tuple:
        return (self.start, self.end, self.regions, self.services)


def data_bounds() -> dict[str, Any]:
    """First/last local day with records and the filter options (cached per snapshot)."""
    today = date.today()
    empty = {"first": today, "last": today, "records": 0, "region": [], "service": []}
    b = run(dashboard.bounds)
    if b is None or b.height == 0 or b["first_date"][0] is None:
        return empty
    dims = run(dashboard.dimensions)
    return {"first": b["first_date"][0], "last": b["last_date"][0], "records": b["records"][0], **dims}


def default_range(bounds: dict[str, Any]) -> tuple[date, date]:
    days = dashboard_settings().default_days
    return max(bounds["first"], bounds["last"] - timedelta(days=days - 1)), bounds["last"]


def window() -> Window:
    """The current filters with defaults filled in from the data."""
    f = filters()
    bounds = data_bounds()
    d_start, d_end = default_range(bounds)
    start, end = f.start or d_start, f.end or d_end
    if end < start:
        start, end = end, start
    return Window(start, end, f.regions, f.services)


def month_picker(*, key: str, help: str | None = None, container: Any = None) -> date:  # noqa: A002 - streamlit's name
    """A month selector over the local months that hold records, newest first; stops the
    page with the no-data hint when there are none."""
    months = run(record_months) or []
    if not months:
        no_data_hint()
        st.stop()
    return (container or st).selectbox(
        "Month", months[::-1], format_func=lambda d: d.strftime("%Y-%m"), key=key, help=help
    )
