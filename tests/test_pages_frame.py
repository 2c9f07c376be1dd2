"""The app frame (app.py): every page is listed unconditionally, a missing page file is
an error, and the default page also answers at its own URL (/executive_summary)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_pages_data import build_small_warehouse

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 120


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory) -> Path:
    return build_small_warehouse(tmp_path_factory.mktemp("frame"))


@pytest.fixture
def env(small_warehouse, monkeypatch) -> Path:
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(small_warehouse))
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_AUTH", "off")
    return small_warehouse


def _listed_files() -> list[str]:
    """The page files named in app.py's PAGES table (read from the source, not executed)."""
    tree = ast.parse(APP.read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PAGES":
            return [t.elts[0].value for lst in node.value.values for t in lst.elts]
    raise AssertionError("app.py has no PAGES table")


def test_every_page_file_is_listed_once():
    files = sorted(p.name for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
    listed = _listed_files()
    assert sorted(listed) == files
    assert len(set(listed)) == len(listed)


def test_a_missing_page_file_is_an_error_not_a_silent_skip(env, tmp_path):
    copy = tmp_path / "app"
    shutil.copytree(ROOT / "pages", copy / "pages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(APP, copy / "app.py")
    (copy / "pages" / "fraud.py").unlink()
    at = AppTest.from_file(str(copy / "app.py"), default_timeout=TIMEOUT).run()
    assert at.exception, "a listed page whose file is missing must fail the run"
    assert at.exception[0].proto.type == "FileNotFoundError"  # details are redacted (showErrorDetails = "type")


def _registered(at: AppTest) -> dict[str, str]:
    """url path -> script file stem ('' for a callable page) of every registered page."""
    return {i["url_pathname"]: Path(str(i.get("script_path") or "")).stem for i in at._registered_pages.values()}


def test_executive_summary_answers_at_root_and_at_its_own_name(env):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Executive summary"]  # "/" is the default page
    pages = _registered(at)
    assert pages[""] == "executive_summary" and pages["executive_summary"] == "executive_summary"
    # what a browser opening /executive_summary asks for: the page registered under that path
    at._page_hash = next(h for h, i in at._registered_pages.items() if i["url_pathname"] == "executive_summary")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Executive summary"]
    assert at.selectbox(key="exec_month").options  # the page itself ran, not a refusal
    assert at.session_state["_page"] == "executive_summary"


def test_pages_export_only_through_shared():
    """Every download goes through pages/_exports.py (export permission, masking, audit)."""
    offenders = [
        p.name for p in (ROOT / "pages").glob("*.py") if p.name != "_exports.py" and "download_button" in p.read_text()
    ]
    assert offenders == []


def test_page_runs_build_no_download_files(env, monkeypatch):
    """Download buttons get callables (Streamlit's deferred data): a page run writes no
    CSV/Excel/HTML for the tables it shows, they are built when a button is clicked."""
    import polars as pl

    from analytics import dashboard

    written: list[str] = []
    for name in ("write_csv", "write_excel", "write_parquet"):
        original = getattr(pl.DataFrame, name)
        monkeypatch.setattr(
            pl.DataFrame, name, lambda self, *a, _n=name, _o=original, **k: (written.append(_n), _o(self, *a, **k))[1]
        )
    html = dashboard.printable_html
    monkeypatch.setattr(dashboard, "printable_html", lambda *a, **k: (written.append("html"), html(*a, **k))[1])
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    for page in ("traffic_trends", "demand_heatmaps", "data_quality"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("download_button")) >= 2
    assert written == []
