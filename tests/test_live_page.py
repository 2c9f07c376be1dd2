"""The Live monitor page through streamlit's AppTest: tiles, grid, open alerts, empty state."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from test_live_alerts import OPTS, T, build

from analytics import store
from analytics.live import alerts, kpis

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(path: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(path))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/live_monitor.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_tiles_grid_and_open_alert(tmp_path: Path, monkeypatch) -> None:
    wh = build(tmp_path, {"A": range(20, 75)})
    for minute in range(20, 30):  # NER of region A low for several minutes: one open alert
        # (the page itself judges at the newest record, 13:14:50, still inside the outage)
        with store.writer(wh) as con:
            alerts.evaluate(con, as_of=T + dt.timedelta(minutes=minute), overrides=OPTS)
    at = open_page(wh, monkeypatch)
    assert at.title[0].value == "Live monitor"
    labels = [m.label for m in at.metric]
    assert any("NER" in label and ":red[" in label for label in labels), labels
    grid = at.dataframe[0].value
    assert list(grid["region"]) == ["A", "B"]
    assert "low" in str(grid.loc[grid["region"] == "A", "ner"].iloc[0])
    assert "ok" in str(grid.loc[grid["region"] == "B", "ner"].iloc[0])
    open_alerts = at.dataframe[1].value
    assert list(open_alerts["region"]) == ["A"] and list(open_alerts["kpi"]) == ["ner"]
    at.segmented_control(key="live_window").set_value("1h").run()
    assert not at.exception, [e.value for e in at.exception]
    # the page computes the chosen window alone: the same statuses as all windows computed at once
    with store.reader(wh) as con:
        every = kpis.live_kpis(con, levels=("network", "region"))
    want = every.filter((pl.col("window_name") == "1h") & (pl.col("level") == "region"))
    shown = at.dataframe[0].value
    assert len(shown) == want["region"].n_unique()
    for r in want.iter_rows(named=True):
        if r["kpi"] in shown.columns:
            assert shown.loc[shown["region"] == r["region"], r["kpi"]].iloc[0] == r["status"], r


def test_empty_warehouse_explains_how_to_start(tmp_path: Path, monkeypatch) -> None:
    wh = tmp_path / "wh.duckdb"
    with store.writer(wh):
        pass
    at = open_page(wh, monkeypatch)
    text = " ".join(i.value for i in at.info)
    assert "analytics watch" in text and "demo --live" in text
