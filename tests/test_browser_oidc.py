"""OIDC sign-in end to end (issue 19, item 13): ``st.login`` in a real Chromium against a
local OpenID Connect provider (oidc-provider-mock) on loopback.

The test starts the provider on 127.0.0.1 on a free port, writes the app's ``[auth]``
secrets into a temporary file (passed with ``--secrets.files``: the repo's own
.streamlit/ is never written), starts the app with sign-in on, signs in through the
provider's form and checks that an account added with ``users add --oidc`` gets its
role's pages, that an identity without an account gets no data and a clear message, and
that signing out ends the session.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import pytest
from test_browser import ROOT, browser_page, fixture_warehouse, free_port, page_errors, running_app, wait_rendered  # noqa: F401
from test_browser_exports import menu_link, page_titles

from analytics.security import audit, roles

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no chromium"),
    # found, not imported: the provider runs in its own process (importing it here only adds Authlib's warnings)
    pytest.mark.skipif(
        find_spec("authlib") is None, reason="st.login needs Authlib (requirements.txt: streamlit[auth])"
    ),
    pytest.mark.skipif(
        find_spec("oidc_provider_mock") is None, reason="oidc-provider-mock (requirements.txt) is not installed"
    ),
]

MEMBER = "alice@example.com"  # has an account (--oidc, role planner)
STRANGER = "mallory@example.com"  # the provider vouches for her, the app has no account
SIGN_IN = "Sign in with your organisation's account"


@contextmanager
def oidc_provider(log_path: Path, *, timeout: float = 60) -> Iterator[str]:
    """``python -m oidc_provider_mock`` on 127.0.0.1 on a free port; yields its issuer URL."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the OIDC provider did not start: see {log_path}") from None
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def auth_secrets(path: Path, *, issuer: str, app_port: int) -> Path:
    """The ``[auth]`` section st.login reads, in a file of its own (``--secrets.files``)."""
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        'cookie_secret = "test-only-cookie-secret-0123456789abcdef"\n'
        'client_id = "cdr-dashboard"\n'
        'client_secret = "test-only-client-secret"\n'
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def world(fixture_warehouse, tmp_path_factory) -> Iterator[tuple[str, Path]]:  # noqa: F811 - imported fixture
    """(app URL, warehouse): the provider and the app running, MEMBER added with --oidc."""
    tmp = tmp_path_factory.mktemp("oidc")
    warehouse = tmp / "warehouse.duckdb"
    shutil.copyfile(fixture_warehouse, warehouse)
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics",
            "users",
            "add",
            MEMBER,
            "--role",
            "planner",
            "--oidc",
            "--warehouse",
            str(warehouse),
            "--by",
            "test",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    (ROOT / "artifacts").mkdir(exist_ok=True)
    with oidc_provider(ROOT / "artifacts" / "oidc_provider.log") as issuer:
        port = free_port()
        secrets = auth_secrets(tmp / "secrets.toml", issuer=issuer, app_port=port)
        with running_app(
            warehouse, env={"ANALYTICS_AUTH": "on"}, args=("--secrets.files", str(secrets)), port=port
        ) as url:
            yield url, warehouse


def sign_in_at_the_provider(page, url: str, subject: str) -> None:
    """The app's sign-in button, then the provider's form (subject = e-mail), then back."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("button", name=SIGN_IN).click()
    page.wait_for_url("**/oauth2/authorize**", timeout=30_000)
    page.locator('input[name="sub"]').fill(subject)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**", timeout=30_000)


def menu(page) -> set[str]:
    return set(page.locator('[data-testid="stSidebarNav"] a').all_inner_texts())


def test_an_oidc_account_gets_its_roles_pages_and_sign_out_ends_the_session(world):
    url, warehouse = world
    titles = page_titles()
    with browser_page(height=1400) as page:
        sign_in_at_the_provider(page, url, MEMBER)
        wait_rendered(page)
        assert not page_errors(page)
        assert f"Signed in as {MEMBER} (planner)" in page.locator('[data-testid="stSidebar"]').inner_text()
        expected = {titles[s] for s in roles.allowed_pages("planner", titles)}
        links = menu(page)  # each link's text is its icon's name, then the title
        assert len(links) == len(expected) and all(any(t.endswith(x) for t in links) for x in expected), links
        assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Executive summary"
        # a page of the role opens
        menu_link(page, "Forecasts").click()
        page.wait_for_timeout(300)
        wait_rendered(page)
        assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Forecasts"
        # the session survives a new page load (the identity cookie); a page outside the role is refused
        page.goto(f"{url}/billing", wait_until="domcontentloaded")
        wait_rendered(page)
        assert f"Signed in as {MEMBER}" in page.locator('[data-testid="stSidebar"]').inner_text()
        assert (
            "Your role (planner) may not open the Billing reconciliation page"
            in page.locator('[data-testid="stMain"]').inner_text()
        )
        assert not page.locator('[data-testid="stDataFrame"], [data-testid="stPlotlyChart"]').count()
        # then sign-out ends it
        page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
        # st.logout clears the app's identity cookie, then asks the provider to end its session
        page.wait_for_url("**/oauth2/end_session**", timeout=30_000)
        page.get_by_role("button", name="End session").click()
        page.get_by_role("button", name=SIGN_IN).wait_for(timeout=30_000)
        page.reload(wait_until="domcontentloaded")  # not signed in again by a cookie left behind
        page.get_by_role("button", name=SIGN_IN).wait_for(timeout=30_000)
        assert not page.locator('[data-testid="stSidebarNav"] a').count()
        assert not page.locator(
            '[data-testid="stDataFrame"], [data-testid="stPlotlyChart"], [data-testid="stMetric"]'
        ).count()
    log = audit.read_log(warehouse, user=MEMBER)
    actions = log["action"].to_list()[::-1]
    assert actions[:1] == ["sign_in"] and "sign_out" in actions, actions
    assert log.filter(log["action"] == "sign_in")["detail"].to_list()[0] == "oidc"


def test_an_identity_without_an_account_gets_no_data_and_a_clear_message(world):
    url, warehouse = world
    with browser_page(height=1400) as page:
        sign_in_at_the_provider(page, url, STRANGER)
        message = page.locator('[data-testid="stAlertContentError"]').first
        message.wait_for(timeout=30_000)
        assert message.inner_text().endswith(f"{STRANGER}: no account for this identity: ask an admin to add you")
        page.wait_for_timeout(1000)  # nothing else arrives after the refusal
        assert not page.locator('[data-testid="stSidebarNav"] a').count()
        assert not page.locator(
            '[data-testid="stDataFrame"], [data-testid="stPlotlyChart"], [data-testid="stMetric"]'
        ).count()
        assert not page.locator('[data-testid="stSidebar"] [data-testid="stDateInput"]').count()
        assert not page_errors(page)
    refused = audit.read_log(warehouse, user=STRANGER)
    assert refused["action"].to_list() == ["sign_in_refused"], refused
