"""Each role against each page and each permission, allowed and refused (issue 10 table)."""

from __future__ import annotations

import pytest

from analytics.security import roles

# The table the issue's README documents, written out independently of roles.py.
Y = True
EXPECTED_PAGES = {
    #                     planner marketing executive billing support fraud admin
    "executive_summary": (Y, Y, Y, Y, False, Y, Y),
    "traffic_trends": (Y, Y, Y, False, False, Y, Y),
    "demand_heatmaps": (Y, Y, Y, False, False, False, Y),
    "forecasts": (Y, False, Y, False, False, False, Y),
    "segments": (False, Y, Y, False, False, False, Y),
    "billing": (False, False, False, Y, False, False, Y),
    "subscriber_lookup": (False, False, False, Y, Y, Y, Y),
    "fraud": (False, False, False, False, False, Y, Y),
    "live_monitor": (Y, False, False, False, Y, Y, Y),
    "network_quality": (Y, False, False, False, False, False, Y),
    "data_quality": (Y, False, False, Y, False, False, Y),
    "admin": (False, False, False, False, False, False, Y),
}
EXPECTED_PERMS = {
    "see_numbers": (False, False, False, Y, Y, Y, Y),
    "export_aggregates": (Y, Y, Y, Y, False, Y, Y),
    "export_records": (Y, Y, False, Y, False, Y, Y),
    "pseudonymise_exports": (False, Y, False, False, False, False, Y),
    "write_dispute_notes": (False, False, False, Y, Y, False, Y),
    "manage_fraud": (False, False, False, False, False, Y, Y),
    "upload_data": (Y, False, False, False, False, False, Y),
    "run_forecasts": (Y, False, False, False, False, False, Y),
    "manage_users": (False, False, False, False, False, False, Y),
    "view_audit": (False, False, False, False, False, False, Y),
    "run_retention": (False, False, False, False, False, False, Y),
}
ROLE_ORDER = ("planner", "marketing", "executive", "billing", "support", "fraud", "admin")


def test_roles_are_the_seven_of_the_issue() -> None:
    assert roles.ROLES == ROLE_ORDER
    assert set(roles.PAGE_ROLES) == set(EXPECTED_PAGES)
    assert set(roles.PERMISSIONS) == set(EXPECTED_PERMS)


@pytest.mark.parametrize("page", sorted(EXPECTED_PAGES))
@pytest.mark.parametrize("role", ROLE_ORDER)
def test_page_per_role(role: str, page: str) -> None:
    assert roles.can(role, f"page:{page}") is EXPECTED_PAGES[page][ROLE_ORDER.index(role)]


@pytest.mark.parametrize("perm", sorted(EXPECTED_PERMS))
@pytest.mark.parametrize("role", ROLE_ORDER)
def test_permission_per_role(role: str, perm: str) -> None:
    assert roles.can(role, perm) is EXPECTED_PERMS[perm][ROLE_ORDER.index(role)]


@pytest.mark.parametrize("role", [None, "", "root", "Admin"])
def test_unknown_role_may_do_nothing(role) -> None:
    assert not roles.can(role, "page:executive_summary")
    assert not roles.can(role, "see_numbers")
    with pytest.raises(roles.UnknownRoleError):
        roles.validate_role(role or "")


def test_unknown_page_and_permission_are_admin_only() -> None:
    assert roles.can("admin", "page:brand_new_page")
    assert not any(roles.can(r, "page:brand_new_page") for r in ROLE_ORDER[:-1])
    assert not roles.can("fraud", "no_such_permission")


def test_allowed_pages_keeps_order_and_filters() -> None:
    pages = ["fraud", "executive_summary", "subscriber_lookup", "admin"]
    assert roles.allowed_pages("fraud", pages) == ["fraud", "executive_summary", "subscriber_lookup"]
    assert roles.allowed_pages("support", pages) == ["subscriber_lookup"]
    assert roles.allowed_pages("admin", pages) == pages


@pytest.mark.parametrize(
    ("columns", "kind"),
    [
        (["region", "records"], "export_aggregates"),
        (["msisdn", "segment"], "export_records"),
        (["load_id", "raw"], "export_records"),
        ([], "export_aggregates"),
        (["imei"], "export_records"),
    ],
)
def test_export_kind(columns, kind) -> None:
    assert roles.export_kind(columns) == kind


@pytest.mark.parametrize(
    ("role", "mode"),
    [
        ("planner", "mask"),
        ("marketing", "pseudonym"),
        ("executive", "mask"),
        ("billing", "clear"),
        ("support", "clear"),
        ("fraud", "clear"),
        ("admin", "clear"),
        (None, "mask"),
    ],
)
def test_export_mode(role, mode) -> None:
    assert roles.export_mode(role) == mode


def test_markdown_table_matches_permissions() -> None:
    table = roles.markdown_table().splitlines()
    assert table[0] == "| permission | " + " | ".join(ROLE_ORDER) + " |"
    row = next(line for line in table if line.startswith("| `see_numbers`"))
    assert row == "| `see_numbers` | - | - | - | yes | yes | yes | yes |"
    assert len(table) == 2 + len(EXPECTED_PAGES) + len(roles.PERMISSIONS)


def test_forecast_runs_only_for_roles_that_open_the_forecasts_page() -> None:
    for role in ROLE_ORDER:
        if roles.can(role, "run_forecasts"):
            assert roles.can(role, "page:forecasts"), role


def test_readme_role_table_matches_the_security_doc():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent

    def rows(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if ln.startswith("| ") and ("| yes |" in ln or "| - |" in ln)]

    assert rows((root / "README.md").read_text()) == rows((root / "docs" / "security.md").read_text())
