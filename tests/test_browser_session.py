"""The sign-in cookie in a real headless Chromium against the running app (scripts/serve.py):
a reload and a deep link keep the session; a forged, expired or revoked cookie is refused;
the cookie is HttpOnly and SameSite=Lax; the cookie routes refuse other origins (#17.3)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_browser import CHROMIUM, browser_page, fixture_warehouse, page_errors, running_app, wait_rendered  # noqa: F401

from analytics.security import accounts, audit, sessions

PW = "a-long-Passw0rd!"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def signed_app(fixture_warehouse, tmp_path_factory):  # noqa: F811 - the fixture imported above
    warehouse = tmp_path_factory.mktemp("session") / "session.duckdb"
    shutil.copyfile(fixture_warehouse, warehouse)
    accounts.add_user(warehouse, "ann", role="admin", password=PW, by="test")
    accounts.add_user(warehouse, "bea", role="billing", password=PW, by="test")
    with running_app(warehouse, env={"ANALYTICS_AUTH": "on"}) as url:
        yield url, warehouse


def _sign_in(page, url: str, name: str, path: str = "") -> None:
    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PW)
    page.get_by_role("button", name="Sign in").click()
    wait_rendered(page)
    page.wait_for_function("() => true")  # let the hand-over script's request finish
    for _ in range(600):  # the hand-over's request can take seconds on a loaded machine
        if _cookie(page):
            return
        page.wait_for_timeout(100)
    raise AssertionError("no session cookie after signing in")


def _cookie(page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == sessions.COOKIE), None)


def _signed_in(page) -> bool:
    return page.get_by_role("button", name="Sign out").count() > 0 and page.get_by_label("User name").count() == 0


def _open_with_cookie(url: str, value: str, path: str = "") -> bool:
    """A fresh browser holding only this cookie opens ``path``: signed in or shown the form?"""
    with browser_page(height=1200) as page:
        page.context.add_cookies([{"name": sessions.COOKIE, "value": value, "url": url}])
        page.goto(f"{url}/{path}", wait_until="domcontentloaded")
        page.get_by_role("button", name="Sign out").or_(page.get_by_role("button", name="Sign in")).first.wait_for(
            timeout=60_000
        )
        page.wait_for_timeout(300)
        return _signed_in(page)


def test_reload_and_deep_link_keep_the_session(signed_app) -> None:
    url, warehouse = signed_app
    with browser_page(height=1200) as page:
        _sign_in(page, url, "ann")
        cookie = _cookie(page)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] > time.time() + 3600
        assert sessions.COOKIE not in page.evaluate("document.cookie")  # page scripts cannot read it
        page.reload(wait_until="domcontentloaded")  # F5
        wait_rendered(page)
        assert _signed_in(page) and not page_errors(page)
        page.goto(f"{url}/billing", wait_until="domcontentloaded")  # a bookmark or a link from an e-mail
        wait_rendered(page)
        assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Billing reconciliation"
        assert _signed_in(page)
    assert audit.read_log(warehouse, user="ann", action="session_resumed").height >= 2


def test_a_valid_cookie_in_a_new_browser_is_accepted(signed_app) -> None:
    """The control for the refusals below: the same route into the app with a good cookie."""
    url, warehouse = signed_app
    value = sessions.issue(warehouse, "bea", _generation(warehouse, "bea"))
    assert _open_with_cookie(url, value, "billing")


def _generation(warehouse: Path, name: str) -> int:
    for g in range(1000):
        if accounts.session_account(warehouse, name, g) is not None:
            return g
    raise AssertionError(f"{name} has no live session generation")


def test_forged_and_expired_cookies_are_refused(signed_app) -> None:
    url, warehouse = signed_app
    good = sessions.issue(warehouse, "bea", _generation(warehouse, "bea"))
    payload, signature = good.split(".")
    body = json.loads(sessions._unb64(payload))
    forged_payload = sessions._b64(json.dumps({**body, "u": "ann"}).encode())  # bea's signature on ann's name
    assert not _open_with_cookie(url, f"{forged_payload}.{signature}")
    assert not _open_with_cookie(url, payload + "." + signature[::-1])
    expired = sessions.issue(warehouse, "bea", _generation(warehouse, "bea"), now=time.time() - 13 * 3600)
    assert not _open_with_cookie(url, expired)
    ticket = sessions.issue(warehouse, "bea", _generation(warehouse, "bea"), purpose="ticket")
    assert not _open_with_cookie(url, ticket)  # a hand-over ticket is not a session


def test_sign_out_and_disabling_revoke_the_cookie(signed_app) -> None:
    url, warehouse = signed_app
    accounts.add_user(warehouse, "cy", role="billing", password=PW, by="test")
    with browser_page(height=1200) as page:
        _sign_in(page, url, "cy", "billing")
        value = _cookie(page)["value"]
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        for _ in range(300):  # the sign-out's script asks the server to clear the cookie (slow on a loaded machine)
            if _cookie(page) is None:
                break
            page.wait_for_timeout(100)
        assert _cookie(page) is None
        page.reload(wait_until="domcontentloaded")
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    assert not _open_with_cookie(url, value)  # the old cookie, replayed, is revoked

    with browser_page(height=1200) as page:
        _sign_in(page, url, "cy", "billing")
        value = _cookie(page)["value"]
        accounts.set_disabled(warehouse, "cy", disabled=True, by="test")
        # the open tab ends at its next run (the session is re-checked on every run)
        page.get_by_role("link", name="Subscriber lookup").click()
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    assert not _open_with_cookie(url, value)
    accounts.set_disabled(warehouse, "cy", disabled=False, by="test")
    assert not _open_with_cookie(url, value)  # enabling again does not revive the old cookie


def _post(url: str, body: str, origin: str) -> int:
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={"Origin": origin})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_cookie_routes_refuse_other_origins_and_bad_tickets(signed_app) -> None:
    url, warehouse = signed_app
    ticket = sessions.issue(warehouse, "bea", _generation(warehouse, "bea"), purpose="ticket")
    assert _post(f"{url}/_auth/session", ticket, "http://evil.example") == 403
    assert _post(f"{url}/_auth/session", ticket[:-2] + "xx", url) == 403
    assert _post(f"{url}/_auth/session", sessions.issue(warehouse, "bea", 0), url) == 403  # a session is not a ticket
    assert _post(f"{url}/_auth/sign_out", "", "http://evil.example") == 403
    assert _post(f"{url}/_auth/session", ticket, url) == 204  # the control: same origin, good ticket
