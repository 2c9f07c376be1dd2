"""Billing: stored rating, reconciliation, bill explanation, bill-shock alerts, dispute notes.

Tables owned: ``rated_records``, ``rated_months``, ``reconcile_months``, ``reconcile_mismatches``,
``reconcile_breakdown``, ``billing_notes`` (analytics/sql/billing_schema.sql).
"""

from __future__ import annotations

from analytics.billing.rated import ensure_billing_schema, rated_month, refresh_rated_records
from analytics.billing.reconcile import CLASSES, month_report, reconcile, refresh_reconciliation

__all__ = [
    "CLASSES",
    "ensure_billing_schema",
    "month_report",
    "rated_month",
    "reconcile",
    "refresh_rated_records",
    "refresh_reconciliation",
]
