"""The first start: an empty warehouse gets the demo world, then its forecasts."""

from __future__ import annotations

import logging
import threading

import streamlit as st

from analytics import demo
from pages import _jobs
from pages._cache import has_data
from pages._settings import dashboard_settings, warehouse_path

log = logging.getLogger(__name__)

_DEMO_LOCK = threading.Lock()


def hide_file_listing() -> None:
    """Hide Streamlit's own menu of the files in pages/ (helpers like _auth included).

    Streamlit lists them until a run reaches app.py's ``st.navigation``; the sign-in form
    and the first start's demo build stop or wait before it. Runs that reach it draw the
    app's menu, and this style is not sent there.
    """
    st.html('<style>[data-testid="stSidebarNav"] {display: none;}</style>')


def build_demo_world() -> bool:
    """Generate and load the demo world into the app's warehouse, then its daily forecasts
    (hourly ones go on in the background), with a visible progress bar.

    Returns True when data is there afterwards. One session builds at a time; the
    others wait on the lock and then find the data.
    """
    hide_file_listing()
    cfg = dashboard_settings()
    path = warehouse_path()
    st.info(
        f"**First start: building the demo world.** The warehouse `{path}` holds no records yet, so the app is "
        f"generating a seeded synthetic operator ({cfg.demo_subscribers:,} subscribers over {cfg.demo_months} "
        "months: extracts, cells, plans, with injected billing errors, fraud and bad rows) and loading it "
        "through the normal ingest. This happens once; later starts open the stored warehouse.",
        icon=":material/construction:",
    )
    bar = st.progress(0.0, text="starting...")
    for _ in range(4):  # blank the previous run's elements below (the admin form), greyed until the build ends
        st.empty()

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    with _DEMO_LOCK:
        if has_data():
            return True
        log.warning("warehouse %s is empty: building the demo world", path)
        demo.build(
            path,
            path.parent / "demo",
            subscribers=cfg.demo_subscribers,
            months=cfg.demo_months,
            on_progress=lambda f, m: progress(0.85 * f, m),
            marts=True,
        )
    # Forecasts (issue 17): a background job (pages/_jobs.py) refreshes daily, then hourly, each
    # with the capacity outlook. The first start waits for the daily ones, so the Forecasts page
    # has charts when the app opens; the hourly ones follow (minutes on the default world), their
    # progress shown on the Forecasts page. A reload or a closed tab does not stop the job.
    job = _jobs.start_forecast("daily", "hourly")
    while not job.done.wait(_jobs.POLL_S) and "daily" not in job.stored:
        progress(0.85 + 0.15 * min(2 * job.fraction, 1.0), f"forecasts: {job.message}")
    if job.error:
        st.warning(
            f"The forecasts failed ({job.error}); compute them on the Forecasts page.", icon=":material/warning:"
        )
    bar.progress(
        1.0, text="demo world loaded; daily forecasts stored" + ("" if job.done.is_set() else ", hourly ones computing")
    )
    return has_data()
