"""Roles and what each may open or do: the permission table, kept as data.

A *page* permission is ``page:<file stem>`` (``page:billing`` for ``pages/billing.py``);
the other permissions are named below. Pages that the table does not know are open to
``admin`` only, so a new page is safe by default. docs/security.md renders this table
(:func:`markdown_table`) for the README.
"""

from __future__ import annotations

from collections.abc import Iterable

from analytics import privacy

ROLES: tuple[str, ...] = ("planner", "marketing", "executive", "billing", "support", "fraud", "admin")

# page stem -> roles that may open it (admin may open every page).
PAGE_ROLES: dict[str, frozenset[str]] = {
    "executive_summary": frozenset({"planner", "marketing", "executive", "billing", "fraud"}),
    "traffic_trends": frozenset({"planner", "marketing", "executive", "fraud"}),
    "demand_heatmaps": frozenset({"planner", "marketing", "executive"}),
    "forecasts": frozenset({"planner", "executive"}),
    "segments": frozenset({"marketing", "executive"}),
    "billing": frozenset({"billing"}),
    "subscriber_lookup": frozenset({"billing", "support", "fraud"}),
    "fraud": frozenset({"fraud"}),
    "live_monitor": frozenset({"planner", "support", "fraud"}),
    "network_quality": frozenset({"planner"}),  # network planning and operations (admin too)
    "data_quality": frozenset({"planner", "billing"}),
    "admin": frozenset(),
}

# permission -> (roles, meaning). Exports are split by what a table holds: see export_kind().
PERMISSIONS: dict[str, tuple[frozenset[str], str]] = {
    "see_numbers": (
        frozenset({"billing", "support", "fraud"}),
        "numbers, IMSI and IMEI in clear in views and exports (others see them masked)",
    ),
    "export_aggregates": (
        frozenset({"planner", "marketing", "executive", "billing", "fraud"}),
        "download tables without subscriber identifiers (CSV/Excel)",
    ),
    "export_records": (
        frozenset({"planner", "marketing", "billing", "fraud"}),
        "download tables with one row per subscriber or record (masked or pseudonymised per role)",
    ),
    "pseudonymise_exports": (
        frozenset({"marketing"}),
        "subscriber exports carry the keyed hash (HMAC) instead of a masked number",
    ),
    "write_dispute_notes": (frozenset({"billing", "support"}), "add dispute notes in the subscriber lookup"),
    "manage_fraud": (frozenset({"fraud"}), "run fraud detection and change alert cases"),
    "upload_data": (frozenset({"planner"}), "load an extract from the Data quality page"),
    "run_forecasts": (
        frozenset({"planner"}),
        "compute the stored forecasts from the Forecasts page (writes the warehouse)",
    ),
    "manage_users": (frozenset(), "add, disable and enable accounts"),
    "view_audit": (frozenset(), "read and export the audit log"),
    "run_retention": (frozenset(), "delete record-level data past retention"),
}

# Columns whose presence makes a table subscriber-level (an export_records export).
IDENTIFIER_COLUMNS: frozenset[str] = frozenset(privacy.IDENTIFIER_COLUMNS)


class UnknownRoleError(ValueError):
    pass


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise UnknownRoleError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


def can(role: str | None, permission: str) -> bool:
    """May ``role`` do ``permission`` (``page:<stem>`` or a name of :data:`PERMISSIONS`)?"""
    if role not in ROLES:
        return False
    if role == "admin":
        return True
    if permission.startswith("page:"):
        return role in PAGE_ROLES.get(permission[5:], frozenset())
    entry = PERMISSIONS.get(permission)
    return entry is not None and role in entry[0]


def allowed_pages(role: str | None, pages: Iterable[str]) -> list[str]:
    """The subset of ``pages`` (file stems) that ``role`` may open, in the given order."""
    return [p for p in pages if can(role, f"page:{p}")]


def export_kind(columns: Iterable[str]) -> str:
    """``export_records`` when a table holds subscriber identifiers, else ``export_aggregates``."""
    return "export_records" if IDENTIFIER_COLUMNS.intersection(columns) else "export_aggregates"


def export_mode(role: str | None) -> str:
    """How identifiers leave in an export: ``clear``, ``pseudonym`` or ``mask``."""
    if can(role, "see_numbers"):
        return "clear"
    if can(role, "pseudonymise_exports"):
        return "pseudonym"
    return "mask"


def markdown_table() -> str:
    """The role table for docs/security.md and the README (yes/-)."""
    head = "| permission | " + " | ".join(ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    rows = [head, rule]
    for page in PAGE_ROLES:
        rows.append(f"| page `{page}` | " + " | ".join("yes" if can(r, f"page:{page}") else "-" for r in ROLES) + " |")
    for perm in PERMISSIONS:
        rows.append(f"| `{perm}` | " + " | ".join("yes" if can(r, perm) else "-" for r in ROLES) + " |")
    return "\n".join(rows)
