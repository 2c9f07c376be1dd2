"""The dashboard frame: page config, sign-in, shared sidebar filters and navigation.

Pages are thin views in ``pages/`` listed explicitly below, grouped by audience. The
sidebar filters live in ``st.session_state`` (keys ``f_start``, ``f_end``,
``f_regions``, ``f_services``, read by ``pages._shared.filters()``) and are bound to
the URL query string, so they persist across pages and survive a reload.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import _auth, _shared

ROOT = Path(__file__).resolve().parent

st.set_page_config(page_title="CDR analytics", page_icon=":material/cell_tower:", layout="wide")

# Sign-in (pages/_auth.py): OIDC when [auth] is in secrets, else local accounts; until the
# user is signed in this shows the sign-in (or first-start admin) form and stops the run.
user = _auth.gate()

# audience -> (file, title, icon); every page of pages/ is listed here explicitly.
PAGES: dict[str, list[tuple[str, str, str]]] = {
    "Executives": [("executive_summary.py", "Executive summary", ":material/summarize:")],
    "Planning": [
        ("traffic_trends.py", "Traffic trends", ":material/show_chart:"),
        ("demand_heatmaps.py", "Demand heatmaps", ":material/grid_on:"),
        ("forecasts.py", "Forecasts", ":material/trending_up:"),
    ],
    "Marketing": [("segments.py", "Segments and plans", ":material/groups:")],
    "Billing & support": [
        ("billing.py", "Billing reconciliation", ":material/receipt_long:"),
        ("subscriber_lookup.py", "Subscriber lookup", ":material/person_search:"),
    ],
    "Fraud": [("fraud.py", "Fraud alerts", ":material/gpp_maybe:")],
    "Operations": [
        ("live_monitor.py", "Live monitor", ":material/monitor_heart:"),
        ("network_quality.py", "Network quality", ":material/network_check:"),
        ("data_quality.py", "Data quality", ":material/fact_check:"),
    ],
    "Admin": [("admin.py", "Admin", ":material/admin_panel_settings:")],
}


DEFAULT_PAGE = "executive_summary.py"


def page_path(file: str) -> Path:
    """The page script; a page listed here but missing is an error, never a silent skip."""
    path = ROOT / "pages" / file
    if not path.is_file():
        raise FileNotFoundError(f"app.py lists pages/{file} but the file does not exist")
    return path


def navigation() -> dict[str, list[st.Page]]:
    sections: dict[str, list[st.Page]] = {}
    hidden: list[st.Page] = []
    for section, pages in PAGES.items():
        for file, title, icon in pages:
            page_path(file)
            stem = file.removesuffix(".py")
            if not _shared.can(f"page:{stem}"):  # not in the menu; its URL shows a refusal
                hidden.append(st.Page(_auth.refusal(title), title=title, url_path=stem, visibility="hidden"))
                continue
            if file == DEFAULT_PAGE:
                # The default page is served at "/" only; Streamlit still reserves its url_path,
                # so it gets a private one and the same script is registered again, hidden, under
                # /executive_summary (a link or bookmark to the page's own name reaches it too).
                sections.setdefault(section, []).append(
                    st.Page(f"pages/{file}", title=title, icon=icon, url_path="home", default=True)
                )
                hidden.append(st.Page(f"pages/{file}", title=title, icon=icon, url_path=stem, visibility="hidden"))
                continue
            sections.setdefault(section, []).append(st.Page(f"pages/{file}", title=title, icon=icon))
    if not sections:
        st.error(f"Your role ({user.role or 'none'}) may not open any page. Ask an admin.", icon=":material/block:")
        st.stop()
    next(iter(sections.values())).extend(hidden)  # hidden pages: never listed in the menu
    return sections


def sidebar_filters() -> None:
    """Date range, regions, services; bound to the query string (``?f_start=...``)."""
    bounds = _shared.data_bounds()
    d_start, d_end = _shared.default_range(bounds)
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role})")
        st.subheader("Filters")
        lo, hi = bounds["first"], bounds["last"]
        st.date_input(
            "From", value=d_start, min_value=lo, max_value=hi, key="f_start", bind="query-params", format="YYYY-MM-DD"
        )
        st.date_input(
            "To", value=d_end, min_value=lo, max_value=hi, key="f_end", bind="query-params", format="YYYY-MM-DD"
        )
        st.multiselect(
            "Regions",
            bounds["region"],
            key="f_regions",
            placeholder="All regions",
            bind="query-params",
            help="Empty means every region. ROAMING holds records made abroad.",
        )
        st.multiselect("Services", bounds["service"], key="f_services", placeholder="All services", bind="query-params")
        if bounds["records"]:
            st.caption(f"Data from {lo:%d %b %Y} to {hi:%d %b %Y} ({bounds['records']:,} records).")


data_present = _shared.has_data()
if not data_present and _shared.dashboard_settings().demo_on_first_start:
    if _shared.build_demo_world():
        st.rerun()

sections = navigation()
page = st.navigation(sections)
wanted = st.session_state.pop(_auth.AFTER_SIGN_IN, "")
if wanted and wanted != page.url_path:  # a deep link followed through the sign-in form
    target = next((p for pages in sections.values() for p in pages if p.url_path == wanted), None)
    if target is not None:
        st.switch_page(target)
# named in audit details: the page's own name (a role's home at "/" is not always the executive summary)
PAGE_NAMES = {title: file.removesuffix(".py") for pages in PAGES.values() for file, title, _ in pages}
st.session_state["_page"] = PAGE_NAMES.get(page.title, page.url_path or DEFAULT_PAGE.removesuffix(".py"))
sidebar_filters()
if not data_present:
    st.warning(
        "The warehouse holds no records yet: pages show empty states. Load extracts with "
        "`python -m analytics ingest` or upload a file on the Data quality page.",
        icon=":material/database:",
    )
page.run()
