"""What pages use, in one import: ``from pages import _shared``.

This module defines nothing; each idea has its own module (all streamlit-side, the
only modules besides pages and app.py that import streamlit):

* ``_settings``: the app's warehouse path, ``[dashboard]`` settings;
* ``_access``: the signed-in user, permissions, masking, the audit log;
* ``_cache``: ``run(fn, *args)`` cached per published snapshot, ``connection()``;
* ``_filters``: the sidebar filters resolved against the data, the month picker;
* ``_exports``: downloads (permission, masking, audit) and ``table`` (st.dataframe
  without the toolbar export; pages never call st.dataframe directly);
* ``_widgets``: charts, segmented choices, empty states;
* ``_first_start``: the demo world and its forecasts on an empty warehouse;
* ``_frame``: the patch that makes app.py run first on every request.

Importing it applies the ``_frame`` patch (every page imports this module).
"""

from __future__ import annotations

from pages._access import User, audit, auth_disabled, can, current_user, guard, mask
from pages._cache import connection, has_data, run, snapshot_version
from pages._exports import (
    DATA_EXPORT_OFF,
    download_file,
    download_table,
    excel_bytes,
    export_allowed,
    parquet_bytes,
    table,
)
from pages._filters import Filters, Window, data_bounds, default_range, filters, month_picker, window
from pages._first_start import build_demo_world, hide_file_listing
from pages._frame import always_run_the_frame
from pages._settings import WAREHOUSE_ENV, DashboardSettings, dashboard_settings, warehouse_path
from pages._widgets import choose, empty_state, no_data_hint, nothing_selected_hint, plot

__all__ = [
    "DATA_EXPORT_OFF",
    "WAREHOUSE_ENV",
    "Filters",
    "User",
    "Window",
    "audit",
    "auth_disabled",
    "build_demo_world",
    "can",
    "choose",
    "connection",
    "current_user",
    "DashboardSettings",
    "dashboard_settings",
    "data_bounds",
    "default_range",
    "download_file",
    "download_table",
    "empty_state",
    "excel_bytes",
    "export_allowed",
    "filters",
    "guard",
    "has_data",
    "hide_file_listing",
    "mask",
    "month_picker",
    "no_data_hint",
    "nothing_selected_hint",
    "parquet_bytes",
    "plot",
    "run",
    "snapshot_version",
    "table",
    "warehouse_path",
    "window",
]

always_run_the_frame()
