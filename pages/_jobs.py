"""Long computations started from a page (the forecast run): a background thread per
warehouse, progress shown with ``st.status`` while the session waits.

The work runs in its own thread, not in the script run: a widget click or a page change
interrupts a Streamlit script run, and a forecast run (minutes on the demo world) must not
be cut off halfway through its writer block. One job per warehouse at a time; a session
that comes back (or another user) finds the running job and follows its progress. The
thread makes no Streamlit calls: the script run polls it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from analytics import store
from pages import _shared

log = logging.getLogger(__name__)
POLL_S = 0.5


@dataclass
class Job:
    """One forecast run: ``freq`` for ``warehouse``, started by ``user``."""

    warehouse: str
    freq: str
    user: str
    started: float = field(default_factory=time.monotonic)
    messages: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


_LOCK = threading.Lock()
_JOBS: dict[str, Job] = {}  # warehouse path -> its running (or last) job


class _Capture(logging.Handler):
    """The forecast pipeline's log lines of one thread, as progress messages."""

    def __init__(self, job: Job, thread_id: int) -> None:
        super().__init__(logging.INFO)
        self.job, self.thread_id = job, thread_id

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.job.messages.append(record.getMessage())


def _forecast(job: Job) -> None:
    from analytics.forecast import pipeline  # noqa: PLC0415 - heavy (statsmodels, prophet)

    logger = logging.getLogger("analytics.forecast")
    handler, level = _Capture(job, threading.get_ident()), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        job.messages.append("waiting for the warehouse (a load may hold it)")
        with store.writer(job.warehouse) as con:
            job.messages.append("reading the series and fitting the models")
            job.result = pipeline.run_forecast(con, freq=job.freq)
    except Exception as exc:  # shown on the page; the writer rolled back
        log.exception("forecast run (%s) failed", job.freq)
        job.error = f"{type(exc).__name__}: {exc}"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        job.done.set()


def running() -> Job | None:
    """The job running on the app's warehouse, if any."""
    job = _JOBS.get(str(_shared.warehouse_path()))
    return job if job is not None and not job.done.is_set() else None


def start_forecast(freq: str) -> Job:
    """Start a forecast run of ``freq`` (or return the one already running). The caller
    checks the permission; the request is audited here."""
    path = str(_shared.warehouse_path())
    with _LOCK:
        job = _JOBS.get(path)
        if job is not None and not job.done.is_set():
            return job
        user = _shared.current_user()
        _shared.audit("forecast_run", f"{freq} requested", once=False)  # before the writer lock is taken
        job = _JOBS[path] = Job(warehouse=path, freq=freq, user=user.name)
        threading.Thread(target=_forecast, args=(job,), name=f"forecast-{freq}", daemon=True).start()
    return job


def follow(job: Job) -> bool:
    """Show the job's progress until it ends; True when it succeeded."""
    with st.status(f"Computing {job.freq} forecasts...", expanded=True) as status:
        shown = 0
        line = st.empty()
        while not job.done.wait(POLL_S):
            for message in job.messages[shown:]:
                st.write(message)
            shown = len(job.messages)
            line.caption(f"{job.seconds:,.0f} s elapsed (started by {job.user}); the page may be left meanwhile.")
        for message in job.messages[shown:]:
            st.write(message)
        if job.error:
            status.update(label=f"The {job.freq} forecast run failed", state="error")
            st.error(job.error, icon=":material/error:")
            return False
        r = job.result or {}
        line.caption(f"{r.get('series_refit', 0)} of {r.get('series_total', 0)} series fitted in {r.get('seconds', job.seconds):,.0f} s.")
        status.update(label=f"{job.freq.capitalize()} forecasts computed", state="complete", expanded=False)
    if job.user == _shared.current_user().name:  # the starting session records the end
        _shared.audit("forecast_run", f"{job.freq} finished: {r.get('series_refit', 0)} series refit, {r.get('seconds', 0):.0f} s")
    return True
