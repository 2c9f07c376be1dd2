"""pages/_frame.py switches off Streamlit's private v1-multipage flag so that app.py (sign-in,
filters, menu) runs first on every request. These tests fail loudly when a Streamlit upgrade
moves or renames what the patch relies on; then re-check the patch against the new release
(and tests/test_browser_session.py's deep link after a server start)."""

from __future__ import annotations

import inspect

import streamlit.commands.navigation as navigation
import streamlit.runtime.scriptrunner.script_runner as script_runner
from streamlit.runtime.pages_manager import PagesManager

from pages import _frame


def test_the_flag_is_still_a_class_attribute_of_pages_manager():
    assert "uses_pages_directory" in vars(PagesManager), "Streamlit no longer has PagesManager.uses_pages_directory"


def test_st_navigation_still_sets_the_same_flag_off():
    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation), (
        "st.navigation no longer switches PagesManager.uses_pages_directory: the patch may be pointless or wrong"
    )


def test_the_script_runner_still_runs_a_page_alone_only_while_the_flag_is_set():
    assert "if PagesManager.uses_pages_directory:" in inspect.getsource(script_runner), (
        "the script runner no longer reads PagesManager.uses_pages_directory"
    )


def test_the_patch_turns_the_flag_off_outside_a_script_run(monkeypatch):
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)
    _frame.always_run_the_frame()  # no script run context: no rerun, only the switch
    assert PagesManager.uses_pages_directory is False
