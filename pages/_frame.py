"""The one patch of a Streamlit private: app.py runs first on every request.

tests/test_frame_patch.py fails loudly when a Streamlit upgrade moves what it relies on.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx


def always_run_the_frame() -> None:
    """Make app.py (sign-in, filters, navigation) run first on every request.

    Streamlit treats an app with a ``pages/`` folder as a v1 multipage app until some
    run has called ``st.navigation``: on a fresh server, a deep link (``/billing``) would
    run that page script alone, without sign-in or the sidebar, and keep doing so. Every
    page imports this module, so the first such run switches the flag off and reruns,
    this time through app.py. (``PagesManager.uses_pages_directory`` is Streamlit's own
    switch; the same one ``st.navigation`` sets.)
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if get_script_run_ctx() is not None:
            st.rerun()
