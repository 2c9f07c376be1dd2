"""Network quality and the lookup's incident marks in a real Chromium, sign-in on
(issue 22 part 4): a planner ranks the cells by ASR, the choice survives a reload, the
incident timeline draws; a support user looks up a number whose call fell in the outage."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import browser_page, page_errors, running_app, wait_rendered
from test_browser_exports import PW, look_up_a_subscriber, open_page, sign_in  # noqa: F401
from test_network_warehouse import CALLS, load_world, make_world, msisdn

from analytics.security import accounts

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no chromium")]


@pytest.fixture(scope="module")
def outage_world(tmp_path_factory) -> Path:
    world = make_world(tmp_path_factory.mktemp("browser_network"))
    load_world(world)
    for role in ("planner", "support"):
        accounts.add_user(world["wh"], f"{role}_user", role=role, password=PW, by="test")
    return world["wh"]


@pytest.fixture(scope="module")
def app_url(outage_world):
    with running_app(outage_world, env={"ANALYTICS_AUTH": "on", "ANALYTICS_HMAC_KEY": "test-key"}) as url:
        yield url


def test_planner_ranks_by_asr_reloads_and_sees_the_incident_timeline(app_url) -> None:
    with browser_page(height=1600) as page:
        sign_in(page, app_url, "planner_user")
        open_page(page, "Network quality")
        assert not page_errors(page)
        main = page.locator('[data-testid="stMain"]')
        assert "Worst cells by Dropped-call rate" in main.inner_text()
        main.locator('[data-testid="stButtonGroup"] button', has_text="ASR").first.click()
        page.wait_for_timeout(300)
        wait_rendered(page)
        assert "Worst cells by ASR (lowest first)" in main.inner_text()
        assert "nq_rank=ASR" in page.url  # bound to the URL (by its label)
        page.reload(wait_until="domcontentloaded")
        wait_rendered(page)
        assert not page_errors(page)
        assert "Worst cells by ASR (lowest first)" in main.inner_text()  # the choice is in the URL
        assert main.locator('[data-testid="stPlotlyChart"] .main-svg').count() >= 1  # the worst cell's hours
        main.locator('[data-testid="stButtonGroup"] button', has_text="Incidents").first.click()
        page.wait_for_timeout(300)
        wait_rendered(page)
        assert not page_errors(page)
        text = main.inner_text()
        assert "Incident timeline" in text or main.locator('[data-testid="stPlotlyChart"] .main-svg').count() == 1
        assert "Cell incidents" in text and "asr low" in text


def test_support_sees_the_outage_marked_in_the_lookup(app_url) -> None:
    number = msisdn("N1", (21 * 24 + 10) * CALLS)
    with browser_page(height=1600) as page:
        sign_in(page, app_url, "support_user")
        open_page(page, "Subscriber lookup")
        box = page.get_by_role("textbox", name="Phone number")
        box.fill(number)
        box.press("Enter")
        page.wait_for_timeout(300)
        wait_rendered(page)
        assert not page_errors(page)
        alert = page.locator('[data-testid="stAlert"]', has_text="network incident")
        alert.first.wait_for(timeout=30_000)
        assert "1 record(s) of this month fell inside a network incident of their cell (cell N1: asr low" in (
            alert.first.inner_text()
        )
