"""Who is signed in, what their role may do, masking, and the audit log (docs/security.md)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import streamlit as st

from analytics import privacy as _privacy
from analytics.security import audit as _security_audit
from analytics.security import roles as _roles
from pages._settings import warehouse_path

log = logging.getLogger(__name__)

AUTH_ENV = "ANALYTICS_AUTH"


@dataclass(frozen=True)
class User:
    name: str
    role: str


def auth_disabled() -> bool:
    return os.environ.get(AUTH_ENV, "").strip().lower() in {"off", "0", "false", "no"}


def current_user() -> User:
    """The signed-in user (set by pages/_auth.gate); without one, a user with no rights
    (or the local admin when sign-in is off with ANALYTICS_AUTH=off)."""
    user = st.session_state.get("user")
    if user is not None:
        return user
    return User(name="local", role="admin") if auth_disabled() else User(name="anonymous", role="")


def can(permission: str) -> bool:
    """May the current user do ``permission`` (``page:<stem>``, ``see_numbers``...)?"""
    return _roles.can(current_user().role, permission)


def guard(page_file: str) -> None:
    """First line of a page: ``_shared.guard(__file__)``. Stops the run unless a user is
    signed in whose role may open this page. Needed because Streamlit still treats a
    ``pages/`` folder as legacy auto-discovered pages until some session has called
    ``st.navigation``: a deep link as the first request after a server start runs the page
    script directly, without app.py and its sign-in (docs/security.md)."""
    stem = Path(page_file).stem
    if st.session_state.get("user") is None and not auth_disabled():
        st.error("Sign in first: open the app's home page.", icon=":material/login:")
        st.stop()
    if not can(f"page:{stem}"):
        st.error(f"Your role ({current_user().role}) may not open this page ({stem}).", icon=":material/block:")
        st.stop()


def audit(action: str, detail: str | None = None, *, once: bool = True) -> None:
    """Append (user, time, action, detail) to the audit log; ``once``: not again for the
    same action and detail in this session (page reruns are not new events)."""
    seen = st.session_state.setdefault("_audited", set())
    if once and (action, detail) in seen:
        return
    user = current_user()
    try:
        _security_audit.record(warehouse_path(), user=user.name, role=user.role, action=action, detail=detail)
    except Exception:  # an audit write that fails must be seen, not swallowed
        log.exception("audit write failed: %s", action)
        raise
    seen.add((action, detail))


def mask(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``columns`` masked unless the user may see numbers (then the unmasking is audited)."""
    present = [c for c in columns if c in df.columns]
    if not can("see_numbers"):
        return _privacy.mask_frame(df, present)
    if present and df.height:
        audit("unmask", f"{st.session_state.get('_page', '?')}: {', '.join(present)}")
    return df
