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
computed in integer ten-thousandths so half-up rounding to cents is exact.
"""

from __future__ import annotations

import logging

import polars as pl

log = logging.getLogger(__name__)

RULES: dict[str, str] = {
    "voice_domestic_allowance": "outgoing answered domestic call fully inside the voice allowance",
    "voice_domestic_overage": "outgoing answered domestic call, minutes beyond the allowance at voice_per_min",
    "voice_international": "outgoing call abroad: every minute at intl_voice_per_min",
    "voice_roaming": "call while roaming (either direction): every minute at roaming_voice_per_min",
    "voice_incoming_free": "incoming call at home: free",
    "unanswered_free": "unanswered call (no_answer, busy, failed, dropped): free",
    "sms_allowance": "outgoing domestic sms/mms inside the sms allowance",
    "sms_overage": "outgoing domestic sms/mms beyond the allowance at sms_each",
    "sms_international": "outgoing sms/mms abroad: always sms_each",
    "sms_roaming": "outgoing sms/mms while roaming: always sms_each",
    "sms_incoming_free": "incoming sms/mms: free",
    "data_allowance": "data/voip/video at home fully inside the data allowance",
    "data_overage": "data/voip/video at home, MB beyond the allowance at data_per_mb",
    "data_roaming": "data/voip/video while roaming: every MB at roaming_data_per_mb",
    "unknown_plan": "no plan known for the record: not rated (expected_charge null)",
}

PLAN_COLUMNS = (
    "incl_voice_min",
    "incl_sms",
    "incl_data_mb",
    "voice_per_min",
    "sms_each",
    "data_per_mb",
    "intl_voice_per_min",
    "roaming_voice_per_min",
    "roaming_data_per_mb",
)
RATE_COLUMNS = PLAN_COLUMNS[3:]
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
_P = "_plan_"  # prefix of joined plan columns (dropped before returning)


def started_minutes(duration_s: pl.Expr) -> pl.Expr:
    """Started minutes of connected time: 0 s -> 0, 60 s -> 1, 61 s -> 2."""
    return (duration_s.cast(pl.Int64) + 59) // 60


def started_mb(bytes_up: pl.Expr, bytes_down: pl.Expr) -> pl.Expr:
    """Started MB (1 MB = 1,000,000 bytes) of the record's bytes up + down."""
    total = bytes_up.cast(pl.Int64).fill_null(0) + bytes_down.cast(pl.Int64).fill_null(0)
    return (total + BYTES_PER_MB - 1) // BYTES_PER_MB


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


def _plans_frame(plans: pl.LazyFrame) -> pl.LazyFrame:
    schema = plans.collect_schema()
    missing = [c for c in ("plan_id", *PLAN_COLUMNS) if c not in schema]
    if missing:
        raise ValueError(f"plans lack columns: {', '.join(missing)}; expected by cdr-extract v1 plans.csv")
    exprs = [pl.col("plan_id").cast(pl.String)]
    exprs += [pl.col(c).cast(pl.Int64).alias(_P + c) for c in PLAN_COLUMNS[:3]]
    exprs += [_money_e4(c, schema[c]).alias(_P + c) for c in RATE_COLUMNS]
    return plans.select(exprs).unique(subset="plan_id", keep="first")


def _classify(home_country: str) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """(rule base, allowance kind, measured units, rate column) per record."""
    service = pl.col("service")
    out = pl.col("direction") == "out"
    roaming = pl.col("is_roaming").fill_null(False)
    dest = pl.col("destination_country").cast(pl.String).str.strip_chars().str.to_uppercase()
    abroad = dest.is_not_null() & (dest != "") & (dest != home_country.upper())
    answered = pl.col("disposition").fill_null("answered") == "answered"
    is_voice = service == "voice"
    is_sms = service.is_in(["sms", "mms"])
    is_data = service.is_in(["data", "voip", "video"])
    no_plan = pl.col(_P + "incl_voice_min").is_null()

    base = (
        pl.when(no_plan)
        .then(pl.lit("unknown_plan"))
        .when(is_voice & ~answered)
        .then(pl.lit("unanswered_free"))
        .when(is_voice & roaming)
        .then(pl.lit("voice_roaming"))
        .when(is_voice & ~out)
        .then(pl.lit("voice_incoming_free"))
        .when(is_voice & abroad)
        .then(pl.lit("voice_international"))
        .when(is_voice)
        .then(pl.lit("voice_domestic"))
        .when(is_sms & ~out)
        .then(pl.lit("sms_incoming_free"))
        .when(is_sms & roaming)
        .then(pl.lit("sms_roaming"))
        .when(is_sms & abroad)
        .then(pl.lit("sms_international"))
        .when(is_sms)
        .then(pl.lit("sms_domestic"))
        .when(is_data & roaming)
        .then(pl.lit("data_roaming"))
        .when(is_data)
        .then(pl.lit("data_domestic"))
        .otherwise(pl.lit("unknown_plan"))
    )
    base = base.alias("_base")
    b = pl.col("_base")
    kind = (
        pl.when(b == "voice_domestic")
        .then(pl.lit("voice"))
        .when(b == "sms_domestic")
        .then(pl.lit("sms"))
        .when(b == "data_domestic")
        .then(pl.lit("data"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    units = (
        pl.when(b.is_in(["voice_domestic", "voice_international", "voice_roaming"]))
        .then(started_minutes(pl.col("duration_s")))
        .when(b.is_in(["sms_domestic", "sms_roaming", "sms_international"]))
        .then(pl.lit(1, dtype=pl.Int64))
        .when(b.is_in(["data_domestic", "data_roaming"]))
        .then(started_mb(pl.col("bytes_up"), pl.col("bytes_down")))
        .otherwise(pl.lit(0, dtype=pl.Int64))
    )
    rate = (
        pl.when(b == "voice_domestic")
        .then(pl.col(_P + "voice_per_min"))
        .when(b == "voice_international")
        .then(pl.col(_P + "intl_voice_per_min"))
        .when(b == "voice_roaming")
        .then(pl.col(_P + "roaming_voice_per_min"))
        .when(b.is_in(["sms_domestic", "sms_roaming", "sms_international"]))
        .then(pl.col(_P + "sms_each"))
        .when(b == "data_domestic")
        .then(pl.col(_P + "data_per_mb"))
        .when(b == "data_roaming")
        .then(pl.col(_P + "roaming_data_per_mb"))
        .otherwise(pl.lit(0, dtype=pl.Int64))
    )
    return base, kind, units, rate


def rate_records(
    records: pl.LazyFrame,
    plans: pl.LazyFrame,
    *,
    home_country: str,
    timezone: str = "UTC",
    plan_override: str | None = None,
) -> pl.LazyFrame:
    """Rate every record (``plan_id`` already resolved, see :func:`resolve_plans`).

    ``plan_override`` rates every record as if its subscriber were on that plan.
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
    base, kind, units, rate = _classify(home_country)
    window = ["msisdn", "month_date", "allowance_kind"]
    incl = (
        pl.when(pl.col("allowance_kind") == "voice")
        .then(pl.col(_P + "incl_voice_min"))
        .when(pl.col("allowance_kind") == "sms")
        .then(pl.col(_P + "incl_sms"))
        .when(pl.col("allowance_kind") == "data")
        .then(pl.col(_P + "incl_data_mb"))
        .otherwise(0)
    )
    over = pl.col("_paid") > 0
    used_after = pl.col("_units").cum_sum().over(window, order_by=["start_at", "record_id"])
    rated = (
        records.with_columns(pl.col("plan_id").cast(pl.String).alias("_plan_key"))
        .join(_plans_frame(plans), left_on="_plan_key", right_on="plan_id", how="left", maintain_order="left")
        .with_columns(month_of(pl.col("start_at"), timezone).alias("month_date"), base)
        .with_columns(kind.alias("allowance_kind"), units.alias("_units"), rate.alias("_rate_e4"))
        .with_columns(incl.alias("_incl"))
        .with_columns(
            pl.when(pl.col("allowance_kind").is_not_null()).then(used_after).alias("_used_after"),
        )
        .with_columns(
            (pl.col("_incl") - (pl.col("_used_after") - pl.col("_units")))
            .clip(0, pl.col("_units"))
            .fill_null(0)
            .alias("units_from_allowance"),
            (pl.col("_incl") - pl.col("_used_after")).clip(lower_bound=0).alias("allowance_left_after"),
        )
        .with_columns(
            pl.when(pl.col("allowance_kind").is_not_null())
            .then(pl.min_horizontal(pl.col("_used_after"), pl.col("_incl")))
            .alias("allowance_used"),
            (pl.col("_units") - pl.col("units_from_allowance")).alias("_paid"),
        )
        .with_columns(
            pl.when(pl.col("_base") == "voice_domestic")
            .then(pl.when(over).then(pl.lit("voice_domestic_overage")).otherwise(pl.lit("voice_domestic_allowance")))
            .when(pl.col("_base") == "sms_domestic")
            .then(pl.when(over).then(pl.lit("sms_overage")).otherwise(pl.lit("sms_allowance")))
            .when(pl.col("_base") == "data_domestic")
            .then(pl.when(over).then(pl.lit("data_overage")).otherwise(pl.lit("data_allowance")))
            .otherwise(pl.col("_base"))
            .alias("rule"),
            pl.col("_units").alias("billable_units"),
            pl.when(pl.col("_base") == "unknown_plan")
            .then(pl.lit(None, dtype=pl.Int64))
            .otherwise((pl.col("_paid") * pl.col("_rate_e4") + 50) // 100)
            .alias("_cents"),
        )
        .with_columns(
            (pl.col("_cents").cast(MONEY) / 100).cast(MONEY).alias("expected_charge"),
        )
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
