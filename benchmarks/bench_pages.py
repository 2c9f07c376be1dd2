"""Page speed in a real browser, for every page of the app: navigation -> last chart drawn
with Streamlit finished running, cold, warm, and the re-render after a filter change
(issue 3 bars with 10 million records: warm < 1.5 s, cold < 4 s, filter change < 1 s).

    python benchmarks/bench_pages.py --subscribers 1500 --months 2          # small, here
    python benchmarks/bench_pages.py --warehouse /tmp/bench10m/warehouse.duckdb
    python benchmarks/bench_pages.py --warehouse W --pages traffic_trends billing

Per page: a freshly started ``streamlit run app.py`` and a fresh headless Chromium
(Debian's /usr/bin/chromium, playwright's sync API), so *cold* is the first visit with
empty Streamlit caches and no open DuckDB connection; *warm* is the same URL loaded again
(a new session: cached queries, same server), the median of WARM_VISITS visits (the browser
compiles a script from its code cache from the third load on, as a returning user's does);
*in-app* = the page opened from another one by its link in the sidebar menu (no new
document: how users mostly move between pages; cached queries); *filter change* picks the first region in
the sidebar filter and times until the rerun has finished and every chart is drawn.
"Drawn" = the app's script state is ``notRunning``, no "Running" status or skeleton, the
page title and sidebar are there, and every Plotly chart has its SVG, stable for 100 ms.
With ``--returning-browser`` the browser is not fresh: it keeps its HTTP and code caches
and first loads the page once from an earlier server on the same port (a user who has
opened the app before; the server and its caches are still fresh for the cold visit).
The landing URL ``/`` is the default page (executive summary). Prints one line per page,
the load average before and after, and a JSON summary on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_browser import READY_JS, browser_page, free_port, page_errors, running_app  # noqa: E402

SETTLE_MS = 100
WARM_VISITS = 3
# the landing URL "/" serves the default page (executive summary); every other page by name
LANDING = "landing"

WATCH_RUN_JS = """
() => {
  window.__benchRan = false;
  const app = document.querySelector('[data-testid="stApp"]');
  const seen = () => { if (app.getAttribute('data-test-script-state') === 'running') window.__benchRan = true; };
  window.__benchObs = new MutationObserver(seen);
  window.__benchObs.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}
"""


def every_page() -> list[str]:
    """The landing URL, then every page script of pages/ (not the _helpers)."""
    return [LANDING] + [p.stem for p in sorted((ROOT / "pages").glob("*.py")) if not p.name.startswith("_")]


def url_of(base: str, name: str) -> str:
    return f"{base}/" if name == LANDING else f"{base}/{name}"


def until_drawn(page, t0: float, *, timeout_ms: int = 120_000) -> float:
    """Seconds from ``t0`` until the page is ready and stays ready for SETTLE_MS."""
    while True:
        page.wait_for_function(READY_JS, timeout=timeout_ms, polling=20)
        done = time.perf_counter()
        page.wait_for_timeout(SETTLE_MS)
        if page.evaluate(READY_JS):
            return done - t0


def timed_visit(page, url: str) -> float:
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    return until_drawn(page, t0)


def filter_change(page) -> float:
    """Pick the first region in the sidebar filter; time until the rerun has drawn."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    box.locator("input").click()
    page.keyboard.press("ArrowDown")
    page.evaluate(WATCH_RUN_JS)
    t0 = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__benchRan === true", timeout=10_000, polling=10)
    took = until_drawn(page, t0)
    page.keyboard.press("Escape")
    return took


def nav_titles() -> dict[str, str]:
    """Page name -> its title in the sidebar menu, read from app.py's PAGES table (not run)."""
    titles = {
        m[0]: m[1] for m in re.findall(r'\("(\w+)\.py", "([^"]+)"', (ROOT / "app.py").read_text(encoding="utf-8"))
    }
    titles[LANDING] = titles.get("executive_summary", "Executive summary")
    return titles


def in_app_visit(page, base: str, name: str, *, attempts: int = 2) -> float | None:
    """From another page, click this page's menu link; time until it has drawn.

    A click that starts no run (it happens, rarely, on a loaded machine) is tried again;
    None when no attempt started one.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(attempts):
        try:
            return _in_app_once(page, base, name)
        except PlaywrightTimeout:
            continue
    return None


def _in_app_once(page, base: str, name: str) -> float:
    other = "forecasts" if name == "data_quality" else "data_quality"
    page.goto(url_of(base, other), wait_until="commit")
    until_drawn(page, time.perf_counter())
    link = page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=nav_titles()[name], exact=True)
    page.evaluate(WATCH_RUN_JS)
    t0 = time.perf_counter()
    link.click()
    page.wait_for_function("() => window.__benchRan === true", timeout=10_000, polling=10)
    return until_drawn(page, t0)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(warehouse: Path, name: str, *, returning: bool = False) -> dict[str, object]:
    port = free_port()
    with browser_page(height=1000) as page:
        if returning:  # an earlier visit on the same origin fills the browser's caches
            with running_app(warehouse, port=port) as base:
                timed_visit(page, url_of(base, name))
        with running_app(warehouse, port=port) as base:
            return _visits(page, base, name)


def _visits(page, base: str, name: str) -> dict[str, object]:
    url = url_of(base, name)
    cold = timed_visit(page, url)
    errors = page_errors(page)
    warm = statistics.median(timed_visit(page, url) for _ in range(WARM_VISITS))
    nav = in_app_visit(page, base, name)
    errors += page_errors(page)
    page.goto(url, wait_until="commit")
    until_drawn(page, time.perf_counter())
    flt = filter_change(page)
    errors += page_errors(page)
    charts = page.locator('[data-testid="stPlotlyChart"]').count()
    return {
        "cold_s": round(cold, 3),
        "warm_s": round(warm, 3),
        "in_app_s": None if nav is None else round(nav, 3),
        "filter_change_s": round(flt, 3),
        "charts": charts,
        "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, help="an existing warehouse (else a demo one is built)")
    ap.add_argument("--subscribers", type=int, default=1500)
    ap.add_argument("--months", type=int, default=2)
    ap.add_argument(
        "--repeat", type=int, default=1, help="measure each page N times (fresh server each), report medians"
    )
    ap.add_argument("--returning-browser", action="store_true", help="browser caches filled by an earlier visit")
    ap.add_argument("--pages", nargs="*", help=f"page names (default: {LANDING} and every page of pages/)")
    args = ap.parse_args()
    warehouse = args.warehouse
    if warehouse is None:
        from analytics.demo import build

        warehouse = Path(tempfile.mkdtemp(prefix="bench_pages_")) / "warehouse.duckdb"
        t0 = time.perf_counter()
        build(warehouse, warehouse.parent / "demo", subscribers=args.subscribers, months=args.months)
        print(
            f"built demo warehouse ({args.subscribers} subscribers x {args.months} months) in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    from analytics import store

    con = store.snapshot_reader(warehouse)
    records = store.scalar(con, "select count(*) from records")
    con.close()
    pages = args.pages or every_page()
    load_before = load_average()
    print(f"{records:,} records; load average {load_before}", file=sys.stderr)
    results = {}
    for name in pages:
        runs = [measure(warehouse, name, returning=args.returning_browser) for _ in range(max(args.repeat, 1))]
        r = {
            k: round(statistics.median(x[k] for x in runs if x[k] is not None), 3)
            if any(x[k] is not None for x in runs)
            else None
            for k in ("cold_s", "warm_s", "in_app_s", "filter_change_s")
        }
        r |= {"charts": runs[-1]["charts"], "errors": [e for x in runs for e in x["errors"]], "runs": len(runs)}
        if len(runs) > 1:
            r["cold_runs_s"] = [x["cold_s"] for x in runs]
        results[name] = r
        bad = "" if r["cold_s"] < 4 and r["warm_s"] < 1.5 and r["filter_change_s"] < 1 else "   OVER"
        err = f"   ERRORS {r['errors']}" if r["errors"] else ""
        print(
            f"{name:20s} cold {r['cold_s']:6.2f} s   warm {r['warm_s']:6.2f} s   in-app {r['in_app_s'] or float('nan'):5.2f} s   filter change {r['filter_change_s']:6.2f} s"
            f"   ({r['charts']} charts){bad}{err}",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "records": records,
                "returning_browser": args.returning_browser,
                "load_average_before": load_before,
                "load_average_after": load_average(),
                "pages": results,
            }
        )
    )


if __name__ == "__main__":
    main()
