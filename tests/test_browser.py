"""The running app in a real headless Chromium (Debian's /usr/bin/chromium via playwright).

Starts ``streamlit run app.py`` on a free port against the page-test warehouse, opens
every page, waits until Streamlit has finished (no "Running" status, no skeletons,
every Plotly chart drawn), fails on any exception element or "Page not found", and
saves a screenshot per page under artifacts/screenshots/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from analytics import store

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_PAGE = "executive_summary"
OWN_PAGES = ["executive_summary", "traffic_trends", "demand_heatmaps", "data_quality"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/setup installs it)"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(
    warehouse: Path,
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    timeout: float = 90,
    port: int | None = None,
) -> Iterator[str]:
    """``streamlit run app.py`` on ``port`` (default: a free one), started as scripts/start.sh
    does (scripts/serve.py); yields its base URL; stops it afterwards."""
    port = port or free_port()
    full_env = {
        **os.environ,
        "ANALYTICS_WAREHOUSE": str(warehouse),
        "ANALYTICS_DEMO_ON_START": "0",
        "ANALYTICS_AUTH": "off",
        **(env or {}),
    }
    (ROOT / "artifacts").mkdir(exist_ok=True)  # not in git: a fresh clone has no artifacts/
    log = open(ROOT / "artifacts" / f"streamlit_{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "scripts/serve.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            *args,
        ],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start: see {log.name}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def browser_page(*, width: int = 1400, height: int = 2200, dark: bool = False):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": width, "height": height}, color_scheme="dark" if dark else "light"
        )
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


READY_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && /Running/i.test(status.innerText)) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  if (!document.querySelector('[data-testid="stMain"] h1')) return false;
  if (!document.querySelector('[data-testid="stSidebar"] [data-testid="stDateInput"]')) return false;
  for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    if (!chart.querySelector('.main-svg')) return false;
  }
  return true;
}
"""


def wait_rendered(page, *, timeout_ms: int = 60_000, settle_ms: int = 250) -> float:
    """Wait until the run finished and every chart is drawn (twice, ``settle_ms`` apart)."""
    t0 = time.perf_counter()
    page.wait_for_function(READY_JS, timeout=timeout_ms, polling=50)
    page.wait_for_timeout(settle_ms)
    page.wait_for_function(READY_JS, timeout=timeout_ms, polling=50)
    return time.perf_counter() - t0


def page_errors(page) -> list[str]:
    errors = [e.inner_text()[:300] for e in page.query_selector_all('[data-testid="stException"]')]
    if "Page not found" in page.inner_text("body"):
        errors.append("Page not found")
    return errors


def app_pages() -> list[str]:
    return [p.stem for p in sorted((ROOT / "pages").glob("*.py")) if not p.name.startswith("_") and p.stem != "admin"]


@pytest.fixture(scope="module")
def fixture_warehouse(tmp_path_factory) -> Path:
    from test_pages_app import _CACHE, build_warehouse

    if "w" not in _CACHE:
        _CACHE["w"] = build_warehouse(tmp_path_factory.mktemp("browser"))
    return _CACHE["w"]


@pytest.fixture(scope="module")
def app_url(fixture_warehouse) -> Iterator[str]:
    with running_app(fixture_warehouse) as url:
        yield url


def check_every_page(url: str, suffix: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures = {}
    with browser_page(dark=suffix == "_dark") as page:
        for name in app_pages():
            path = "" if name == DEFAULT_PAGE else name  # the default page lives at the root URL
            page.goto(f"{url}/{path}", wait_until="domcontentloaded")
            wait_rendered(page)
            errors = page_errors(page)
            if errors:
                failures[name] = errors
            page.screenshot(path=str(SHOTS / f"{name}{suffix}.png"))
            if name in OWN_PAGES:
                assert page.query_selector('[data-testid="stPlotlyChart"] .main-svg') or page.query_selector(
                    '[data-testid="stDataFrame"]'
                ), name
    assert not failures, failures


def test_every_page_in_chromium(app_url):
    check_every_page(app_url, "")


def test_every_page_in_chromium_dark_theme(fixture_warehouse):
    with running_app(fixture_warehouse, args=("--theme.base", "dark")) as url:
        check_every_page(url, "_dark")


def test_downloads_are_built_on_click_and_audited(app_url, fixture_warehouse):
    """Download buttons carry deferred data (built when clicked): the file still arrives,
    and the click is audited; /executive_summary reaches the default page too."""
    from analytics.security import audit

    before = audit.read_log(fixture_warehouse, action="export").height
    with browser_page(height=1400) as page:
        page.goto(f"{app_url}/executive_summary", wait_until="domcontentloaded")
        wait_rendered(page)
        assert not page_errors(page) and page.locator("h1").first.inner_text() == "Executive summary"
        for label, head in (
            ("Download CSV", "metric,label,unit"),
            ("Download printable page (HTML)", "<!doctype html>"),
        ):
            with page.expect_download(timeout=30_000) as info:
                page.get_by_role("button", name=label).first.click()
            assert Path(info.value.path()).read_text(encoding="utf-8").startswith(head), label
            page.wait_for_timeout(300)
            wait_rendered(page)  # the click's rerun (which records the export) has finished
    assert audit.read_log(fixture_warehouse, action="export").height >= before + 2


def test_filters_survive_navigation_and_reload(app_url):
    with browser_page() as page:
        page.goto(f"{app_url}/traffic_trends", wait_until="domcontentloaded")
        wait_rendered(page)
        page.goto(f"{app_url}/traffic_trends?f_services=voice", wait_until="domcontentloaded")
        wait_rendered(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert "voice" in sidebar.locator('[data-testid="stMultiSelect"]').nth(1).inner_text()
        sidebar.get_by_role("link", name="Demand heatmaps").click()
        page.wait_for_url("**/demand_heatmaps**")
        wait_rendered(page)
        assert "f_services=voice" in page.url
        assert "voice" in sidebar.locator('[data-testid="stMultiSelect"]').nth(1).inner_text()
        page.reload(wait_until="domcontentloaded")
        wait_rendered(page)
        assert "voice" in page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').nth(1).inner_text()
        assert not page_errors(page)


def test_first_start_builds_the_demo_world(tmp_path):
    warehouse = tmp_path / "fresh.duckdb"
    env = {"ANALYTICS_DEMO_ON_START": "1", "ANALYTICS_DEMO_SUBSCRIBERS": "200", "ANALYTICS_DEMO_MONTHS": "1"}
    with running_app(warehouse, env=env) as url, browser_page() as page:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("First start: building the demo world").wait_for(timeout=60_000)
        # the progress bar is a later element of the same run: under load it may arrive after the text
        page.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)
        # no menu of pages/ files (helpers included) while app.py has not reached its navigation
        page.get_by_role("link", name="auth").wait_for(state="hidden", timeout=15_000)
        page.get_by_text("Executive summary").first.wait_for(timeout=240_000)
        wait_rendered(page, timeout_ms=240_000)
        assert not page_errors(page)
        assert page.query_selector('[data-testid="stMetric"]')


def test_first_start_with_sign_in_replaces_the_admin_form_by_the_progress(tmp_path):
    warehouse = tmp_path / "fresh_auth.duckdb"
    env = {
        "ANALYTICS_AUTH": "on",
        "ANALYTICS_DEMO_ON_START": "1",
        "ANALYTICS_DEMO_SUBSCRIBERS": "200",
        "ANALYTICS_DEMO_MONTHS": "1",
    }
    with running_app(warehouse, env=env) as url, browser_page() as page:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_label("Admin user name").fill("root")
        page.get_by_label("Password", exact=True).fill("a-long-Passw0rd!")
        page.get_by_label("Repeat password").fill("a-long-Passw0rd!")
        page.get_by_role("button", name="Create admin account").click()
        page.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)
        # while the demo world builds, the submitted form is gone, not left greyed under the bar
        assert page.get_by_role("button", name="Create admin account").count() == 0
        assert page.get_by_label("Admin user name").count() == 0
        page.get_by_text("Executive summary").first.wait_for(timeout=240_000)
        wait_rendered(page, timeout_ms=240_000)
        assert not page_errors(page)
        assert page.query_selector('[data-testid="stMetric"]')


def test_a_link_to_a_page_opens_it_after_sign_in(fixture_warehouse, tmp_path):
    from analytics.security import accounts

    warehouse = tmp_path / "signin.duckdb"
    store.copy_warehouse(fixture_warehouse, warehouse)
    accounts.add_user(
        warehouse, "ann", role="admin", password="a-long-Passw0rd!", by="test"
    )  # admin: home is not billing
    with running_app(warehouse, env={"ANALYTICS_AUTH": "on"}) as url, browser_page() as page:
        page.goto(f"{url}/billing", wait_until="domcontentloaded")
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        page.get_by_role("link", name="auth").wait_for(state="hidden", timeout=15_000)  # no menu of pages/ files
        page.get_by_label("User name").fill("ann")
        page.get_by_label("Password", exact=True).fill("a-long-Passw0rd!")
        page.get_by_role("button", name="Sign in").click()
        wait_rendered(page)
        assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Billing reconciliation"
        assert page.url.endswith("/billing")
        assert not page.get_by_role("button", name="Sign in").count()  # the form is gone
        assert not page_errors(page)
