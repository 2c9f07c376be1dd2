"""Bill explanation for support: one subscriber's month, itemised and explained.

* :func:`find_subscribers`: numbers containing the digits typed (one row per msisdn).
* :func:`itemised_bill`: one row per record of the subscriber's month, in record order, with
  the rule applied, the allowance used and left after the record, expected vs billed and
  the mismatch class; billed duplicates appear as their own rows (source = duplicate).
* :func:`bill_summary`: the month's totals (usage expected / billed, monthly fee, allowances).
* :func:`usage_by_day`: one row per local day per service (minutes, messages, MB, money).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import duckdb
import polars as pl

from analytics import store
from analytics.billing.rated import rate_subscriber_month
from analytics.billing.reconcile import duplicates_month, reconcile_frame
from analytics.config import settings
from analytics.rating import MONEY, RULES

BILL_COLUMNS = (
    "start_at",
    "local_at",
    "record_id",
    "source",
    "service",
    "direction",
    "other_party",
    "duration_s",
    "mb",
    "is_roaming",
    "destination_country",
    "region",
    "rule",
    "rule_text",
    "billable_units",
    "allowance_kind",
    "units_from_allowance",
    "allowance_used",
    "allowance_left_after",
    "expected",
    "billed",
    "diff",
    "is_mismatch",
    "mismatch_class",
)


def normalise_number(text: str) -> str:
    """Digits only (``+44 7700-900 001`` -> ``447700900001``)."""
    return re.sub(r"\D", "", text or "")


def find_subscribers(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    """Subscribers whose number contains the digits of ``query`` (at most 50): msisdn, plan_id."""
    digits = normalise_number(query)
    if len(digits) < 3:
        return pl.DataFrame(schema={"msisdn": pl.String, "plan_id": pl.String})
    return store.fetch(con, "@billing_find_subscribers", {"digits": digits})


def itemised_bill(
    con: duckdb.DuckDBPyConnection, msisdn: str, month: dt.date, *, timezone: str | None = None
) -> pl.DataFrame:
    """The subscriber's month, one row per record (and per billed duplicate), see module doc."""
    tz = timezone or settings().timezone
    rated = rate_subscriber_month(con, msisdn, month, timezone=tz)
    plans = store.fetch(con, "@plans").lazy()
    dups = duplicates_month(con, month, timezone=tz).filter(pl.col("msisdn") == msisdn)
    items = reconcile_frame(rated.lazy(), plans, dups).select(
        "record_id", "source", "billed", "expected", "diff", "is_mismatch", "mismatch_class"
    )
    detail = rated.lazy().select(
        "record_id",
        "start_at",
        "service",
        "direction",
        "other_party",
        "duration_s",
        ((pl.col("bytes_up") + pl.col("bytes_down")) / 1e6).alias("mb"),
        "is_roaming",
        "destination_country",
        "region",
        "rule",
        "billable_units",
        "allowance_kind",
        "units_from_allowance",
        "allowance_used",
        "allowance_left_after",
        pl.col("expected_charge"),
        pl.col("charge"),
    )
    records = detail.join(items.filter(pl.col("source") == "record"), on="record_id", how="left").with_columns(
        pl.lit("record").alias("source"),
        pl.coalesce("expected", "expected_charge").alias("expected"),
        pl.coalesce("billed", "charge").alias("billed"),
        pl.col("is_mismatch").fill_null(False),
    )
    dup_rows = (
        items.filter(pl.col("source") == "duplicate")
        .join(
            detail.select("record_id", "start_at", "service", "direction", "other_party", "region"),
            on="record_id",
            how="left",
        )
        .with_columns(pl.lit("duplicate").alias("rule"))
    )
    out = pl.concat([records.drop("expected_charge", "charge"), dup_rows], how="diagonal_relaxed")
    local = pl.col("start_at").dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.replace_time_zone(None)
    rule_text = pl.col("rule").replace_strict(
        {**RULES, "duplicate": "the same record billed again"}, default=None, return_dtype=pl.String
    )
    return (
        out.with_columns(local.alias("local_at"), rule_text.alias("rule_text"))
        .select(BILL_COLUMNS)
        .sort("start_at", "record_id", "source", nulls_last=True)
        .collect()
    )


def _money(v: object) -> Decimal:
    return Decimal("0.0000") if v is None else Decimal(v).quantize(Decimal("0.0001"))


def bill_summary(con: duckdb.DuckDBPyConnection, bill: pl.DataFrame, msisdn: str) -> dict:
    """Totals of an itemised bill: plan, monthly fee, usage expected/billed, allowances used."""
    plan_ids = bill.filter(pl.col("source") == "record")
    plan_row = store.fetch(con, "@billing_subscriber_plan", {"msisdn": msisdn})
    plan = plan_row.row(0, named=True) if plan_row.height else {}
    used = {
        kind: int(plan_ids.filter(pl.col("allowance_kind") == kind)["allowance_used"].max() or 0)
        for kind in ("voice", "sms", "data")
    }
    incl = {"voice": plan.get("incl_voice_min"), "sms": plan.get("incl_sms"), "data": plan.get("incl_data_mb")}
    return {
        "msisdn": msisdn,
        "plan_id": plan.get("plan_id"),
        "plan_name": plan.get("name"),
        "monthly_fee": _money(plan.get("monthly_fee")),
        "records": int(plan_ids.height),
        "expected_usage": _money(bill["expected"].sum()),
        "billed_usage": _money(bill["billed"].sum()),
        "mismatches": int(bill["is_mismatch"].sum()),
        "allowance_used": used,
        "allowance_included": incl,
    }


def usage_by_day(bill: pl.DataFrame) -> pl.DataFrame:
    """One row per local day per service: records, minutes, messages, MB, expected and billed."""
    recs = bill.filter(pl.col("source") == "record")
    return (
        recs.group_by(pl.col("local_at").dt.date().alias("day_date"), "service")
        .agg(
            pl.len().alias("records"),
            (pl.col("duration_s").sum() / 60).alias("minutes"),
            pl.col("service").is_in(["sms", "mms"]).sum().alias("messages"),
            pl.col("mb").sum().alias("mb"),
            pl.col("expected").sum().cast(MONEY).alias("expected"),
            pl.col("billed").sum().cast(MONEY).alias("billed"),
        )
        .sort("day_date", "service")
    )


def subscriber_view(
    con: duckdb.DuckDBPyConnection, msisdn: str, month: dt.date, *, timezone: str | None = None
) -> dict:
    """Everything the Subscriber lookup page shows: ``bill``, ``summary``, ``by_day``, ``notes``."""
    from analytics.billing.notes import list_notes

    bill = itemised_bill(con, msisdn, month, timezone=timezone)
    return {
        "bill": bill,
        "summary": bill_summary(con, bill, msisdn),
        "by_day": usage_by_day(bill),
        "notes": list_notes(con, msisdn),
    }
