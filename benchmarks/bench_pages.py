"""Page speed in a real browser: navigation -> last chart drawn, cold and warm, and the
re-render after a filter change (issue 3 bars: warm < 1.5 s, cold < 4 s, filter < 1 s
with 10 million records).

    python benchmarks/bench_pages.py --subscribers 1500 --months 2      # small, here
    python benchmarks/bench_pages.py --warehouse data/warehouse.duckdb  # an existing one

Cold = first visit of the page on a freshly started server (empty caches); warm = the
same page again in a new browser tab (cached queries). Prints one line per page and a
JSON summary on the last line; peak RSS of this process via resource.getrusage.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_browser import DEFAULT_PAGE, browser_page, running_app, wait_rendered  # noqa: E402

PAGES = ["executive_summary", "traffic_trends", "demand_heatmaps", "data_quality"]


def timed_visit(page, url: str) -> float:
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    wait_rendered(page, settle_ms=100)
    return time.perf_counter() - t0 - 0.1  # minus the settle pause


def filter_change(page) -> float:
    """Pick the first region in the sidebar filter; time until the page has re-rendered."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    box.locator("input").click()
    page.keyboard.press("ArrowDown")
    t0 = time.perf_counter()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_timeout(150)
    wait_rendered(page, settle_ms=100)
    return time.perf_counter() - t0 - 0.1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, help="an existing warehouse (else a demo one is built)")
    ap.add_argument("--subscribers", type=int, default=1500)
    ap.add_argument("--months", type=int, default=2)
    args = ap.parse_args()
    warehouse = args.warehouse
    if warehouse is None:
        from analytics.demo import build

        warehouse = Path(tempfile.mkdtemp(prefix="bench_pages_")) / "warehouse.duckdb"
        t0 = time.perf_counter()
        build(warehouse, warehouse.parent / "demo", subscribers=args.subscribers, months=args.months)
        print(f"built demo warehouse ({args.subscribers} subscribers x {args.months} months) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    from analytics import store

    con = store.snapshot_reader(warehouse)
    records = store.scalar(con, "select count(*) from records")
    con.close()
    results = {}
    with running_app(warehouse) as url, browser_page(height=1000) as page:
        for name in PAGES:
            target = f"{url}/{'' if name == DEFAULT_PAGE else name}"
            cold = timed_visit(page, target)
            warm = timed_visit(page, target)
            flt = filter_change(page)
            page.goto(target, wait_until="commit")  # back to the unfiltered URL for the next page
            wait_rendered(page)
            results[name] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3), "filter_change_s": round(flt, 3)}
            print(f"{name:20s} cold {cold:6.2f} s   warm {warm:6.2f} s   filter change {flt:6.2f} s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": records, "pages": results, "bench_peak_rss_mb": round(peak_mb, 1)}))


if __name__ == "__main__":
    main()
