"""The Network quality page and the subscriber lookup's incident marks through streamlit's
AppTest, on the injected-outage world of test_network_warehouse (real load, real DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_network_warehouse import CALLS, load_world, make_world, msisdn

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def outage_world(tmp_path_factory) -> Path:
    world = make_world(tmp_path_factory.mktemp("network_page"))
    load_world(world)
    return world["wh"]


def open_page(wh: Path, monkeypatch, page: str) -> AppTest:
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(wh))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_worst_cells_drill_down_and_incident_timeline(outage_world, monkeypatch) -> None:
    at = open_page(outage_world, monkeypatch, "network_quality")
    assert at.title[0].value == "Network quality"
    at.segmented_control(key="nq_rank").set_value("asr").run()
    assert not at.exception, [e.value for e in at.exception]
    ranking = at.dataframe[0].value
    assert list(ranking["cell_id"])[0] == "N1"  # the cell whose calls failed for 3 hours has the lowest ASR
    assert at.selectbox(key="nq_cell").value == "N1"
    assert len(at.get("plotly_chart")) == 1  # its hourly trend
    at.segmented_control(key="nq_pane").set_value("Incidents").run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Cell incidents"] == "1"
    table = at.dataframe[0].value
    assert sorted(table["level"]) == ["cell", "region"]
    assert list(table.loc[table["level"] == "cell", "subscribers"]) == [36]


@pytest.mark.slow
def test_the_lookup_marks_a_call_inside_an_incident(outage_world, monkeypatch) -> None:
    number = msisdn("N1", (21 * 24 + 10) * CALLS)
    at = open_page(outage_world, monkeypatch, "subscriber_lookup")
    at.text_input(key="lookup_query").set_value(number).run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = [w.value for w in at.warning]
    assert any(
        "1 record(s) of this month fell inside a network incident of their cell (cell N1: asr low" in w
        for w in warnings
    ), warnings
    bill = at.dataframe[0].value
    assert int(bill["in_incident"].sum()) == 1
