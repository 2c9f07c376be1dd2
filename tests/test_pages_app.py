"""Every page of the app through streamlit's AppTest: default filters, an empty filter
result, a month with no data, an empty warehouse, filters bound to the URL, the upload.

The warehouse: the demo world (~1,500 subscribers x 2 months) when
``analytics.demo.build`` exists, else the hand-made world of test_pages_data. The passes on
the demo world are marked slow; the fast tier renders every page on the small world.
"""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_pages_data import build_small_warehouse

from analytics import demo, store
from analytics.marts import refresh_marts, stored_segment_report

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
OWN_PAGES = ["executive_summary", "traffic_trends", "demand_heatmaps", "data_quality"]
ALL_PAGES = [p.stem for p in sorted((ROOT / "pages").glob("*.py")) if not p.name.startswith("_")]
TIMEOUT = 120


def build_warehouse(folder: Path) -> Path:
    """The page-test warehouse (also used by test_browser and the benchmark)."""
    warehouse = folder / "demo.duckdb"
    try:
        demo.build(warehouse, folder / "demo", subscribers=1500, months=2)
    except Exception as exc:  # the demo is tested on its own; the pages still get a world
        warnings.warn(f"analytics.demo.build failed ({exc!r}); page tests use the small world", stacklevel=1)
        return build_small_warehouse(folder / "small")
    return warehouse


_CACHE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory) -> Path:
    if "w" not in _CACHE:
        _CACHE["w"] = build_warehouse(tmp_path_factory.mktemp("pages"))
    return _CACHE["w"]


@pytest.fixture
def app(warehouse, monkeypatch):
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")  # sign-in is tested by its own suite
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [i.value for i in at.info] + [w.value for w in at.warning]
    parts += [t.value for t in at.title] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def _open(at: AppTest, page: str) -> AppTest:
    """Switch to a page and run. (AppTest then shows only the page's own elements, not the
    sidebar of app.py: read or set sidebar widgets before switching.)"""
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])
    return at


@pytest.mark.slow
@pytest.mark.parametrize("page", ALL_PAGES)
def test_every_page_renders_with_default_filters(app, page):
    at = _open(app, page)
    assert "Page not found" not in _texts(at)


@pytest.mark.slow
@pytest.mark.parametrize("page", OWN_PAGES)
def test_own_pages_show_content(app, page):
    at = _open(app, page)
    text = _texts(at)
    assert "No records in the warehouse" not in text
    assert "No records match the filters" not in text
    assert len(at.get("plotly_chart")) + len(at.dataframe) > 0


@pytest.mark.slow
def test_segmented_views_all_render(app):
    for page, key, options in [
        ("executive_summary", "exec_view", ["Revenue", "Traffic", "Top movers", "Region table"]),
        ("demand_heatmaps", "hm_view", ["Hour x weekday", "Region x day", "Cell map"]),
        ("data_quality", "dq_view", ["Loads", "Quarantine", "Duplicates", "Coverage gaps", "Upload"]),
    ]:
        at = _open(app, page)
        for option in options:
            at.segmented_control(key=key).set_value(option)
            at.run()
            assert not at.exception, (page, option, [e.value for e in at.exception])


@pytest.mark.slow
def test_lazy_tables_render_when_opened(app):
    """Tables below the charts sit in lazy expanders: closed, nothing is sent; opened, the
    table and its downloads are there."""
    for page, key, column in [
        ("traffic_trends", "tt_series_open", "bucket_at"),
        ("traffic_trends", "tt_busy_open", "busy_hour"),
        ("demand_heatmaps", "hm_table_open", "suppressed"),
    ]:
        at = _open(app, page)
        assert not any(column in df.value.columns for df in at.dataframe), (page, key)
        at.session_state[key] = True
        at.run()
        assert not at.exception, (page, key, [e.value for e in at.exception])
        assert any(column in df.value.columns for df in at.dataframe), (page, key)
        at.session_state[key] = False
        at.run()


@pytest.mark.slow
def test_traffic_drill_down_to_records(app):
    at = _open(app, "traffic_trends")
    region = [o for o in at.selectbox(key="tt_drill").options if o != "(none)"][0]
    at.selectbox(key="tt_drill").set_value(region)
    at.run()
    assert not at.exception
    bucket = at.selectbox(key="tt_bucket").options[1]
    at.selectbox(key="tt_bucket").set_value(at.selectbox(key="tt_bucket").options[1])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert bucket and any("record_id" in df.value.columns for df in at.dataframe)


@pytest.mark.slow
@pytest.mark.parametrize("page", OWN_PAGES)
def test_empty_filter_result(app, page):
    # a range inside the data bounds with no records in it: 2026-03-10 .. 03-20 in the small
    # world; the demo world has data every day, so there filter on a region with no traffic instead
    lo = app.date_input(key="f_start").min
    has_gap = app.date_input(key="f_start").min == date(2026, 3, 2)
    if has_gap:
        app.date_input(key="f_start").set_value(date(2026, 3, 10))
        app.date_input(key="f_end").set_value(date(2026, 3, 20))
    else:
        app.date_input(key="f_start").set_value(lo)
        app.date_input(key="f_end").set_value(lo)
        app.multiselect(key="f_services").set_value(["video"])
    at = _open(app, page)
    if has_gap and page in ("traffic_trends", "demand_heatmaps"):
        assert "No records match the filters" in _texts(at)


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory) -> Path:
    return build_small_warehouse(tmp_path_factory.mktemp("small"))


def test_month_without_data(small_warehouse, monkeypatch):
    # the small world has March, April and June 2026: May is offered and has no data
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(small_warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")  # sign-in is tested by its own suite
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at = _open(at, "executive_summary")
    assert at.selectbox(key="exec_month").options == ["2026-06", "2026-05", "2026-04", "2026-03"]
    at.selectbox(key="exec_month").set_value("2026-05")
    at.run()
    assert not at.exception
    assert "No records for 2026-05" in _texts(at)
    at.selectbox(key="exec_month").set_value("2026-06")
    at.run()
    assert not at.exception
    assert "no data for May 2026 to compare with" in _texts(at)


def test_every_page_renders_on_the_small_world(small_warehouse, monkeypatch):
    """The fast tier's pass over every page with data (the demo-world passes above are slow)."""
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(small_warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")  # sign-in is tested by its own suite
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "holds no records" not in _texts(at)  # the frame's notice of an empty warehouse
    for page in ALL_PAGES:
        texts = _texts(_open(at, page))  # _open fails on any exception, naming the page
        assert "Page not found" not in texts, page
        assert "No records in the warehouse yet" not in texts, page
    at = _open(at, "executive_summary")
    assert at.selectbox(key="exec_month").options[0] == "2026-06"


def test_empty_warehouse_every_page(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(tmp_path / "none.duckdb"))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")  # sign-in is tested by its own suite
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert "holds no records" in _texts(at)
    for page in ALL_PAGES:
        _open(at, page)
    at = _open(at, "executive_summary")
    assert "No records in the warehouse yet" in _texts(at)


@pytest.mark.slow
def test_filters_from_url_kept_across_pages(warehouse, monkeypatch):
    """A URL with filters sets the sidebar; the filters then hold on every page.

    (AppTest keeps app.py's elements only in the first run's tree and does not mirror
    widget -> URL updates: the browser test checks the URL side.)
    """
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")  # sign-in is tested by its own suite
    probe = AppTest.from_file(APP, default_timeout=TIMEOUT)
    probe.run()
    region = probe.multiselect(key="f_regions").options[0]
    start = probe.date_input(key="f_start").min
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["f_regions"] = region
    at.query_params["f_start"] = start.isoformat()
    at.query_params["f_end"] = start.isoformat()
    at.run()
    assert at.multiselect(key="f_regions").value == [region]
    assert at.date_input(key="f_start").value == start
    for page in ("traffic_trends", "demand_heatmaps", "data_quality"):
        _open(at, page)
        assert at.session_state["f_regions"] == [region] and at.session_state["f_end"] == start
    at = _open(at, "traffic_trends")
    assert f"{start:%d %b %Y} to {start:%d %b %Y}" in _texts(at)


@pytest.mark.slow
def test_upload_runs_ingest(tmp_path, monkeypatch):
    warehouse = build_small_warehouse(tmp_path / "w")
    refresh_marts(warehouse)
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")  # sign-in is tested by its own suite
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at = _open(at, "data_quality")
    at.segmented_control(key="dq_view").set_value("Upload")
    at.run()
    extra = "record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge\nu1,2026-04-08T10:00:00Z,+447000000009,+4471111111,voice,out,60,C1,0.05\nu2,bad,+447000000009,x,voice,out,1,C1,0\n"
    at.get("file_uploader")[0].upload("more.csv", extra.encode(), "text/csv")
    at.run()
    at.button(key="dq_load").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Loaded 1 of 2 rows" in s.value for s in at.success), [s.value for s in at.success] + [
        e.value for e in at.error
    ]
    # the marts of the month it changed, as the batch ingest does (the Billing and Segments pages read them)
    # (built before the upload: only April's billing; segments of April; June, whose upsell window holds April,
    # is the open month (the latest with records), built minutes ago: left stale for [marts] segments_open_month_hours)
    assert "Marts refreshed: billing 2026-04, segments 2026-04, 0 fraud alerts." in [c.value for c in at.caption]
    with store.reader(warehouse) as con:
        assert stored_segment_report(con, date(2026, 4, 1))["status"] == "current"
    at.segmented_control(key="dq_view").set_value("Loads")
    at.run()
    assert any(
        df.value["file_name"].str.endswith("more.csv").any() for df in at.dataframe if "file_name" in df.value.columns
    )


def test_upload_refuses_wrong_type(tmp_path, monkeypatch):
    warehouse = build_small_warehouse(tmp_path / "w")
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")  # sign-in is tested by its own suite
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at = _open(at, "data_quality")
    at.segmented_control(key="dq_view").set_value("Upload")
    at.run()
    at.get("file_uploader")[0].upload("notes.gz", b"\x1f\x8b", "application/gzip")
    at.run()
    assert any("not an extract" in e.value for e in at.error)
    assert not at.button or all(b.key != "dq_load" for b in at.button)


@pytest.mark.slow
def test_load_totals_count_cdr_rows_not_reference_rows(app, warehouse):
    at = _open(app, "data_quality")
    metrics = {m.label: m.value for m in at.metric}
    with store.reader(warehouse) as con:
        records, loaded = con.execute(
            "select (select count(*) from records), "
            "(select sum(rows_loaded) from loads where format not like 'reference:%')"
        ).fetchall()[0]
    assert int(metrics["CDR rows loaded"].replace(",", "")) == loaded == records
