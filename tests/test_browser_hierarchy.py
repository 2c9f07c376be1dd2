"""Coherent totals in a real Chromium (issue 22 item 2): a signed-in planner switches the
Forecasts page's level to national and to cell, sees that the children add up to the parent,
and each choice survives a reload (the level is bound to the URL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import CHROMIUM, SHOTS, browser_page, page_errors, running_app, wait_rendered
from test_browser_exports import PW, sign_in

from analytics import store
from analytics.config import settings, with_options
from analytics.forecast import pipeline
from analytics.ingest import ingest_files
from analytics.security import accounts
from tests.conftest import write_v1
from tests.test_forecast_cli import _rows

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")]


@pytest.fixture
def forecast_world(tmp_path, refs, warehouse, monkeypatch) -> Path:
    """60 days on N1, N2, S1, E1; daily forecasts by seasonal naive (the page reads what is stored)."""
    ingest_files(
        [write_v1(tmp_path / "a.csv", _rows(60, cells=("N1", "N2", "S1", "E1")))],
        warehouse=warehouse,
        cells=refs["cells"],
    )
    monkeypatch.setattr(
        pipeline,
        "config",
        lambda: with_options(pipeline.ForecastSettings(), {"models_daily": ["seasonal_naive"], "n_jobs": 1}),
    )
    settings.cache_clear()
    with store.writer(warehouse) as con:
        pipeline.run_forecast(con, freq="daily", horizon_days=14)
    accounts.add_user(warehouse, "pat", role="planner", password=PW, by="test")
    return warehouse


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _level(page, name: str) -> None:
    page.get_by_role("radio", name=name, exact=True).click()
    page.wait_for_timeout(300)
    wait_rendered(page)


def _reload(page) -> None:
    page.reload(wait_until="domcontentloaded")
    wait_rendered(page)


def test_planner_switches_the_level_and_reloads(forecast_world):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(forecast_world, env={"ANALYTICS_AUTH": "on"}) as url, browser_page(height=1600) as page:
        sign_in(page, f"{url}/forecasts", "pat")
        assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Forecasts"
        text = _main_text(page)  # the region level: its cells and all regions add up
        assert "1 cells add up to East" in text and "3 regions add up to the national total" in text, text

        _level(page, "National")
        assert "fc_level=National" in page.url  # the label, as Streamlit binds it
        assert "National total: voice minutes per day" in _main_text(page)
        assert "3 regions add up to the national total on every one of the 14 forecast days" in _main_text(page)
        assert not page_errors(page), page_errors(page)
        page.screenshot(path=str(SHOTS / "forecasts_national.png"), full_page=True)
        _reload(page)
        assert page.get_by_role("radio", name="National", exact=True).is_checked()
        assert "3 regions add up to the national total" in _main_text(page)

        _level(page, "Cell")
        assert "fc_level=Cell" in page.url
        text = _main_text(page)
        assert "East, cell E1" in text and "1 cells add up to East" in text, text
        _reload(page)
        assert page.get_by_role("radio", name="Cell", exact=True).is_checked()
        assert "1 cells add up to East" in _main_text(page)
        assert page.locator('[data-testid="stPlotlyChart"]').count() == 1
        assert not page_errors(page), page_errors(page)
        page.screenshot(path=str(SHOTS / "forecasts_cell_level.png"), full_page=True)
