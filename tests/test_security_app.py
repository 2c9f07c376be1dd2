"""The sign-in gate and role-based navigation through streamlit's AppTest: the first
start's admin account, wrong passwords and lock-out, each role's menu, a forbidden URL,
the audit trail of a subscriber lookup, and exports refused or masked per role."""

from __future__ import annotations

from pathlib import Path

import pytest
import security_world
from streamlit.testing.v1 import AppTest

from analytics.security import accounts, audit, roles
from pages._shared import User

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PW = "correct horse battery"
pytestmark = pytest.mark.slow
PAGES = [p.stem for p in sorted((ROOT / "pages").glob("*.py")) if not p.name.startswith("_")]


@pytest.fixture(autouse=True)
def _env(monkeypatch) -> None:
    monkeypatch.delenv("ANALYTICS_AUTH", raising=False)
    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "0")
    monkeypatch.setenv("ANALYTICS_HMAC_KEY", "test-key")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("secapp")
    refs = {}
    from conftest import CELLS_CSV, PLANS_CSV, SUBSCRIBERS_CSV

    for name, text in (("cells", CELLS_CSV), ("plans", PLANS_CSV), ("subscribers", SUBSCRIBERS_CSV)):
        refs[name] = tmp / f"{name}.csv"
        refs[name].write_text(text)
    wh = security_world.build(tmp, refs, tmp / "wh" / "warehouse.duckdb")
    accounts.add_user(wh, "ann", role="billing", password=PW, by="t")
    return wh


def _app(warehouse: Path, monkeypatch, user: User | None = None) -> AppTest:
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(warehouse))
    at = AppTest.from_file(APP, default_timeout=120)
    if user is not None:
        at.session_state["user"] = user
    return at.run()


def _text(at: AppTest) -> str:
    return " ".join(
        str(e.value) for kind in ("title", "error", "info", "caption", "markdown") for e in getattr(at, kind)
    )


def _registered(at: AppTest) -> tuple[set[str], set[str]]:
    """(page files registered, url paths of refusal pages), from AppTest's page registry."""
    pages = at._registered_pages.values()
    return (
        {Path(str(i["script_path"])).stem for i in pages if i.get("script_path")},
        {i["url_pathname"] for i in pages if not i.get("script_path")},
    )


def test_first_start_asks_for_the_admin_account(tmp_path: Path, monkeypatch) -> None:
    wh = tmp_path / "new" / "warehouse.duckdb"
    at = _app(wh, monkeypatch)
    assert "Create the admin account" in _text(at)
    at.text_input(key="auth_new_name").input("root")
    at.text_input(key="auth_new_password").input(PW)
    at.text_input(key="auth_new_again").input(PW + "!")
    at.button[0].click().run()
    assert "differ" in _text(at) and not accounts.has_accounts(wh)
    at.text_input(key="auth_new_again").input(PW)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["user"].role == "admin"
    assert accounts.list_users(wh)["user_name"].to_list() == ["root"]
    assert audit.read_log(wh)["action"].to_list()[::-1] == ["user_added", "sign_in"]


def test_wrong_password_then_lockout(world: Path, tmp_path: Path, monkeypatch) -> None:
    accounts.add_user(world, "lock_me", role="support", password=PW, by="t")
    at = _app(world, monkeypatch)
    assert "Sign in" in _text(at) and "user" not in at.session_state
    at.text_input(key="auth_name").input("lock_me")
    for _ in range(5):
        at.text_input(key="auth_password").input("wrong password")
        at.button[0].click().run()
    assert "locked" in " ".join(e.value for e in at.error)
    at.text_input(key="auth_password").input(PW)  # the right one, during the lock-out
    at.button[0].click().run()
    assert "user" not in at.session_state and "locked" in " ".join(e.value for e in at.error)


def test_sign_in_opens_the_app(world: Path, monkeypatch) -> None:
    at = _app(world, monkeypatch)
    at.text_input(key="auth_name").input("ann")
    at.text_input(key="auth_password").input(PW + "x")
    at.button[0].click().run()
    assert "wrong user name or password" in " ".join(e.value for e in at.error)
    at.text_input(key="auth_password").input(PW)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["user"].name == "ann" and at.session_state["user"].role == "billing"
    assert "Sign in" not in [t.value for t in at.title]  # the form is not left above the page


@pytest.mark.parametrize("role", roles.ROLES)
def test_menu_lists_only_allowed_pages_and_refuses_the_others(world: Path, monkeypatch, role: str) -> None:
    at = _app(world, monkeypatch, User(name=f"u_{role}", role=role))
    assert not at.exception, [e.value for e in at.exception]
    listed, refusals = _registered(at)
    assert listed == {p for p in PAGES if roles.can(role, f"page:{p}")}
    forbidden = sorted(p for p in PAGES if not roles.can(role, f"page:{p}"))
    assert refusals == set(forbidden)
    for page in forbidden:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{page}.py")


def _open_url(at: AppTest, page: str) -> AppTest:
    """What a browser opening /<page> asks for: the page registered under that URL path."""
    at._page_hash = next(h for h, i in at._registered_pages.items() if i["url_pathname"] == page)
    return at.run()


@pytest.mark.parametrize("role", [r for r in roles.ROLES if r != "admin"])
def test_forbidden_url_is_refused(world: Path, monkeypatch, role: str) -> None:
    at = _open_url(_app(world, monkeypatch, User(name="x", role=role)), "admin")
    assert not at.exception
    assert f"Your role ({role}) may not open" in " ".join(e.value for e in at.error)
    assert "Users" not in _text(at)


def test_deep_link_without_sign_in_is_refused(world: Path, monkeypatch) -> None:
    at = _app(world, monkeypatch, User(name="root", role="admin"))
    del at.session_state["user"]
    at = _open_url(at, "admin")
    assert "Sign in first" in " ".join(e.value for e in at.error)


def _forbidden_role(page: str) -> str:
    return next(r for r in roles.ROLES if not roles.can(r, f"page:{page}"))


@pytest.mark.parametrize(
    "page", ["fraud", "billing", "segments", "data_quality", "traffic_trends", "live_monitor", "forecasts"]
)
def test_every_page_refuses_a_deep_link_for_a_forbidden_role(world: Path, monkeypatch, page: str) -> None:
    """Through app.py, a forbidden page's URL shows the refusal page."""
    role = _forbidden_role(page)
    at = _open_url(_app(world, monkeypatch, User(name="x", role=role)), page)
    assert f"Your role ({role}) may not open" in " ".join(e.value for e in at.error)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_script_guards_itself(world: Path, monkeypatch, page: str) -> None:
    """A legacy pages/ deep link runs the page script without app.py: its first line,
    _shared.guard(__file__), must refuse a forbidden role and a visitor not signed in."""
    monkeypatch.setenv("ANALYTICS_WAREHOUSE", str(world))
    script = str(ROOT / "pages" / f"{page}.py")
    assert (ROOT / "pages" / f"{page}.py").read_text().count("_shared.guard(__file__)") == 1
    at = AppTest.from_file(script, default_timeout=120)
    at.session_state["user"] = User(name="x", role=_forbidden_role(page))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "may not open this page" in " ".join(e.value for e in at.error)
    assert not at.get("plotly_chart") and not at.dataframe
    anonymous = AppTest.from_file(script, default_timeout=120).run()
    assert "Sign in first" in " ".join(e.value for e in anonymous.error)
    assert not anonymous.get("plotly_chart") and not anonymous.dataframe


def test_lookup_is_audited(world: Path, monkeypatch) -> None:
    at = _app(world, monkeypatch, User(name="ann", role="billing"))
    at.switch_page("pages/subscriber_lookup.py").run()
    at.text_input(key="lookup_query").input("900002").run()
    assert not at.exception, [e.value for e in at.exception]
    log = audit.read_log(world, user="ann")
    lookups = log.filter(log["action"] == "lookup")["detail"].to_list()
    assert lookups and lookups[0].startswith("subscriber=447700900002 via subscriber_view(")
    assert "unmask" in log["action"].to_list()
    at.run()  # a rerun of the same view is not a new lookup
    assert audit.read_log(world, user="ann", action="lookup").height == len(lookups)


def test_support_sees_numbers_but_cannot_export(world: Path, monkeypatch) -> None:
    at = _app(world, monkeypatch, User(name="sue", role="support"))
    at.switch_page("pages/subscriber_lookup.py").run()
    at.text_input(key="lookup_query").input("900001").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Downloads of subscriber-level tables are not open to the support role" in _text(at)


def test_audit_names_the_real_page_on_a_roles_home(world: Path, monkeypatch) -> None:
    """#19.9: support may not open the executive summary, so its home ("/") is the subscriber
    lookup; what it unmasks there is logged as subscriber_lookup, not executive_summary."""
    at = _app(world, monkeypatch, User(name="sam", role="support"))
    assert [t.value for t in at.title][:1] == ["Subscriber lookup"]  # the home page, no switch_page
    at.text_input(key="lookup_query").input("900003").run()
    assert not at.exception, [e.value for e in at.exception]
    details = audit.read_log(world, user="sam", action="unmask")["detail"].to_list()
    assert details and all(d.startswith("subscriber_lookup: ") for d in details), details


def test_an_empty_user_name_gets_a_message(world: Path, monkeypatch) -> None:
    """#19.10: submitting the form without a name said nothing."""
    at = _app(world, monkeypatch)
    at.text_input(key="auth_name").input("   ")
    at.text_input(key="auth_password").input(PW)
    at.button[0].click().run()
    assert "Enter your user name." in " ".join(e.value for e in at.error)
    assert "user" not in at.session_state


def test_the_password_field_is_capped(world: Path, monkeypatch) -> None:
    at = _app(world, monkeypatch)
    assert at.text_input(key="auth_password").max_chars == 256  # [security] max_password_length


def test_an_admin_unlocks_a_locked_out_account_on_the_admin_page(world: Path, monkeypatch) -> None:
    accounts.add_user(world, "locked_out", role="marketing", password=PW, by="t")
    for _ in range(5):
        accounts.authenticate(world, "locked_out", "wrong password", client="10.0.0.9")
    assert accounts.authenticate(world, "locked_out", PW, client="10.0.0.9").reason.startswith("account locked")
    at = _app(world, monkeypatch, User(name="root", role="admin"))
    at.switch_page("pages/admin.py").run()
    at.selectbox(key="adm_who").select("locked_out").run()
    at.button(key="adm_unlock").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert accounts.authenticate(world, "locked_out", PW, client="10.0.0.9").ok
    log = audit.read_log(world, user="root", action="user_unlocked")
    assert log.height == 1 and log["detail"][0].startswith("locked_out (")
