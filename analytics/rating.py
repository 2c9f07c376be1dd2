"""The rating engine: the expected charge of every record under cdr-extract v1's rating rules.

Grain in and out: one row per record (the ``records`` table's columns); the output adds

* ``month_date``            first day of the record's calendar month in ``timezone``
* ``allowance_kind``        ``voice`` / ``sms`` / ``data`` for records that spend an allowance, else null
* ``rule``                  the rule that priced the record (see :data:`RULES`)
* ``billable_units``        started minutes / messages / started MB the rule counts (0 when free)
* ``units_from_allowance``  units of this record covered by the allowance
* ``allowance_used``        allowance units used by the subscriber this month after this record
* ``allowance_left_after``  allowance units left after this record (null when no allowance is spent)
* ``expected_charge``       Decimal(18, 4), rounded half-up to cents

Allowances belong to a subscriber per calendar month in ``timezone`` and are spent in
record order (``start_at``, then ``record_id``) by domestic, non-roaming usage only. It is
vectorised: one cumulative sum per (msisdn, month, allowance kind) window; money is
computed in integer ten-thousandths so half-up rounding to cents is exact. The rules are
the table :data:`analytics.tariff.TARIFF`, from which the marketing SQL fragments are also
generated.
"""

from __future__ import annotations

import logging

import polars as pl

from analytics import tariff

log = logging.getLogger(__name__)

RULES: dict[str, str] = tariff.rules_text()  # rule name -> plain-language text (analytics.tariff)

PLAN_COLUMNS = (*tariff.ALLOWANCE_COLUMNS, *tariff.RATE_COLUMNS)
RATE_COLUMNS = tariff.RATE_COLUMNS
# The record columns rating reads, with the types the live feeder casts its rows to (the
# records table keeps duration_s as a 32-bit integer; any integer width rates the same).
INPUT_SCHEMA = {
    "record_id": pl.String,
    "start_at": pl.Datetime("us"),
    "msisdn": pl.String,
    "service": pl.String,
    "direction": pl.String,
    "duration_s": pl.Int64,
    "disposition": pl.String,
    "bytes_up": pl.Int64,
    "bytes_down": pl.Int64,
    "is_roaming": pl.Boolean,
    "destination_country": pl.String,
    "plan_id": pl.String,
}
MONEY = pl.Decimal(18, 4)
OUTPUT_COLUMNS = (
    "month_date",
    "allowance_kind",
    "rule",
    "billable_units",
    "units_from_allowance",
    "allowance_used",
    "allowance_left_after",
    "expected_charge",
)
BYTES_PER_MB = 1_000_000


def month_of(start_at: pl.Expr, timezone: str) -> pl.Expr:
    """First day of the calendar month, in ``timezone``, of a UTC-naive timestamp."""
    local = start_at.dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    return local.dt.date().dt.month_start()


def _money_e4(name: str, dtype: pl.DataType) -> pl.Expr:
    """A money column as integer ten-thousandths (exact for Decimal and string inputs)."""
    col = pl.col(name)
    if dtype.is_float():
        return (col * 10_000).round(0).cast(pl.Int64)
    return (col.cast(MONEY) * 10_000).cast(pl.Int64)


def resolve_plans(records: pl.LazyFrame, subscribers: pl.LazyFrame) -> pl.LazyFrame:
    """``plan_id`` of each record: the record's own (non-empty), else ``subscribers.plan_id``.

    Grain kept: one row per input record.
    """
    names = records.collect_schema().names()
    subs = subscribers.select(
        pl.col("msisdn").cast(pl.String), pl.col("plan_id").cast(pl.String).alias("_sub_plan")
    ).unique(subset="msisdn", keep="first")
    own = pl.col("plan_id").cast(pl.String).str.strip_chars() if "plan_id" in names else pl.lit(None, dtype=pl.String)
    out = (
        records.with_columns(pl.col("msisdn").cast(pl.String))
        .join(subs, on="msisdn", how="left", maintain_order="left")
        .with_columns(
            pl.when(own.is_not_null() & (own != "")).then(own).otherwise(pl.col("_sub_plan")).alias("plan_id")
        )
        .drop("_sub_plan")
    )
    return out.select(names if "plan_id" in names else [*names, "plan_id"])


# Rule codes: integers while rating (cheap comparisons), names only in the output. An
# allowance rule's code + 1 is its overage rule (analytics.tariff.compile_tariff).
RULE_CODES: tuple[str, ...] = tariff.compile_tariff().codes
KINDS = tariff.KINDS  # allowance kind codes 0, 1, 2


def _plans_frame(plans: pl.LazyFrame) -> pl.DataFrame:
    """plan_id, included units (Int64) and rates (integer ten-thousandths), one row per plan.

    A plan whose ``incl_voice_min`` is null counts as unknown (its records are ``unknown_plan``).
    """
    schema = plans.collect_schema()
    missing = [c for c in ("plan_id", *PLAN_COLUMNS) if c not in schema]
    if missing:
        raise ValueError(f"plans lack columns: {', '.join(missing)}; expected by cdr-extract v1 plans.csv")
    exprs = [pl.col("plan_id").cast(pl.String)]
    exprs += [pl.col(c).cast(pl.Int64) for c in tariff.ALLOWANCE_COLUMNS]
    exprs += [_money_e4(c, schema[c]).alias(c) for c in RATE_COLUMNS]
    frame = plans.select(exprs).unique(subset="plan_id", keep="first", maintain_order=True).collect()
    return frame.filter(pl.col("incl_voice_min").is_not_null())


def _plan_tables(frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Flattened lookup tables: included units at ``plan x 3 + kind``, rates at ``plan x 7 + class``
    (class 0: free, else 1 + index in :data:`RATE_COLUMNS`)."""
    incl = frame.select(pl.concat_list(list(tariff.ALLOWANCE_COLUMNS)).alias("_incl")).to_series().explode()
    rates = (
        frame.select(pl.concat_list([pl.lit(0, dtype=pl.Int64), *RATE_COLUMNS]).alias("_rate")).to_series().explode()
    )
    return incl, rates


def _lookup(codes: dict[int, int], default: int | None) -> pl.Expr:
    """Map ``_base`` codes through ``codes`` (small int table)."""
    return pl.col("_base").replace_strict(list(codes), list(codes.values()), default=default, return_dtype=pl.Int64)


def rate_records(
    records: pl.LazyFrame,
    plans: pl.LazyFrame,
    *,
    home_country: str,
    timezone: str = "UTC",
    plan_override: str | None = None,
    rules_table: tuple[tariff.Rule, ...] = tariff.TARIFF,
) -> pl.LazyFrame:
    """Rate every record (``plan_id`` already resolved, see :func:`resolve_plans`).

    ``plan_override`` rates every record as if its subscriber were on that plan;
    ``rules_table`` is the tariff (:data:`analytics.tariff.TARIFF`, the contract's rules).
    Returns the input columns (input order kept) plus :data:`OUTPUT_COLUMNS`.
    """
    schema = records.collect_schema()
    names = schema.names()
    start_dtype = schema.get("start_at")
    if isinstance(start_dtype, pl.Datetime) and start_dtype.time_zone is not None:
        records = records.with_columns(pl.col("start_at").dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    if plan_override is not None:
        records = records.with_columns(pl.lit(plan_override, dtype=pl.String).alias("plan_id"))
    elif "plan_id" not in names:
        raise ValueError("records lack plan_id: call resolve_plans(records, subscribers) first")
    frame = _plans_frame(plans)
    ids = frame["plan_id"].to_list()
    incl_table, rate_table = _plan_tables(frame)
    if plan_override is not None:
        index = ids.index(plan_override) if plan_override in ids else None
        plan_idx = pl.lit(index, dtype=pl.Int64)
    else:
        plan_idx = (
            pl.col("plan_id").cast(pl.String).replace_strict(ids, range(len(ids)), default=None, return_dtype=pl.Int64)
        )
    rules = tariff.compile_tariff(rules_table)
    base = pl.col("_base")
    allowance = {rules.code(r.name): r for r in rules_table if r.allowance is not None}
    kind = _lookup({c: tariff.ALLOWANCE_COLUMNS.index(r.allowance) for c, r in allowance.items()}, None)
    units = tariff.units_expr(base, rules_table)
    rate_class = _lookup({rules.code(r.name): 1 + RATE_COLUMNS.index(r.rate) for r in rules_table if r.rate}, 0)
    window = ["msisdn", "month_date", "_kind"]
    used_after = pl.col("_units").cum_sum().over(window, order_by=["start_at", "record_id"])
    has_kind = pl.col("_kind").is_not_null()
    paid = pl.col("_units") - pl.col("units_from_allowance")
    domestic = base.is_in(list(allowance))
    no_plan = pl.col("_plan_idx").is_null()
    rated = (
        records.with_columns(plan_idx.alias("_plan_idx"), month_of(pl.col("start_at"), timezone).alias("month_date"))
        .with_columns(tariff.rule_case(home_country, no_plan, rules_table).alias("_base"))
        .with_columns(
            kind.alias("_kind"),
            units.alias("_units"),
            pl.lit(rate_table).gather(pl.col("_plan_idx") * (1 + len(RATE_COLUMNS)) + rate_class).alias("_rate_e4"),
        )
        .with_columns(
            pl.lit(incl_table).gather(pl.col("_plan_idx") * len(KINDS) + pl.col("_kind")).alias("_incl"),
            pl.when(has_kind).then(used_after).alias("_used_after"),
        )
        .with_columns(
            (pl.col("_incl") - (pl.col("_used_after") - pl.col("_units")))
            .clip(0, pl.col("_units"))
            .fill_null(0)
            .alias("units_from_allowance"),
            (pl.col("_incl") - pl.col("_used_after")).clip(lower_bound=0).alias("allowance_left_after"),
            pl.when(has_kind).then(pl.min_horizontal(pl.col("_used_after"), pl.col("_incl"))).alias("allowance_used"),
        )
        .with_columns(
            (base + (domestic & (paid > 0)).fill_null(False).cast(pl.UInt8))
            .replace_strict(list(range(len(rules.codes))), list(rules.codes), return_dtype=pl.String)
            .alias("rule"),
            pl.col("_kind")
            .replace_strict(list(range(len(KINDS))), list(KINDS), default=None, return_dtype=pl.String)
            .alias("allowance_kind"),
            pl.col("_units").alias("billable_units"),
            pl.when(base == rules.code(tariff.UNKNOWN_PLAN))
            .then(pl.lit(None, dtype=pl.Int64))
            .otherwise((paid * pl.col("_rate_e4") + 50) // 100)
            .alias("_cents"),
        )
        .with_columns((pl.col("_cents").cast(MONEY) / 100).cast(MONEY).alias("expected_charge"))
    )
    keep = [c for c in names if c not in OUTPUT_COLUMNS]
    if "plan_id" not in keep:
        keep.append("plan_id")
    return rated.select(*keep, *OUTPUT_COLUMNS)


def empty_rated_schema(records_schema: pl.Schema) -> pl.Schema:
    """The output schema of :func:`rate_records` for a records schema (for empty frames)."""
    out = dict(records_schema)
    out.update(
        month_date=pl.Date,
        allowance_kind=pl.String,
        rule=pl.String,
        billable_units=pl.Int64,
        units_from_allowance=pl.Int64,
        allowance_used=pl.Int64,
        allowance_left_after=pl.Int64,
        expected_charge=MONEY,
    )
    return pl.Schema(out)
