"""The Segments page renders every view on a real warehouse; exports are pseudonymised."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from test_marketing_segments import PLANS, _population
from test_marketing_support import make_warehouse
from test_marts_segments import _load

from analytics import store
from analytics.marketing.exports import export_table
from analytics.marts import refresh_segments
from analytics.privacy import MissingSecretError, pseudonym

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "segments.py")


@pytest.fixture(scope="module")
def unbuilt(tmp_path_factory):
    """The population's warehouse without the stored segment mart."""
    subs = pl.DataFrame(
        {"msisdn": [f"{g}{i:02d}" for g in "DVT" for i in range(20)], "plan_id": ["XL"] * 20 + ["S"] * 40}
    )
    return make_warehouse(tmp_path_factory.mktemp("page") / "wh.duckdb", _population(), plans=PLANS, subscribers=subs)


@pytest.fixture(scope="module")
def warehouse(unbuilt, tmp_path_factory):
    """The same warehouse with its segment mart built, as after an ingest run."""
    path = tmp_path_factory.mktemp("page_built") / "wh.duckdb"
    store.copy_warehouse(unbuilt, path)
    with store.writer(path) as con:
        assert refresh_segments(con)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("view", ["Segment map", "Profiles", "Segment x plan", "Recommendations", "Upsell"])
def test_page_views_render(warehouse, monkeypatch, view):
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ANALYTICS_HMAC_KEY", "test-key")
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["seg_view"] = view
    at.run()
    assert not at.exception
    assert at.metric[0].value == "60"


@pytest.mark.slow
def test_month_not_built_says_so_and_computes_on_request(unbuilt, monkeypatch):
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(unbuilt))
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    assert not at.exception
    assert not at.metric and any("is not built yet" in i.value for i in at.info)
    (button,) = [b for b in at.button if b.label.startswith("Compute now")]
    button.click().run()
    assert not at.exception
    assert at.metric[0].value == "60"


@pytest.mark.slow
def test_stale_month_shows_the_stored_report_with_a_warning(unbuilt, tmp_path, monkeypatch):
    path = tmp_path / "wh.duckdb"
    store.copy_warehouse(unbuilt, path)
    with store.writer(path) as con:
        refresh_segments(con)
    _load(path, [{"record_id": "late", "start_at": "2026-03-20 10:00:00", "msisdn": "D00", "service": "sms"}])
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(path))
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    assert not at.exception
    assert at.metric[0].value == "60" and any(
        "Stale since" in w.value and "before later loads" in w.value for w in at.warning
    )
    # first view: the segment profiles, no chart (the map is one click away)
    assert at.segmented_control(key="seg_view").value == "Profiles" and not at.get("plotly_chart")


def test_export_pseudonymises_numbers(monkeypatch):
    df = pl.DataFrame({"msisdn": ["+447700900123", "+447700900124"], "segment": ["a", "b"], "pc1": [0.0, 1.0]})
    out = export_table(df, see_numbers=False, key=b"k")
    assert out["msisdn"].to_list() == [pseudonym("+447700900123", b"k"), pseudonym("+447700900124", b"k")]
    assert "pc1" not in out.columns
    assert export_table(df, see_numbers=True)["msisdn"].to_list() == df["msisdn"].to_list()
    monkeypatch.delenv("ANALYTICS_HMAC_KEY", raising=False)
    with pytest.raises(MissingSecretError):
        export_table(df, see_numbers=False)


def _recommendations(warehouse: Path, monkeypatch, role: str) -> AppTest:
    """The Recommendations view as a signed-in ``role`` (sign-in on, as in production)."""
    from pages._shared import User

    monkeypatch.delenv("ANALYTICS_AUTH", raising=False)
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ANALYTICS_HMAC_KEY", "test-key")
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["user"] = User(name=f"u_{role}", role=role)
    at.session_state["seg_view"] = "Recommendations"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _parquet_buttons(at: AppTest) -> list:
    return [b for b in at.get("download_button") if b.label == "Download Parquet"]


@pytest.mark.slow
def test_parquet_export_needs_the_export_permission(warehouse, monkeypatch):
    """The executive role may open the page but not export subscriber-level tables: no Parquet either."""
    at = _recommendations(warehouse, monkeypatch, "executive")
    assert not _parquet_buttons(at) and not at.get("download_button")
    notes = [c.value for c in at.caption if "subscriber-level tables are not open to the executive role" in c.value]
    assert len(notes) == 1  # one note for the table, not one per format


@pytest.mark.slow
def test_parquet_export_is_audited_when_the_file_is_built(warehouse, monkeypatch):
    """The button's deferred file writes the audit row when the browser asks for it
    (tests/test_browser_exports.py downloads through a real browser)."""
    from analytics.security import audit
    from pages._exports import audited
    from pages._shared import User

    at = _recommendations(warehouse, monkeypatch, "marketing")
    (button,) = _parquet_buttons(at)
    assert not at.exception, [e.value for e in at.exception]
    before = audit.read_log(warehouse, user="u_marketing", action="export").height
    build = audited(
        lambda: b"PAR1",
        warehouse,
        User(name="u_marketing", role="marketing"),
        "recommendations_2026-03.parquet (3 rows) from segments",
    )
    assert audit.read_log(warehouse, user="u_marketing", action="export").height == before  # nothing until built
    assert build() == b"PAR1"
    log = audit.read_log(warehouse, user="u_marketing", action="export")
    assert log.height == before + 1 and log["detail"][0] == "recommendations_2026-03.parquet (3 rows) from segments"
