"""Sign-in for the app: OIDC through ``st.login`` when ``[auth]`` is configured in
``.streamlit/secrets.toml``, else local accounts (analytics.security.accounts).

:func:`gate` is app.py's single sign-in call. It returns the signed-in user, or shows a
form and stops the run: the first start with no account asks for the admin account
(no default password ships); later starts ask for a user name and password. Wrong
passwords are counted and lock the name out (``[security]`` of analytics.toml).

``ANALYTICS_AUTH=off`` in the environment turns sign-in off (everyone is the local
admin, with a warning in the sidebar): for development and the page tests only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from urllib.parse import urlparse

import streamlit as st

from analytics.security import accounts
from analytics.security import audit as audit_log
from pages import _shared

AUTH_ENV = "ANALYTICS_AUTH"
AFTER_SIGN_IN = "_after_sign_in"  # session key: url path requested before signing in


def auth_disabled() -> bool:
    return os.environ.get(AUTH_ENV, "").strip().lower() in {"off", "0", "false", "no"}


def oidc_providers() -> list[str | None] | None:
    """None without an ``[auth]`` section; else the providers to offer (None = the default)."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets.toml at all
        return None
    if not section:
        return None
    named = [k for k, v in section.items() if isinstance(v, Mapping)]
    return ([None] if "client_id" in section else []) + named


def gate() -> _shared.User:
    """The signed-in user; otherwise a sign-in (or first-start) form and ``st.stop()``."""
    if auth_disabled():
        st.sidebar.warning("Sign-in is off (ANALYTICS_AUTH=off): everyone is admin.", icon=":material/lock_open:")
        return _shared.User(name="local", role="admin")
    user = st.session_state.get("user")
    if user is None:
        _shared.hide_file_listing()
        # the page the link asked for: app.py opens it once signed in (sign-in stops before navigation)
        st.session_state.setdefault(AFTER_SIGN_IN, urlparse(st.context.url or "").path.strip("/"))
        providers = oidc_providers()
        user = _oidc(providers) if providers is not None else _local()
        st.session_state["user"] = user
    st.sidebar.button("Sign out", key="auth_sign_out", on_click=_sign_out, icon=":material/logout:")
    return user


def _sign_out() -> None:
    user = st.session_state.pop("user", None)
    st.session_state.pop("_audited", None)
    if user is not None:
        audit_log.record(_shared.warehouse_path(), user=user.name, role=user.role, action="sign_out")
    if oidc_providers() is not None and getattr(st.user, "is_logged_in", False):
        st.logout()


def _local() -> _shared.User:
    path = _shared.warehouse_path()
    if not accounts.has_accounts(path):
        _first_start(path)
        st.stop()
    st.title("Sign in")
    with st.form("sign_in"):
        name = st.text_input("User name", key="auth_name")
        password = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted and name:
        result = accounts.authenticate(path, name, password)
        if result.ok:
            st.session_state.pop("auth_password", None)
            # a fresh run draws the page without the form this run already drew (as first start does)
            st.session_state["user"] = _shared.User(name=result.user_name, role=str(result.role))
            st.rerun()
        st.error(result.reason, icon=":material/block:")
    st.caption("No account? Ask an admin: `python -m analytics users add NAME --role ROLE`.")
    st.stop()
    raise AssertionError("unreachable")


def _first_start(path) -> None:
    st.title("Create the admin account")
    st.info(
        "No account exists yet: this first start creates the admin account (no default password ships). "
        "The admin adds the other users on the Admin page or with `python -m analytics users add`.",
        icon=":material/shield_person:",
    )
    with st.form("first_admin"):
        name = st.text_input("Admin user name", key="auth_new_name")
        password = st.text_input("Password", type="password", key="auth_new_password")
        again = st.text_input("Repeat password", type="password", key="auth_new_again")
        submitted = st.form_submit_button("Create admin account", type="primary")
    if not submitted:
        return
    if password != again:
        st.error("The two passwords differ.")
        return
    try:
        accounts.create_first_admin(path, name, password)
    except accounts.AccountError as exc:
        st.error(str(exc))
        return
    result = accounts.authenticate(path, name, password)
    if result.ok:
        st.session_state["user"] = _shared.User(name=result.user_name, role=str(result.role))
        st.rerun()


def _oidc(providers: list[str | None]) -> _shared.User:
    if not getattr(st.user, "is_logged_in", False):
        st.title("Sign in")
        for provider in providers:
            label = f"Sign in with {provider}" if provider else "Sign in with your organisation's account"
            st.button(
                label, type="primary", on_click=st.login, args=(provider,) if provider else (), key=f"oidc_{provider}"
            )
        st.stop()
    identity = str(st.user.get("email") or st.user.get("sub") or "")
    result = accounts.identity_user(_shared.warehouse_path(), identity)
    if not result.ok:
        st.error(f"{identity}: {result.reason}", icon=":material/block:")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    # as _local does: a fresh run draws the app without this run's sign-in style (gate hid the menu)
    st.session_state["user"] = _shared.User(name=identity, role=str(result.role))
    st.rerun()
    raise AssertionError("unreachable")


def refusal(title: str) -> Callable[[], None]:
    """The page shown at the URL of a page the user's role may not open."""

    def refused() -> None:
        user = _shared.current_user()
        st.title(title)
        st.error(
            f"Your role ({user.role}) may not open the {title} page. Ask an admin if you need it; "
            "the pages you may open are in the menu.",
            icon=":material/block:",
        )

    return refused
