"""Downloads per role in a real Chromium (issue 19, item 1).

Streamlit's table toolbar had its own "Download as CSV": a support user could take an
itemised bill with numbers in clear, an executive subscriber-level tables, and none of
it reached the audit log. Here every role signs in (sign-in on), opens each page it may
open, and the test checks that no table toolbar offers a download, that the app's own
download buttons appear only where the role may export, and that a permitted download
is audited.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
from test_browser import ROOT, browser_page, fixture_warehouse, page_errors, running_app, wait_rendered  # noqa: F401

from analytics.security import accounts, audit, roles

PW = "a-long-Passw0rd!"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no chromium")]

# Hover each table, then read its toolbar: the labels of its buttons.
TOOLBARS_JS = """
() => Array.from(document.querySelectorAll('[data-testid="stElementToolbar"] button'))
          .map(b => b.getAttribute('aria-label') || b.innerText)
"""
EXPORT_LABELS = ("Download as CSV", "Download", "Copy")


def menu_link(page, title: str):
    """The sidebar menu's link to ``title`` (its text is the icon's name, then the title),
    with the menu's "View N more" opened when the link is folded away."""
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=re.compile(f"{re.escape(title)}$"))
    more = page.locator('[data-testid="stSidebarNavViewButton"]', has_text="more")
    if not link.is_visible() and more.count():
        more.click()
    return link


def page_titles() -> dict[str, str]:
    """file stem -> menu title, read from app.py's PAGES (the menu the test clicks)."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PAGES":
            pages = ast.literal_eval(node.value)
            return {file.removesuffix(".py"): title for entries in pages.values() for file, title, _ in entries}
    raise AssertionError("app.py has no PAGES")


@pytest.fixture(scope="module")
def warehouse(fixture_warehouse, tmp_path_factory) -> Path:  # noqa: F811 - the fixture imported above
    """The page-test world with one account per role (a copy: the accounts stay here)."""
    path = tmp_path_factory.mktemp("exports") / "warehouse.duckdb"
    shutil.copyfile(fixture_warehouse, path)
    for role in roles.ROLES:
        accounts.add_user(path, f"{role}_user", role=role, password=PW, by="test")
    return path


@pytest.fixture(scope="module")
def app_url(warehouse):
    with running_app(warehouse, env={"ANALYTICS_AUTH": "on", "ANALYTICS_HMAC_KEY": "test-key"}) as url:
        yield url


def sign_in(page, url: str, name: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PW)
    page.get_by_role("button", name="Sign in").click()
    wait_rendered(page)


def toolbar_labels(page) -> list[list[str]]:
    """For each table on the page: the labels of its toolbar's buttons (shown on hover)."""
    out = []
    tables = page.locator('[data-testid="stDataFrame"]')
    for i in range(tables.count()):
        tables.nth(i).scroll_into_view_if_needed()
        tables.nth(i).hover()
        page.locator('[data-testid="stElementToolbar"] button').first.wait_for(timeout=10_000)
        out.append(page.evaluate(TOOLBARS_JS))
    return out


def open_page(page, title: str) -> None:
    menu_link(page, title).click()
    page.wait_for_timeout(300)
    wait_rendered(page)
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == title or title == "Segments and plans"


def look_up_a_subscriber(page, warehouse: Path) -> None:
    """The lookup shows a table only for a number: type one from the world's records."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        number = con.execute("select msisdn from records limit 1").fetchone()[0]
    box = page.get_by_role("textbox", name="Phone number")
    box.fill(number)
    box.press("Enter")
    page.wait_for_timeout(300)
    wait_rendered(page)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)


@pytest.mark.parametrize("role", roles.ROLES)
def test_no_toolbar_download_and_app_downloads_follow_the_role(role, app_url, warehouse):
    titles = page_titles()
    may_aggregates, may_records = roles.can(role, "export_aggregates"), roles.can(role, "export_records")
    seen_tables, buttons_seen, refusals = 0, {}, {}
    with browser_page(height=1400) as page:
        sign_in(page, app_url, f"{role}_user")
        for stem in roles.allowed_pages(role, titles):
            open_page(page, titles[stem])
            if stem == "subscriber_lookup":
                look_up_a_subscriber(page, warehouse)
            if stem == "executive_summary":  # its region table is one of the views
                page.get_by_role("radio", name="Region table", exact=True).click()  # a segmented control
                page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
                wait_rendered(page)
            if stem == "segments":  # the subscriber-level view: one row per recommended subscriber
                compute = page.get_by_role("button", name=re.compile("^Compute now"))
                if compute.count():  # the page-test world has no stored segment report
                    compute.click()
                    page.wait_for_timeout(300)
                    wait_rendered(page, timeout_ms=180_000)
                page.get_by_role("radio", name="Recommendations", exact=True).click()
                page.wait_for_timeout(300)
                wait_rendered(page)
            assert not page_errors(page), (role, stem, page_errors(page))
            for labels in toolbar_labels(page):
                seen_tables += 1
                assert labels, (role, stem)  # the toolbar was there (search, fullscreen...)
                assert not [x for x in labels if x.startswith(EXPORT_LABELS)], (role, stem, labels)
            assert page.locator('[aria-label="Download as CSV"]').count() == 0
            buttons_seen[stem] = page.locator('[data-testid="stDownloadButton"]').count()
            refusals[stem] = " ".join(page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
    assert seen_tables > 0, role  # the toolbar check above looked at real tables
    if not (may_aggregates or may_records):
        assert not any(buttons_seen.values()), (role, buttons_seen)
    if may_aggregates and "executive_summary" in buttons_seen:
        assert buttons_seen["executive_summary"] >= 2, (role, buttons_seen)  # its aggregate tables: CSV, Excel...
    for stem, text in refusals.items():
        if "Downloads of subscriber-level tables are not open" in text:
            assert not may_records, (role, stem)
        if "Downloads of aggregate tables are not open" in text:
            assert not may_aggregates, (role, stem)
    if role == "support":  # the case: the itemised bill, shown, without any download
        assert buttons_seen["subscriber_lookup"] == 0
        assert "Downloads of subscriber-level tables are not open to the support role" in refusals["subscriber_lookup"]
    if role == "executive":  # the issue's other case: subscriber-level tables (segments' recommendations)
        assert "subscriber-level tables are not open to the executive role" in refusals["segments"], refusals
        assert buttons_seen["segments"] == 0, buttons_seen
    if may_records and "segments" in buttons_seen:
        assert buttons_seen["segments"] >= 3, (role, buttons_seen)  # CSV, Excel, Parquet of the recommendations


@pytest.mark.parametrize(
    "role", [r for r in roles.ROLES if roles.can(r, "export_aggregates") or roles.can(r, "export_records")]
)
def test_a_permitted_download_arrives_and_is_audited(role, app_url, warehouse):
    titles = page_titles()
    name = f"{role}_user"
    before = audit.read_log(warehouse, user=name, action="export").height
    with browser_page(height=1400) as page:
        sign_in(page, app_url, name)
        for stem in roles.allowed_pages(role, titles):
            open_page(page, titles[stem])
            if stem == "subscriber_lookup":
                look_up_a_subscriber(page, warehouse)
            button = page.get_by_role("button", name="Download CSV")
            if button.count():
                break
        else:
            pytest.fail(f"{role} may export but no page offered a download")
        with page.expect_download(timeout=30_000) as info:
            button.first.click()
        assert Path(info.value.path()).stat().st_size > 0
        file_name = info.value.suggested_filename
        wait_rendered(page)  # the server wrote the audit row while building the file, before serving it
        if role == "executive":  # the executive summary's printable page goes the same way (download_file)
            open_page(page, titles["executive_summary"])
            with page.expect_download(timeout=30_000) as html:
                page.get_by_role("button", name="Download printable page (HTML)").click()
            assert html.value.suggested_filename.endswith(".html") and Path(html.value.path()).stat().st_size > 0
    log = audit.read_log(warehouse, user=name, action="export")
    assert log.height == before + 1 + (role == "executive"), log
    details = log["detail"].to_list()
    assert set(log["role"]) == {role} and any(d.startswith(f"{file_name} (") for d in details), details
    if role == "executive":
        assert any(d.startswith("executive_summary_") and ".html (" in d for d in details), details


def test_a_server_started_with_the_toolbar_export_on_still_draws_tables_without_it(fixture_warehouse):  # noqa: F811
    """``--client.disableDataExport false`` (or a missing config.toml): pages/_exports.table
    switches the option on before any table is drawn."""
    with (
        running_app(fixture_warehouse, args=("--client.disableDataExport", "false")) as url,
        browser_page(height=1400) as page,
    ):
        page.goto(f"{url}/data_quality", wait_until="domcontentloaded")
        wait_rendered(page)
        labels = toolbar_labels(page)
        assert labels and all(labels), labels
        assert not [x for one in labels for x in one if x.startswith(EXPORT_LABELS)], labels


def test_pages_draw_tables_only_through_the_wrapper():
    """A page calling st.dataframe / st.data_editor itself would skip _shared.table's check."""
    direct = []
    for path in sorted((ROOT / "pages").glob("*.py")):
        if path.name == "_exports.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in {"dataframe", "data_editor"}
                and getattr(node.value, "id", "") == "st"
            ):
                direct.append(f"{path.name}:{node.lineno}")
    assert not direct, direct
