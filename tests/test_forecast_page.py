"""The Forecasts page through AppTest: empty state before a run, then every view after one."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import store
from analytics.config import settings, with_options
from analytics.forecast import pipeline
from analytics.ingest import ingest_files
from tests.conftest import REPO, write_v1
from tests.test_forecast_cli import _rows

APP = str(REPO / "app.py")


def _app(warehouse: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/forecasts.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def loaded(tmp_path, refs, warehouse) -> Path:
    ingest_files([write_v1(tmp_path / "a.csv", _rows(60))], warehouse=warehouse, cells=refs["cells"])
    return warehouse


def test_page_says_how_to_run_a_forecast_when_none_is_stored(loaded, monkeypatch):
    at = _app(loaded, monkeypatch)
    assert any("python -m analytics forecast" in i.value for i in at.info)


@pytest.mark.slow
def test_page_shows_chart_tables_and_capacity_after_a_run(loaded, monkeypatch):
    monkeypatch.setattr(
        pipeline,
        "config",
        lambda: with_options(pipeline.ForecastSettings(), {"models_daily": ["seasonal_naive", "ets"], "n_jobs": 1}),
    )
    settings.cache_clear()
    with store.writer(loaded) as con:
        pipeline.run_forecast(con, freq="daily", horizon_days=14)
    at = _app(loaded, monkeypatch)
    assert len(at.get("plotly_chart")) == 1
    # daily: the coherent region forecast, with the checks that its cells and all regions add up
    assert at.segmented_control(key="fc_level").value == "region"
    assert any(c.value.startswith("Coherent totals computed") for c in at.caption)  # how old they are
    assert [s.value.split(" on every")[0] for s in at.success] == [
        "1 cells add up to East",
        "3 regions add up to the national total",
    ]
    assert at.selectbox(key="fc_region").options == ["East", "North", "Quiet", "South"]
    at.selectbox(key="fc_region").set_value("Quiet").run()
    assert any("no traffic" in w.value for w in at.warning)
    # first view: the chart only; values and details are lazy expanders
    assert len(at.dataframe) == 0
    at.session_state["fc_values_open"] = True
    at.run()
    assert "yhat" in at.dataframe[0].value.columns
    at.session_state["fc_details_open"] = True
    at.run()
    for view in ["Backtest", "Model coverage", "Capacity", "Cells to act on", "All series"]:
        at.segmented_control(key="fc_view").set_value(view).run()
        assert not at.exception, (view, [e.value for e in at.exception])
        assert len(at.dataframe) >= 1 or at.info, view
    at.segmented_control(key="fc_view").set_value("Capacity").run()
    assert len(at.dataframe[-1].value) == 4  # North, South, East, Quiet

    at.segmented_control(key="fc_level").set_value("national").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 1 and at.selectbox(key="fc_h_metric").value == "voice_minutes"
    assert [s.value.split(" on every")[0] for s in at.success] == ["3 regions add up to the national total"]
    at.segmented_control(key="fc_level").set_value("cell").run()
    assert at.selectbox(key="fc_h_region").options == ["East", "North", "South"]  # regions with traffic
    at.selectbox(key="fc_h_region").set_value("North").run()
    assert at.selectbox(key="fc_h_cell").options == ["N1"]
    assert not at.exception and [s.value.split(" on every")[0] for s in at.success] == ["1 cells add up to North"]


def _fast_models(monkeypatch) -> None:
    monkeypatch.setattr(
        pipeline,
        "config",
        lambda: with_options(
            pipeline.ForecastSettings(),
            {"models_daily": ["seasonal_naive", "ets"], "models_hourly": ["seasonal_naive"], "n_jobs": 1},
        ),
    )
    settings.cache_clear()


@pytest.mark.slow
def test_compute_button_runs_the_forecast_and_shows_it(loaded, monkeypatch):
    from analytics.security import audit

    _fast_models(monkeypatch)
    at = _app(loaded, monkeypatch)
    version = store.snapshot_version(loaded)
    assert not at.get("plotly_chart")
    at.button(key="fc_compute").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.snapshot_version(loaded) != version  # the run published a new snapshot
    assert len(at.get("plotly_chart")) == 1, "the page shows the new forecasts after the run"
    assert at.segmented_control(key="fc_freq").value == "daily"
    with store.snapshot_reader(loaded) as con:
        regions = store.scalar(con, "select count(distinct region) from forecast_series where freq = 'daily'")
        series = store.scalar(con, "select count(*) from forecast_series where freq = 'daily'")
    assert regions == 4 and series == 4 * 5  # 4 metrics + busy_hour_erlangs per region
    from pages import _jobs

    job = _jobs._JOBS[str(loaded)]  # the coherent totals go on after the page shows the daily step
    assert job.done.wait(600) and job.error is None, job.error
    events = audit.read_log(loaded, action="forecast_run")["detail"].to_list()
    assert "daily requested" in events and any(e.startswith("daily finished: 20 series refit") for e in events), events


@pytest.mark.slow
def test_hourly_is_the_second_choice(loaded, monkeypatch):
    _fast_models(monkeypatch)
    at = _app(loaded, monkeypatch)
    assert at.button(key="fc_compute").label == "Compute forecasts"
    assert at.button(key="fc_compute_other").label == "Compute hourly forecasts"
    at.button(key="fc_compute_other").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.segmented_control(key="fc_freq").value == "hourly"
    assert len(at.get("plotly_chart")) == 1


def test_compute_is_refused_to_roles_without_run_forecasts(loaded, monkeypatch):
    from pages._shared import User

    monkeypatch.delenv("ANALYTICS_AUTH", raising=False)
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(loaded))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["user"] = User(name="eve", role="executive")
    at.run()
    at.switch_page("pages/forecasts.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key in ("fc_compute", "fc_compute_other")]
    assert any("not to the executive role" in c.value for c in at.caption)
