"""Sign-in for the app: OIDC through ``st.login`` when ``[auth]`` is configured in
``.streamlit/secrets.toml``, else local accounts (analytics.security.accounts).

:func:`gate` is app.py's single sign-in call. It returns the signed-in user, or shows a
form and stops the run: the first start with no account asks for the admin account
(no default password ships); later starts ask for a user name and password. Wrong
passwords are counted and lock the name out (``[security]`` of analytics.toml).

A local sign-in survives a reload, a bookmark and a link from an e-mail: it is kept in a
signed, expiring, HttpOnly, SameSite=Lax cookie (analytics/security/sessions.py). The run
that signs in hands a one-time ticket to a tiny script on the page, which posts it to the
server's ``/_auth/session`` route (scripts/serve.py); that response sets the cookie. Later
page loads send the cookie with the websocket request (``st.context.cookies``). Sign-out
and disabling the account raise its session generation, which revokes the cookie; every
run of a cookie session re-checks it, so an open tab ends too.

``ANALYTICS_AUTH=off`` in the environment turns sign-in off (everyone is the local
admin, with a warning in the sidebar): for development and the page tests only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from urllib.parse import urlparse

import streamlit as st

from analytics.security import accounts, sessions
from analytics.security import audit as audit_log
from analytics.security.schema import security_settings
from pages import _access, _settings
from pages._access import auth_disabled
from pages._first_start import hide_file_listing

AFTER_SIGN_IN = "_after_sign_in"  # session key: url path requested before signing in
SESSION = "_auth_session"  # session key: (user name, generation) of a local sign-in, re-checked every run
TICKET = "_auth_ticket"  # session key: the hand-over ticket the next run posts for the cookie
CLEAR = "_auth_clear_cookie"  # session key: the next run asks the server to clear the cookie


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


def gate() -> _access.User:
    """The signed-in user; otherwise a sign-in (or first-start) form and ``st.stop()``."""
    if auth_disabled():
        st.sidebar.warning("Sign-in is off (ANALYTICS_AUTH=off): everyone is admin.", icon=":material/lock_open:")
        return _access.User(name="local", role="admin")
    path = _settings.warehouse_path()
    user = st.session_state.get("user")
    if user is not None and SESSION in st.session_state:
        user = _still_signed_in(path, user)
    if user is None:
        user = _from_cookie(path)
    if user is None:
        hide_file_listing()
        _cookie_script(CLEAR, "_auth/sign_out", "")
        # the page the link asked for: app.py opens it once signed in (sign-in stops before navigation)
        st.session_state.setdefault(AFTER_SIGN_IN, urlparse(st.context.url or "").path.strip("/"))
        providers = oidc_providers()
        user = _oidc(providers) if providers is not None else _local()
        st.session_state["user"] = user
    ticket = st.session_state.pop(TICKET, None)
    if ticket:
        _cookie_script(None, "_auth/session", ticket)
    st.sidebar.button("Sign out", key="auth_sign_out", on_click=_sign_out, icon=":material/logout:")
    return user


def _still_signed_in(path, user: _access.User) -> _access.User | None:
    """``user`` while the account is enabled and its sessions were not ended since."""
    name, generation = st.session_state[SESSION]
    role = accounts.session_account(path, name, generation)
    if role is None:
        _end_session_state()
        return None
    return user if role == user.role else _access.User(name=name, role=role)


def _from_cookie(path) -> _access.User | None:
    """The user of a good session cookie (a reload, a bookmark, a link), audited once."""
    token = sessions.read(path, st.context.cookies.get(sessions.COOKIE))
    if token is None:
        return None
    role = accounts.session_account(path, token.user_name, token.generation)
    if role is None:  # signed out, disabled, or the account is gone
        return None
    user = _access.User(name=token.user_name, role=role)
    st.session_state["user"] = user
    st.session_state[SESSION] = (token.user_name, token.generation)
    st.session_state.pop(AFTER_SIGN_IN, None)  # the URL itself is the page asked for
    audit_log.record(path, user=user.name, role=user.role, action="session_resumed", detail=_client() or None)
    return user


def _cookie_script(flag: str | None, route: str, body: str) -> None:
    """Post ``body`` to the server's cookie ``route`` from the page (once per ``flag``)."""
    if flag is not None and not st.session_state.pop(flag, False):
        return
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    url = f"/{base}/{route}" if base else f"/{route}"
    st.html(
        f"<script>fetch({json.dumps(url)}, {{method: 'POST', credentials: 'same-origin', "
        f"headers: {{'Content-Type': 'text/plain'}}, body: {json.dumps(body)}}});</script>",
        unsafe_allow_javascript=True,
        width="content",
    )


def _client() -> str:
    """The client's address for per-client rate limits ("" when Streamlit has none: localhost)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else ""  # AppTest's context holds a mock


def _end_session_state() -> None:
    for key in ("user", SESSION, TICKET, "_audited"):
        st.session_state.pop(key, None)
    st.session_state[CLEAR] = True


def _sign_out() -> None:
    user = st.session_state.get("user")
    local = SESSION in st.session_state
    _end_session_state()
    if user is not None:
        path = _settings.warehouse_path()
        if local:
            accounts.end_sessions(path, user.name)  # revokes the cookie, in every browser
        audit_log.record(path, user=user.name, role=user.role, action="sign_out")
    if oidc_providers() is not None and getattr(st.user, "is_logged_in", False):
        st.logout()


def _local() -> _access.User:
    path = _settings.warehouse_path()
    if not accounts.has_accounts(path):
        _first_start(path)
        st.stop()
    st.title("Sign in")
    limit = security_settings().max_password_length
    with st.form("sign_in"):
        name = st.text_input("User name", key="auth_name")
        password = st.text_input("Password", type="password", key="auth_password", max_chars=limit)
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted and not name.strip():
        st.error("Enter your user name.", icon=":material/person:")
    elif submitted:
        result = accounts.authenticate(path, name, password, client=_client())
        if result.ok:
            st.session_state.pop("auth_password", None)
            _signed_in(path, result)
            # a fresh run draws the page without the form this run already drew (as first start does)
            st.rerun()
        st.error(result.reason, icon=":material/block:")
    st.caption("No account? Ask an admin: `python -m analytics users add NAME --role ROLE`.")
    st.stop()
    raise AssertionError("unreachable")


def _signed_in(path, result: accounts.SignIn) -> None:
    """Keep a local sign-in: in this session, and (through the ticket) in the cookie."""
    st.session_state["user"] = _access.User(name=result.user_name, role=str(result.role))
    st.session_state[SESSION] = (result.user_name, result.generation)
    st.session_state[TICKET] = sessions.issue(path, result.user_name, result.generation, purpose="ticket")
    st.session_state.pop(CLEAR, None)


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
    result = accounts.authenticate(path, name, password, client=_client())
    if result.ok:
        _signed_in(path, result)
        st.rerun()


def _oidc(providers: list[str | None]) -> _access.User:
    if not getattr(st.user, "is_logged_in", False):
        st.title("Sign in")
        for provider in providers:
            label = f"Sign in with {provider}" if provider else "Sign in with your organisation's account"
            st.button(
                label, type="primary", on_click=st.login, args=(provider,) if provider else (), key=f"oidc_{provider}"
            )
        st.stop()
    identity = str(st.user.get("email") or st.user.get("sub") or "")
    result = accounts.identity_user(_settings.warehouse_path(), identity)
    if not result.ok:
        st.error(f"{identity}: {result.reason}", icon=":material/block:")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    # as _local does: a fresh run draws the app without this run's sign-in style (gate hid the menu)
    st.session_state["user"] = _access.User(name=identity, role=str(result.role))
    st.rerun()
    raise AssertionError("unreachable")


def refusal(title: str) -> Callable[[], None]:
    """The page shown at the URL of a page the user's role may not open."""

    def refused() -> None:
        user = _access.current_user()
        st.title(title)
        st.error(
            f"Your role ({user.role}) may not open the {title} page. Ask an admin if you need it; "
            "the pages you may open are in the menu.",
            icon=":material/block:",
        )

    return refused
