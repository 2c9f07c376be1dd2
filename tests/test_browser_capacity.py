"""The per-cell capacity outlook in a real Chromium (issue 22): a planner signs in (sign-in
on), opens the Forecasts page, picks "Cells to act on", finds the ranked table and the cell
map, and downloads the table as CSV (audited)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from test_browser import CHROMIUM, SHOTS, browser_page, page_errors, running_app, wait_rendered

from analytics import store
from analytics.config import settings, with_options
from analytics.forecast import pipeline
from analytics.ingest import ingest_files
from analytics.security import accounts, audit
from tests.conftest import write_v1
from tests.test_forecast_cli import _rows

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")]
PW = "a-long-Passw0rd!"


@pytest.fixture
def planned(tmp_path, refs, warehouse, monkeypatch) -> Path:
    """60 days of traffic on N1, S1, E1; N1 engineered for 0.01 E (over capacity every day);
    daily forecasts by seasonal naive (the page reads what is stored: the fit is not the point)."""
    small = tmp_path / "cells_small.csv"
    small.write_text(refs["cells"].read_text().replace("N1,North,54.9,-1.6,S1,4G,30", "N1,North,54.9,-1.6,S1,4G,0.01"))
    ingest_files([write_v1(tmp_path / "a.csv", _rows(60))], warehouse=warehouse, cells=small)
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


def test_cells_to_act_table_map_and_csv(planned):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(planned, env={"ANALYTICS_AUTH": "on"}) as url, browser_page(height=1800) as page:
        page.goto(f"{url}/forecasts", wait_until="domcontentloaded")
        page.get_by_label("User name").fill("pat")
        page.get_by_label("Password", exact=True).fill(PW)
        page.get_by_role("button", name="Sign in").click()
        wait_rendered(page)
        assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Forecasts"
        page.get_by_text("Backtest, model coverage and capacity").click()
        page.get_by_role("radio", name="Backtest", exact=True).wait_for(timeout=30_000)
        page.get_by_role("radio", name="Cells to act on", exact=True).click()
        page.wait_for_timeout(300)
        wait_rendered(page, timeout_ms=120_000)
        page.screenshot(path=str(SHOTS / "forecasts_cells_to_act.png"), full_page=True)
        assert page.get_by_text("Cells by months to exhaustion").count() == 1  # the map's title
        assert not page_errors(page), page_errors(page)
        assert page.locator('[data-testid="stPlotlyChart"]').count() == 2  # the forecast chart and the map
        assert page.locator('[data-testid="stDataFrame"]').count() == 1  # the cells to act on
        points = page.locator('[data-testid="stPlotlyChart"]').nth(1).locator(".scatterlayer .point")
        assert points.count() == 5  # every reference cell, placed by lon/lat
        page.locator('[data-testid="stPlotlyChart"]').nth(1).screenshot(path=str(SHOTS / "forecasts_cells_map.png"))
        with page.expect_download(timeout=30_000) as info:
            page.get_by_role("button", name="Download CSV").first.click()
        assert info.value.suggested_filename == "cells_to_act.csv"
        rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
        page.wait_for_timeout(300)
        wait_rendered(page)  # the click's rerun, which records the export, has finished
    assert rows[0]["rank"] == "1" and rows[0]["cell_id"] == "N1", rows
    assert int(rows[0]["channels_to_add"]) > 0 and rows[0]["months_to_exhaustion"] == "0.0"
    assert {r["cell_id"] for r in rows} == {"N1"}  # S1 and E1 have room
    log = audit.read_log(planned, user="pat", action="export")
    assert log.height == 1 and log["detail"][0].startswith("cells_to_act.csv (1 rows)"), log
