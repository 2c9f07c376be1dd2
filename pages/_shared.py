"""Cached wrappers and shared view helpers: the only module besides pages that imports streamlit.

Pages call analytics functions through :func:`run`, which caches the result per
published warehouse snapshot: when a load lands the snapshot version changes, so every
cached query is recomputed against the new data without a manual refresh.

Stable API used by every page (keep the signatures):
  connection(), run(fn, *args, **kwargs), filters(), current_user(), can(perm),
  mask(df, columns), download_table(df, name), empty_state(message), warehouse_path()
  download_file(tables, file_name, mime, render=, label=, key=): any other export (HTML, Parquet)
  through the same permission / masking / audit path as download_table
  table(df, **st_dataframe_kwargs): st.dataframe without Streamlit's toolbar download (pages
  never call st.dataframe directly)
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from analytics import store
from analytics.calendar import record_months
from analytics.config import settings

WAREHOUSE_ENV = "ANALYTICS_WAREHOUSE"


def warehouse_path() -> Path:
    """The warehouse the app shows: ``$ANALYTICS_WAREHOUSE`` or the configured default."""
    env = os.environ.get(WAREHOUSE_ENV)
    return Path(env) if env else settings().warehouse_path


@st.cache_resource(max_entries=4, show_spinner=False)
def _connection(path: str, version: str):  # noqa: ARG001 - the version is the cache key
    """A read-only connection to the published snapshot ``version``.

    Every published version has its own file name (see analytics.store), so a cached
    connection keeps reading its version and a new version gets a new connection.
    """
    return store.snapshot_reader(path)


def snapshot_version() -> str | None:
    path = warehouse_path()
    version = store.snapshot_version(path)
    if version is None and path.exists():
        store.snapshot_reader(path).close()  # publishes the first snapshot
        version = store.snapshot_version(path)
    return version


def connection():
    """The shared read-only connection to the current snapshot, or None without data."""
    version = snapshot_version()
    if version is None:
        return None
    return _connection(str(warehouse_path()), version)


@st.cache_data(ttl=600, max_entries=512, show_spinner=False)
def _run(_fn: Callable[..., Any], key: str, version: str, args: tuple, kwargs: tuple) -> Any:  # noqa: ARG001
    return _fn(_connection(str(warehouse_path()), version), *args, **dict(kwargs))


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(con, *args, **kwargs)`` cached per snapshot version; None when there is no data."""
    version = snapshot_version()
    if version is None:
        return None
    key = f"{fn.__module__}.{fn.__qualname__}"
    lookup = _security_audit.lookup_detail(key, tuple(args))  # a subscriber lookup is audited (issue 10)
    if lookup:
        audit("lookup", lookup)
    return _run(fn, key, version, tuple(args), tuple(sorted(kwargs.items())))


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
class User:
    name: str
    role: str


# --- Security (issue 10): user, permissions, masking, audit; see analytics/security ---------

from analytics import privacy as _privacy  # noqa: E402
from analytics.security import audit as _security_audit  # noqa: E402
from analytics.security import roles as _roles  # noqa: E402


def current_user() -> User:
    """The signed-in user (set by pages/_auth.gate); without one, a user with no rights
    (or the local admin when sign-in is off with ANALYTICS_AUTH=off)."""
    user = st.session_state.get("user")
    if user is not None:
        return user
    from pages._auth import auth_disabled  # noqa: PLC0415 - _auth imports this module

    return User(name="local", role="admin") if auth_disabled() else User(name="anonymous", role="")


def can(permission: str) -> bool:
    """May the current user do ``permission`` (``page:<stem>``, ``see_numbers``...)?"""
    return _roles.can(current_user().role, permission)


def guard(page_file: str) -> None:
    """First line of a page: ``_shared.guard(__file__)``. Stops the run unless a user is
    signed in whose role may open this page. Needed because Streamlit still treats a
    ``pages/`` folder as legacy auto-discovered pages until some session has called
    ``st.navigation``: a deep link as the first request after a server start runs the page
    script directly, without app.py and its sign-in (docs/security.md)."""
    from pages._auth import auth_disabled  # noqa: PLC0415

    stem = Path(page_file).stem
    if st.session_state.get("user") is None and not auth_disabled():
        st.error("Sign in first: open the app's home page.", icon=":material/login:")
        st.stop()
    if not can(f"page:{stem}"):
        st.error(f"Your role ({current_user().role}) may not open this page ({stem}).", icon=":material/block:")
        st.stop()


def audit(action: str, detail: str | None = None, *, once: bool = True) -> None:
    """Append (user, time, action, detail) to the audit log; ``once``: not again for the
    same action and detail in this session (page reruns are not new events)."""
    seen = st.session_state.setdefault("_audited", set())
    if once and (action, detail) in seen:
        return
    user = current_user()
    try:
        _security_audit.record(warehouse_path(), user=user.name, role=user.role, action=action, detail=detail)
    except Exception:  # an audit write that fails must be seen, not swallowed
        log.exception("audit write failed: %s", action)
        raise
    seen.add((action, detail))


def mask(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``columns`` masked unless the user may see numbers (then the unmasking is audited)."""
    present = [c for c in columns if c in df.columns]
    if not can("see_numbers"):
        return _privacy.mask_frame(df, present)
    if present and df.height:
        audit("unmask", f"{st.session_state.get('_page', '?')}: {', '.join(present)}")
    return df


def export_allowed(df: pl.DataFrame, *, note: bool = True) -> pl.DataFrame | None:
    """``df`` as the current user may export it (masked or pseudonymised per role), or None
    with a note (unless ``note`` is false) when the role may not export this kind of table."""
    user = current_user()
    kind = _roles.export_kind(df.columns)
    if not _roles.can(user.role, kind):
        if not note:
            return None
        what = "subscriber-level" if kind == "export_records" else "aggregate"
        st.caption(f"Downloads of {what} tables are not open to the {user.role or 'anonymous'} role.")
        return None
    try:
        return _privacy.protect_export(df, mode=_roles.export_mode(user.role))
    except _privacy.MissingSecretError:
        st.caption("Numbers are masked in this download (set ANALYTICS_HMAC_KEY for pseudonyms).")
        return _privacy.protect_export(df, mode="mask")


def _button(container: Any, label: str, data: Callable[[], bytes | str], file_name: str, mime: str, *, key: str,
            rows: int) -> None:
    """A download button whose file is built only when clicked (Streamlit's deferred data:
    a page run does not write CSV/Excel/HTML for every table it shows).

    The audit row is written where the file is built, so a download is audited exactly
    when it is served. The click starts no rerun (``on_click="ignore"``): a rerun raced
    the deferred file request and, on a busy server, replaced the button's file id before
    the browser fetched it, and the download never came. The build runs outside the
    script thread, so who and where are taken now.
    """
    user, where, path = current_user(), st.session_state.get("_page", "?"), warehouse_path()

    def build() -> bytes | str:
        out = data()
        _security_audit.record(path, user=user.name, role=user.role, action="export",
                               detail=f"{file_name} ({rows} rows) from {where}")
        return out

    container.download_button(label, build, file_name, mime, key=key, on_click="ignore")


def download_file(
    tables: dict[str, pl.DataFrame], file_name: str, mime: str, *, render: Callable[[dict[str, pl.DataFrame]], bytes | str],
    label: str, key: str, note: bool = True,
) -> bool:
    """One download button for a file built from ``tables`` (an HTML report, Parquet...).

    The same path as :func:`download_table`: every table must pass the role's export
    permission (else a note and no button), ``render`` receives the tables masked or
    pseudonymised for the role (it runs when the button is clicked), and each click is
    audited. ``note=False``: no refusal note (one is already shown for the same table).
    Returns whether a button was shown.
    """
    allowed = {}
    for name, df in tables.items():
        safe = export_allowed(df, note=note)
        if safe is None:
            return False
        allowed[name] = safe
    _button(st, label, lambda: render(allowed), file_name, mime, key=f"dl_{key}", rows=sum(df.height for df in allowed.values()))
    return True


def parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def excel_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_excel(buf)
    return buf.getvalue()


def download_table(df: pl.DataFrame, name: str, *, key: str | None = None) -> None:
    """CSV and Excel download buttons for a table (if the role may export it; audited)."""
    key = key or name
    df = export_allowed(df)
    if df is None:
        return
    c1, c2 = st.columns(2)
    _button(c1, "Download CSV", lambda: df.write_csv().encode("utf-8"), f"{name}.csv", "text/csv", key=f"dl_csv_{key}",
            rows=df.height)
    _button(c2, "Download Excel", lambda: excel_bytes(df), f"{name}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"dl_xlsx_{key}", rows=df.height)


DATA_EXPORT_OFF = "client.disableDataExport"


def table(data: Any, **kwargs: Any) -> Any:
    """``st.dataframe(data, **kwargs)`` for every table a page shows (issue 19, item 1).

    Streamlit's own table toolbar offers "Download as CSV" (and cell copy) to anyone,
    bypassing the role's export permission, masking and the audit log. Tables are drawn
    only with that export off (``client.disableDataExport``, set in .streamlit/config.toml);
    a server started without it is switched over here and the run restarted, so no table
    is ever sent to a browser with the toolbar download on. Downloads go through
    :func:`download_table` / :func:`download_file` (permission, masking, audit).
    """
    if not st.get_option(DATA_EXPORT_OFF):
        log.warning("%s was off (not read from .streamlit/config.toml?): switching it on", DATA_EXPORT_OFF)
        st.set_option(DATA_EXPORT_OFF, True)
        st.rerun()  # the new run's session message carries the option to the browser
    return st.dataframe(data, **kwargs)


def empty_state(message: str) -> None:
    st.info(message, icon=":material/info:")


# --- Frame helpers (issue 3): data presence, filter window, first start, charts ------------

import logging  # noqa: E402
import threading  # noqa: E402
from datetime import timedelta  # noqa: E402

log = logging.getLogger(__name__)

DASHBOARD_DEFAULTS = {
    "demo_on_first_start": True,  # generate and load the demo world when the warehouse is empty
    "demo_subscribers": 3000,
    "demo_months": 3,
    "default_days": 28,  # default date range: the last N days with data
    "upload_max_mb": 200,
}


def dashboard_settings() -> dict[str, Any]:
    """``[dashboard]`` of analytics.toml over the defaults; env ``ANALYTICS_DEMO_*`` wins."""
    cfg = settings().section("dashboard", defaults=DASHBOARD_DEFAULTS)
    env = os.environ
    if "ANALYTICS_DEMO_ON_START" in env:
        cfg["demo_on_first_start"] = env["ANALYTICS_DEMO_ON_START"].lower() not in {"0", "false", "no"}
    for key in ("subscribers", "months"):
        if f"ANALYTICS_DEMO_{key.upper()}" in env:
            cfg[f"demo_{key}"] = int(env[f"ANALYTICS_DEMO_{key.upper()}"])
    return cfg


def has_data() -> bool:
    """True when the published snapshot holds at least one record."""
    if snapshot_version() is None:
        return False
    return bool(run(_records_exist))


def _records_exist(con) -> bool:
    return bool(store.scalar(con, "select exists(select 1 from records)"))


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
    from analytics import dashboard

    today = date.today()
    empty = {"first": today, "last": today, "records": 0, "region": [], "service": []}
    b = run(dashboard.bounds)
    if b is None or b.height == 0 or b["first_date"][0] is None:
        return empty
    dims = run(dashboard.dimensions)
    return {"first": b["first_date"][0], "last": b["last_date"][0], "records": b["records"][0], **dims}


def default_range(bounds: dict[str, Any]) -> tuple[date, date]:
    days = int(dashboard_settings()["default_days"])
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
    try:
        from analytics import demo
    except ImportError:
        demo = None
    build = getattr(demo, "build", None)
    if build is None:
        empty_state(
            "The warehouse is empty and the demo generator is not available. Load extracts with "
            "`python -m analytics ingest FILE... --cells cells.csv --plans plans.csv`, or use the "
            "upload on the Data quality page."
        )
        return False
    path = warehouse_path()
    st.info(
        f"**First start: building the demo world.** The warehouse `{path}` holds no records yet, so the app is "
        f"generating a seeded synthetic operator ({cfg['demo_subscribers']:,} subscribers over {cfg['demo_months']} "
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
        build(path, path.parent / "demo", subscribers=int(cfg["demo_subscribers"]), months=int(cfg["demo_months"]),
              on_progress=lambda f, m: progress(0.85 * f, m), marts=True)
    # Forecasts (issue 17): a background job (pages/_jobs.py) refreshes daily, then hourly, each
    # with the capacity outlook. The first start waits for the daily ones, so the Forecasts page
    # has charts when the app opens; the hourly ones follow (minutes on the default world), their
    # progress shown on the Forecasts page. A reload or a closed tab does not stop the job.
    from pages import _jobs  # noqa: PLC0415 - _jobs imports this module

    job = _jobs.start_forecast("daily", "hourly")
    while not job.done.wait(_jobs.POLL_S) and "daily" not in job.stored:
        progress(0.85 + 0.15 * min(2 * job.fraction, 1.0), f"forecasts: {job.message}")
    if job.error:
        st.warning(f"The forecasts failed ({job.error}); compute them on the Forecasts page.", icon=":material/warning:")
    bar.progress(1.0, text="demo world loaded; daily forecasts stored" + ("" if job.done.is_set() else ", hourly ones computing"))
    return has_data()


def plot(fig, *, key: str | None = None, on_select: str = "ignore", height: int | None = None):
    """Render a Plotly figure with the house layout (readable in light and dark themes)."""
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.2}, hovermode="closest")
    if height:
        fig.update_layout(height=height)
    return st.plotly_chart(fig, width="stretch", theme="streamlit", key=key, on_select=on_select, config={"displaylogo": False})


def choose(label: str, options: list[Any] | tuple[Any, ...], *, key: str, default: Any = None, format_func: Callable[[Any], str] | None = None) -> Any:
    """A segmented control that always has a value (for heavy alternative views)."""
    default = options[0] if default is None else default
    kwargs = {"format_func": format_func} if format_func else {}
    if key not in st.session_state:  # a value set through session state wins (no default-and-state warning)
        kwargs["default"] = default
    value = st.segmented_control(label, list(options), key=key, required=True, **kwargs)
    return default if value is None else value


def no_data_hint() -> None:
    empty_state(
        "No records in the warehouse yet. Load extracts with `python -m analytics ingest FILE...`, "
        "run `python -m analytics demo`, or upload a file on the Data quality page."
    )


def month_picker(*, key: str, help: str | None = None, container: Any = None) -> date:  # noqa: A002 - streamlit's name
    """A month selector over the local months that hold records, newest first; stops the
    page with the no-data hint when there are none."""
    months = run(record_months) or []
    if not months:
        no_data_hint()
        st.stop()
    return (container or st).selectbox("Month", months[::-1], format_func=lambda d: d.strftime("%Y-%m"), key=key, help=help)


def nothing_selected_hint(what: str = "records") -> None:
    empty_state(f"No {what} match the filters. Widen the date range or clear the region and service filters in the sidebar.")


def _always_run_the_frame() -> None:
    """Make app.py (sign-in, filters, navigation) run first on every request.

    Streamlit treats an app with a ``pages/`` folder as a v1 multipage app until some
    run has called ``st.navigation``: on a fresh server, a deep link (``/billing``) would
    run that page script alone, without sign-in or the sidebar, and keep doing so. Every
    page imports this module, so the first such run switches the flag off and reruns,
    this time through app.py. (``PagesManager.uses_pages_directory`` is Streamlit's own
    switch; the same one ``st.navigation`` sets.)
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if get_script_run_ctx() is not None:
            st.rerun()


_always_run_the_frame()
