"""Long computations started from a page (forecast runs): a background thread per
warehouse, progress shown while a session waits.

The work runs in its own thread, not in the script run: a widget click or a page change
interrupts a Streamlit script run, and a forecast run (minutes on the demo world) must not
be cut off halfway. One job per warehouse at a time; a session that comes back (or another
user) finds the running job and follows its progress. The thread makes no Streamlit calls:
the script run polls it.

The thread calls ``analytics.forecast.pipeline.refresh``, which holds no warehouse lock
while the series are fitted and fits them in worker processes that never import app.py
(issue 17): other sessions, sign-ins and loads go on meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from analytics.security import audit as _security_audit
from pages import _access, _settings

log = logging.getLogger(__name__)
POLL_S = 0.5


@dataclass
class Job:
    """One forecast refresh of ``freqs`` for ``warehouse``, started by ``user``."""

    warehouse: str
    freqs: tuple[str, ...]
    user: str
    role: str = ""
    started: float = field(default_factory=time.monotonic)
    fraction: float = 0.0
    message: str = "waiting for the warehouse (a load may hold it)"
    stored: list[str] = field(default_factory=list)  # frequencies already stored (shown by the pages)
    result: dict[str, Any] | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def label(self) -> str:
        return " and ".join(self.freqs)

    def progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = min(max(float(fraction), 0.0), 1.0), message


_LOCK = threading.Lock()
_JOBS: dict[str, Job] = {}  # warehouse path -> its running (or last) job


def _forecast(job: Job) -> None:
    from analytics.forecast import pipeline  # noqa: PLC0415 - heavy (statsmodels, prophet)

    try:
        refit = total = 0
        share = 1.0 / len(job.freqs)
        for i, freq in enumerate(
            job.freqs
        ):  # one refresh each: a frequency (and the capacity outlook) shows once stored
            done = pipeline.refresh(
                job.warehouse,
                freqs=(freq,),
                totals=False,
                progress=lambda f, m, i=i: job.progress((i + f) * share * 0.9, m),
            )
            refit, total = refit + done.series_refit, total + done.series_total
            job.stored.append(freq)
        if "daily" in job.freqs and pipeline.refresh_totals(  # last, so the first start need not wait for it
            job.warehouse, progress=lambda f, m: job.progress(0.9 + 0.1 * f, m)
        ):
            job.stored.append("totals")
        job.result = {"series_refit": refit, "series_total": total, "seconds": job.seconds}
        detail = f"{job.label} finished: {refit} series refit, {job.seconds:.0f} s"
    except Exception as exc:  # shown on the page; nothing half-written (each store is one transaction)
        log.exception("forecast run (%s) failed", job.label)
        job.error = f"{type(exc).__name__}: {exc}"
        detail = f"{job.label} failed: {job.error}"[:300]
    # the end is audited here, for the user who started it (no page need follow the job to its end)
    try:
        _security_audit.record(job.warehouse, user=job.user, role=job.role, action="forecast_run", detail=detail)
    finally:
        job.done.set()


def running() -> Job | None:
    """The job running on the app's warehouse, if any."""
    job = _JOBS.get(str(_settings.warehouse_path()))
    return job if job is not None and not job.done.is_set() else None


def start_forecast(*freqs: str) -> Job:
    """Start a forecast refresh of ``freqs`` (or return the one already running). The caller
    checks the permission; the request is audited here."""
    path = str(_settings.warehouse_path())
    with _LOCK:
        job = _JOBS.get(path)
        if job is not None and not job.done.is_set():
            return job
        user = _access.current_user()
        job = Job(warehouse=path, freqs=freqs, user=user.name, role=user.role)
        _access.audit("forecast_run", f"{job.label} requested", once=False)
        _JOBS[path] = job
        threading.Thread(target=_forecast, args=(job,), name=f"forecast-{'-'.join(freqs)}", daemon=True).start()
    return job


@st.fragment(run_every=2)
def watch(path: str) -> None:
    """A progress line for a job that runs while the page shows stored results; reruns the
    whole page when the job has ended (its new snapshot reloads every view)."""
    job = _JOBS.get(path)
    if job is None or job.done.is_set():
        st.rerun()
    st.progress(job.fraction, text=f"Computing {job.label} forecasts (started by {job.user}): {job.message}")


def follow(job: Job, *, until: str | None = None) -> bool:
    """Show the job's progress until it ends (or, with ``until``, until that frequency is
    stored while the job goes on); True when it succeeded."""
    with st.status(f"Computing {job.label} forecasts...", expanded=True) as status:
        bar = st.progress(job.fraction, text=job.message)
        line = st.empty()
        while not job.done.wait(POLL_S):
            if until in job.stored:
                status.update(label=f"{until.capitalize()} forecasts computed; {job.label} continues", state="complete")
                return True
            bar.progress(job.fraction, text=job.message)
            line.caption(f"{job.seconds:,.0f} s elapsed (started by {job.user}); the page may be left meanwhile.")
        if job.error:
            status.update(label=f"The {job.label} forecast run failed", state="error")
            st.error(job.error, icon=":material/error:")
            return False
        r = job.result or {}
        bar.progress(1.0, text=job.message)
        line.caption(
            f"{r.get('series_refit', 0)} of {r.get('series_total', 0)} series fitted in {r.get('seconds', job.seconds):,.0f} s."
        )
        status.update(label=f"{job.label.capitalize()} forecasts computed", state="complete", expanded=False)
    return True
