"""Reconciliation: billed charge vs the rating engine's expected charge, per record.

Checked items (grain: one row per checked record, plus one per duplicate row that carried
a charge): ``record_id, source (record|duplicate), month_date, start_at, msisdn, region,
plan_id, service, rule, billed, expected, diff (= billed - expected), is_mismatch,
mismatch_class``. Records with a null charge are rated but not checked; records with no
known plan are counted as ``unrated``.

A mismatch is ``|billed - expected| > 0.005``. Its class is the first that applies:

1. ``duplicate_charge``: a row of the ``duplicates`` table (a record_id seen again) that
   carried a charge > 0.005; its expected charge is 0 (the record is billed once).
2. ``charged_but_free``: the rule is free by nature (incoming at home, unanswered) and
   something was billed.
3. ``allowance_not_applied``: the record took units from an allowance, and the billed
   amount is what all its units would cost at its own rate (allowance ignored).
4. ``wrong_rate_class``: the billed amount is what the record's (paid or all) units cost at
   another of the plan's rates (e.g. a roaming call billed at the domestic rate).
5. ``over_charged`` / ``under_charged``: any other difference, by its sign.

Money is compared in integer ten-thousandths, so the 0.005 threshold is exact.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any, TypedDict

import duckdb
import polars as pl

from analytics import store, tariff
from analytics.billing import stored
from analytics.billing.rated import rated_month, refreshed_month
from analytics.calendar import month_bounds, record_months
from analytics.config import settings
from analytics.partitioned import Runner
from analytics.rating import MONEY, RATE_COLUMNS

log = logging.getLogger(__name__)

CLASSES = (
    "duplicate_charge",
    "charged_but_free",
    "allowance_not_applied",
    "wrong_rate_class",
    "over_charged",
    "under_charged",
)
FREE_RULES = tariff.free_rules()  # rules that never charge (analytics/tariff.py)
OWN_RATE = tariff.allowance_rates()  # allowance kind -> rate of its units beyond the allowance
TOLERANCE_E4 = 50  # 0.005 in ten-thousandths
ITEM_COLUMNS = (
    "record_id",
    "source",
    "month_date",
    "start_at",
    "msisdn",
    "region",
    "plan_id",
    "service",
    "rule",
    "billable_units",
    "units_from_allowance",
    "billed",
    "expected",
    "diff",
    "is_mismatch",
    "mismatch_class",
)


def _e4(col: str) -> pl.Expr:
    """A money column as integer ten-thousandths (a Decimal(18, 4)'s physical integer)."""
    return pl.col(col).cast(MONEY).to_physical().cast(pl.Int64)


def _cents_e4(units: pl.Expr, rate_e4: pl.Expr) -> pl.Expr:
    """Units x rate rounded half-up to cents, in ten-thousandths."""
    return (units * rate_e4 + 50) // 100 * 100


def _near(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    return (a - b).abs() <= TOLERANCE_E4


def _classify(mism: pl.LazyFrame, plans: pl.LazyFrame) -> pl.LazyFrame:
    """Mismatch class of mismatched items (small frame: only the mismatches)."""
    rates = plans.select(
        pl.col("plan_id").cast(pl.String).alias("_pid"), *[_e4(c).alias(f"_r_{c}") for c in RATE_COLUMNS]
    ).unique(subset="_pid", keep="first")
    j = mism.join(rates, left_on="plan_id", right_on="_pid", how="left", maintain_order="left")
    billed, expected = pl.col("_billed_e4"), pl.col("_expected_e4")
    paid = pl.col("billable_units") - pl.col("units_from_allowance")
    own_rate = pl.lit(None, dtype=pl.Int64)
    for kind, rate in OWN_RATE.items():
        own_rate = pl.when(pl.col("allowance_kind") == kind).then(pl.col(f"_r_{rate}")).otherwise(own_rate)
    full_price = _cents_e4(pl.col("billable_units"), own_rate)
    other_rate = pl.any_horizontal(
        *[
            _near(billed, _cents_e4(units, pl.col(f"_r_{c}"))) & ~_near(expected, _cents_e4(units, pl.col(f"_r_{c}")))
            for c in RATE_COLUMNS
            for units in (pl.col("billable_units"), paid)
        ]
    ).fill_null(False)
    cls = (
        pl.when(pl.col("source") == "duplicate")
        .then(pl.lit("duplicate_charge"))
        .when(pl.col("rule").is_in(FREE_RULES) & (billed > 0))
        .then(pl.lit("charged_but_free"))
        .when((pl.col("units_from_allowance") > 0) & (billed > expected) & _near(billed, full_price).fill_null(False))
        .then(pl.lit("allowance_not_applied"))
        .when((billed > 0) & other_rate)
        .then(pl.lit("wrong_rate_class"))
        .when(billed > expected)
        .then(pl.lit("over_charged"))
        .otherwise(pl.lit("under_charged"))
    )
    return j.with_columns(cls.alias("mismatch_class")).drop(
        [c for c in j.collect_schema().names() if c.startswith("_r_")]
    )


def reconcile_frame(rated: pl.LazyFrame, plans: pl.LazyFrame, duplicates: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Checked items (see module docstring) from rated records and billed duplicates.

    ``rated``: rated records with ``charge``; ``duplicates``: rows of the duplicates table
    (``record_id, charge`` and the original record's month fields) to check as billed twice.
    """
    records = rated.filter(pl.col("charge").is_not_null() & pl.col("expected_charge").is_not_null()).select(
        "record_id",
        pl.lit("record").alias("source"),
        "month_date",
        "start_at",
        "msisdn",
        "region",
        "plan_id",
        "service",
        "rule",
        "allowance_kind",
        "billable_units",
        "units_from_allowance",
        _e4("charge").alias("_billed_e4"),
        _e4("expected_charge").alias("_expected_e4"),
        pl.col("charge").cast(MONEY).alias("billed"),
        pl.col("expected_charge").cast(MONEY).alias("expected"),
    )
    parts = [records]
    if duplicates is not None:
        dups = duplicates.filter(pl.col("charge").cast(MONEY) * 10_000 > TOLERANCE_E4).select(
            "record_id",
            pl.lit("duplicate").alias("source"),
            "month_date",
            "start_at",
            "msisdn",
            pl.col("region").fill_null("UNKNOWN"),
            pl.col("plan_id").cast(pl.String),
            "service",
            pl.lit("duplicate").alias("rule"),
            pl.lit(None, dtype=pl.String).alias("allowance_kind"),
            pl.lit(0, dtype=pl.Int64).alias("billable_units"),
            pl.lit(0, dtype=pl.Int64).alias("units_from_allowance"),
            _e4("charge").alias("_billed_e4"),
            pl.lit(0, dtype=pl.Int64).alias("_expected_e4"),
            pl.col("charge").cast(MONEY).alias("billed"),
            pl.lit(0, dtype=MONEY).alias("expected"),
        )
        parts.append(dups.cast(records.collect_schema(), strict=True))
    items = pl.concat(parts, how="vertical")
    items = items.with_columns(
        ((pl.col("_billed_e4") - pl.col("_expected_e4")).abs() > TOLERANCE_E4).alias("is_mismatch")
    )
    ok = items.filter(~pl.col("is_mismatch")).with_columns(pl.lit(None, dtype=pl.String).alias("mismatch_class"))
    bad = _classify(items.filter(pl.col("is_mismatch")), plans)
    return (
        pl.concat([ok, bad], how="vertical")
        .with_columns((pl.col("billed") - pl.col("expected")).cast(MONEY).alias("diff"))
        .select(ITEM_COLUMNS)
    )


def duplicates_month(con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str | None = None) -> pl.LazyFrame:
    """Billed duplicate rows whose record falls in ``month`` (with that record's fields)."""
    tz = timezone or settings().timezone
    start, end = month_bounds(month, tz)
    dups = store.fetch(con, "@billing_duplicates", {"start_at": start, "end_at": end})
    subs = store.fetch(con, "@subscriber_plans").rename({"plan_id": "sub_plan"})
    own = pl.col("record_plan_id").str.strip_chars()
    return (
        dups.lazy()
        .join(subs.lazy(), on="msisdn", how="left")
        .with_columns(
            pl.lit(month).alias("month_date"),
            pl.when(own.is_not_null() & (own != "")).then(own).otherwise(pl.col("sub_plan")).alias("plan_id"),
        )
    )


def month_items(
    con: duckdb.DuckDBPyConnection, month: dt.date, *, timezone: str | None = None, rated: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The checked items of one local month (see module docstring), in no particular order."""
    rated = rated if rated is not None else rated_month(con, month, timezone=timezone)
    plans = store.fetch(con, "@plans").lazy()
    items = reconcile_frame(rated.lazy(), plans, duplicates_month(con, month, timezone=timezone))
    return items.collect()


def _money(value: object) -> Decimal:
    return Decimal("0") if value is None else Decimal(value).quantize(Decimal("0.0001"))


def summarize(items: pl.DataFrame) -> dict:
    """Totals of checked items: the contract's keys plus by_class, leakage and overbilling.

    One aggregation pass over the items (no filtered copies of a month's rows)."""
    record = pl.col("source") == "record"
    mism, diff = pl.col("is_mismatch"), pl.col("diff")
    cls = pl.col("mismatch_class")
    exprs = [
        record.sum().alias("records_checked"),
        mism.sum().alias("mismatches"),
        pl.col("billed").filter(record).sum().alias("billed_total"),
        pl.col("expected").filter(record).sum().alias("expected_total"),
        (-diff.filter(mism & (diff < 0))).sum().alias("leakage"),
        diff.filter(mism & (diff > 0)).sum().alias("overbilling"),
        pl.col("billed").filter(pl.col("source") == "duplicate").sum().alias("duplicate_billed_total"),
    ]
    for i, c in enumerate(CLASSES):
        exprs += [(mism & (cls == c)).sum().alias(f"_n{i}"), diff.filter(mism & (cls == c)).sum().alias(f"_a{i}")]
    row = items.lazy().select(exprs).collect().row(0, named=True)
    ids = items.lazy().filter(mism).select("record_id").head(1000).collect()["record_id"].to_list()
    return {
        "records_checked": int(row["records_checked"] or 0),
        "mismatches": int(row["mismatches"] or 0),
        "billed_total": _money(row["billed_total"]),
        "expected_total": _money(row["expected_total"]),
        "mismatch_record_ids": ids,
        "by_class": {
            c: {"count": int(row[f"_n{i}"] or 0), "amount": _money(row[f"_a{i}"])} for i, c in enumerate(CLASSES)
        },
        "leakage": _money(row["leakage"]),
        "overbilling": _money(row["overbilling"]),
        "duplicate_billed_total": _money(row["duplicate_billed_total"]),
    }


def breakdown(items: pl.DataFrame, by: str | list[str]) -> pl.DataFrame:
    """Totals per ``by`` (month_date, region, plan_id, service, mismatch_class...): one row per group."""
    keys = [by] if isinstance(by, str) else list(by)
    return (
        items.group_by(keys)
        .agg(
            (pl.col("source") == "record").sum().alias("records_checked"),
            pl.col("is_mismatch").sum().alias("mismatches"),
            pl.col("billed").filter(pl.col("source") == "record").sum().alias("billed"),
            pl.col("expected").filter(pl.col("source") == "record").sum().alias("expected"),
            (-pl.col("diff").filter(pl.col("is_mismatch") & (pl.col("diff") < 0))).sum().alias("leakage"),
            pl.col("diff").filter(pl.col("is_mismatch") & (pl.col("diff") > 0)).sum().alias("overbilling"),
        )
        .sort(keys, nulls_last=True)
    )


class BillingReport(TypedDict):
    """:func:`month_report`: what the Billing page reads (and ``reconcile`` stores)."""

    summary: dict[str, Any]  # summarize()'s totals, plus month, not_reconciled, unrated, mismatch_record_ids
    by_region: pl.DataFrame
    by_plan: pl.DataFrame
    by_service: pl.DataFrame
    by_class: pl.DataFrame
    mismatches: pl.DataFrame


def month_report(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    timezone: str | None = None,
    refresh: bool = False,
    runner: Runner | None = None,
) -> BillingReport:
    """Everything the Billing page shows for a month, small enough to cache: the stored
    reconciliation when current (analytics.billing.stored), else computed now. ``refresh``
    (writer connections only) stores the month's rating and reconciliation when stale.

    Keys: ``summary`` (see :func:`summarize`, plus not_reconciled / unrated counts),
    ``by_region``, ``by_plan``, ``by_service``, ``by_class`` (frames from :func:`breakdown`)
    and ``mismatches`` (the mismatched items). ``runner`` (analytics.partitioned): a month
    that must be rated is rated share by share of the subscribers on a cluster.
    """
    tz = timezone or settings().timezone
    state = stored.month_state(con, month, timezone=tz)  # before computing: a later load makes a rebuild stale
    parts = stored.stored_parts(con, month, timezone=tz, state=state)
    if parts is not None:
        return _from_stored(month, parts)
    if refresh:
        return _rebuild(con, month, tz, state, runner=runner)
    return _report(con, month, rated_month(con, month, timezone=tz, runner=runner), timezone=tz)


def _rebuild(
    con: duckdb.DuckDBPyConnection, month: dt.date, tz: str, state: dict, *, runner: Runner | None = None
) -> BillingReport:
    """Rate (when stale) and reconcile ``month`` and store the report, stamped with ``state``."""
    with refreshed_month(con, month, timezone=tz, runner=runner) as rated:
        report = _report(con, month, rated, timezone=tz)
    stored.write_report(con, month, report, state)
    return report


def refresh_reconciliation(
    con: duckdb.DuckDBPyConnection, months: list[dt.date] | None = None, *, timezone: str | None = None
) -> dict[str, int]:
    """Rate (when stale) and reconcile every stale month of ``months`` (default: every month
    with records) and store both (inside ``store.writer``). Returns {month: mismatches} of
    the months rebuilt; a month whose stored reconciliation is current costs one check."""
    tz = timezone or settings().timezone
    targets = months if months is not None else record_months(con, timezone=tz)
    done: dict[str, int] = {}
    for month in sorted({m.replace(day=1) for m in targets}):
        state = stored.month_state(con, month, timezone=tz)
        if stored.is_current(con, month, timezone=tz, state=state):
            continue
        done[month.isoformat()[:7]] = _rebuild(con, month, tz, state)["summary"]["mismatches"]
    return done


def _report(
    con: duckdb.DuckDBPyConnection, month: dt.date, rated: pl.DataFrame, *, timezone: str | None
) -> BillingReport:
    items = month_items(con, month, timezone=timezone, rated=rated)
    summary = summarize(items)
    summary["month"] = month.isoformat()[:7]
    summary["not_reconciled"] = int(rated["charge"].is_null().sum())
    summary["unrated"] = int(rated["expected_charge"].is_null().sum())
    mism = items.filter(pl.col("is_mismatch")).sort("start_at", "record_id", "source")
    summary["mismatch_record_ids"] = mism["record_id"].head(1000).to_list()
    return {
        "summary": summary,
        "by_region": breakdown(items, "region"),
        "by_plan": breakdown(items, "plan_id"),
        "by_service": breakdown(items, "service"),
        "by_class": breakdown(mism, "mismatch_class"),
        "mismatches": mism,
    }


def _from_stored(month: dt.date, parts: dict) -> BillingReport:
    """:func:`_report`'s dict from the stored parts: the mismatch totals and the class
    breakdown are sums over the stored mismatches, the rest was stored per month."""
    mism = parts["mismatches"].select(ITEM_COLUMNS).cast(_item_schema())
    summary = summarize(mism)
    totals = parts["totals"]
    summary.update(
        records_checked=int(totals["records_checked"]),
        billed_total=_money(totals["billed_total"]),
        expected_total=_money(totals["expected_total"]),
        month=month.isoformat()[:7],
        not_reconciled=int(totals["not_reconciled"]),
        unrated=int(totals["unrated"]),
        mismatch_record_ids=mism["record_id"].head(1000).to_list(),
    )
    empty = pl.DataFrame(schema=_item_schema())
    frames = {
        f"by_{dim.removesuffix('_id')}": parts["breakdown"][dim].cast(breakdown(empty, dim).schema)
        for dim in stored.DIMENSIONS
    }
    return {"summary": summary, **frames, "by_class": breakdown(mism, "mismatch_class"), "mismatches": mism}


def _merge(parts: list[dict]) -> dict:
    out = summarize(pl.DataFrame(schema=_item_schema()))
    out.update(not_reconciled=0, unrated=0)
    for p in parts:
        for k in (
            "records_checked",
            "mismatches",
            "billed_total",
            "expected_total",
            "leakage",
            "overbilling",
            "duplicate_billed_total",
            "not_reconciled",
            "unrated",
        ):
            out[k] += p[k]
        for c in CLASSES:
            out["by_class"][c]["count"] += p["by_class"][c]["count"]
            out["by_class"][c]["amount"] += p["by_class"][c]["amount"]
        out["mismatch_record_ids"] = (out["mismatch_record_ids"] + p["mismatch_record_ids"])[:1000]
    return out


def reconcile(
    con: duckdb.DuckDBPyConnection,
    month: dt.date | None = None,
    *,
    timezone: str | None = None,
    refresh: bool = False,
    runner: Runner | None = None,
) -> tuple[dict, pl.DataFrame]:
    """Reconcile ``month`` (default: every month with records). Returns (summary, mismatches).

    Months are processed one at a time; only their totals and mismatches are kept.
    ``refresh`` (writer connections only) stores each stale month's rating on the way.
    """
    months = [month] if month is not None else record_months(con, timezone=timezone)
    reports = [month_report(con, m, timezone=timezone, refresh=refresh, runner=runner) for m in months]
    summary = _merge([r["summary"] for r in reports])
    summary["months"] = [m.isoformat()[:7] for m in months]
    mism = pl.concat([r["mismatches"] for r in reports]) if reports else pl.DataFrame(schema=_item_schema())
    return summary, mism


def _item_schema() -> pl.Schema:
    return pl.Schema(
        {
            "record_id": pl.String,
            "source": pl.String,
            "month_date": pl.Date,
            "start_at": pl.Datetime("us"),
            "msisdn": pl.String,
            "region": pl.String,
            "plan_id": pl.String,
            "service": pl.String,
            "rule": pl.String,
            "billable_units": pl.Int64,
            "units_from_allowance": pl.Int64,
            "billed": MONEY,
            "expected": MONEY,
            "diff": MONEY,
            "is_mismatch": pl.Boolean,
            "mismatch_class": pl.String,
        }
    )
