"""The Billing and Subscriber lookup pages through streamlit's AppTest on the hand-computed warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_billing_reconcile import EXPECTED_CLASS, A, warehouse  # noqa: F401 - the fixture

from analytics import store
from analytics.billing.notes import list_notes

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture()
def app(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:  # noqa: F811
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def _open(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_billing_page_views(app: AppTest) -> None:
    at = _open(app, "billing")
    assert at.selectbox(key="bill_month").value.strftime("%Y-%m") == "2026-04"  # newest first
    at.selectbox(key="bill_month").select_index(1).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mismatches"] == str(len(EXPECTED_CLASS))
    for view in ("Mismatch list", "Bill shock", "Breakdown"):
        at.segmented_control(key="bill_view").set_value(view).run()
        assert not at.exception, (view, [e.value for e in at.exception])
    assert not at.dataframe  # the breakdown's table waits in its closed expander
    at.segmented_control(key="bill_dim").set_value("region").run()
    at.session_state["bill_table_open"] = True  # opened: the table and its downloads
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    by_region = at.dataframe[0].value
    assert by_region["mismatches"].sum() == len(EXPECTED_CLASS)
    at.segmented_control(key="bill_view").set_value("Mismatch list").run()
    shown = at.dataframe[0].value
    assert set(shown["record_id"]) == set(EXPECTED_CLASS)


@pytest.mark.slow
def test_subscriber_lookup_and_note(app: AppTest, warehouse: Path) -> None:  # noqa: F811
    at = _open(app, "subscriber_lookup")
    assert any("Type a subscriber" in i.value for i in at.info)
    at.text_input(key="lookup_query").input("900001").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="lookup_month").select_index(1).run()  # March
    bill = at.dataframe[0].value
    assert "r03" in set(bill["record_id"])
    at.segmented_control(key="lookup_pane").set_value("Usage charts").run()
    assert not at.exception
    at.segmented_control(key="lookup_pane").set_value("Dispute notes").run()
    at.text_area[0].input("Customer says r03 was an incoming call")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    with store.reader(warehouse) as con:
        notes = list_notes(con, A)
    assert notes["note"].to_list() == ["Customer says r03 was an incoming call"]
    assert notes["author"][0] == "local"
