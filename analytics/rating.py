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


# Rule codes: integers while rating (cheap comparisons), names only in the output. A domestic
# base code + 1 is its ``_overage`` rule.
RULE_CODES: tuple[str, ...] = (
    "unknown_plan",
    "unanswered_free",
    "voice_roaming",
    "voice_incoming_free",
    "voice_international",
    "voice_domestic_allowance",
    "voice_domestic_overage",
    "sms_incoming_free",
    "sms_roaming",
    "sms_international",
    "sms_allowance",
    "sms_overage",
    "data_roaming",
    "data_allowance",
    "data_overage",
)
_C = {name: code for code, name in enumerate(RULE_CODES)}
_VOICE_DOM, _SMS_DOM, _DATA_DOM = _C["voice_domestic_allowance"], _C["sms_allowance"], _C["data_allowance"]
KINDS = ("voice", "sms", "data")  # allowance kind codes 0, 1, 2
# rate class per rule code: 0 = free (rate 0), else 1 + index in RATE_COLUMNS
_RATE_CLASS = {
    "voice_roaming": "roaming_voice_per_min",
    "voice_international": "intl_voice_per_min",
    "voice_domestic_allowance": "voice_per_min",
    "sms_roaming": "sms_each",
    "sms_international": "sms_each",
    "sms_allowance": "sms_each",
    "data_roaming": "roaming_data_per_mb",
    "data_allowance": "data_per_mb",
}


def _plans_frame(plans: pl.LazyFrame) -> pl.DataFrame:
    """plan_id, included units (Int64) and rates (integer ten-thousandths), one row per plan.

    A plan whose ``incl_voice_min`` is null counts as unknown (its records are ``unknown_plan``).
    """
    schema = plans.collect_schema()
    missing = [c for c in ("plan_id", *PLAN_COLUMNS) if c not in schema]
    if missing:
        raise ValueError(f"plans lack columns: {', '.join(missing)}; expected by cdr-extract v1 plans.csv")
    exprs = [pl.col("plan_id").cast(pl.String)]
    exprs += [pl.col(c).cast(pl.Int64) for c in PLAN_COLUMNS[:3]]
    exprs += [_money_e4(c, schema[c]).alias(c) for c in RATE_COLUMNS]
    frame = plans.select(exprs).unique(subset="plan_id", keep="first", maintain_order=True).collect()
    return frame.filter(pl.col("incl_voice_min").is_not_null())


def _plan_tables(frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Flattened lookup tables: included units at ``plan x 3 + kind``, rates at ``plan x 7 + class``."""
    incl = frame.select(pl.concat_list(list(PLAN_COLUMNS[:3])).alias("_incl")).to_series().explode()
    rates = (
        frame.select(pl.concat_list([pl.lit(0, dtype=pl.Int64), *RATE_COLUMNS]).alias("_rate")).to_series().explode()
    )
    return incl, rates


def at_home(destination_country: pl.Expr, home_country: str) -> pl.Expr:
    """True when a destination is the home country: case-insensitive, blank or null = home."""
    dest = destination_country.cast(pl.String).str.strip_chars().str.to_uppercase()
    return dest.is_in(["", home_country.upper()]).fill_null(True)


def _base_code(home_country: str) -> pl.Expr:
    """Rule code before the allowance is applied (domestic usage: its ``_allowance`` code)."""
    service = pl.col("service")
    out = pl.col("direction") == "out"
    roaming = pl.col("is_roaming").fill_null(False)
    abroad = ~at_home(pl.col("destination_country"), home_country)
    answered = pl.col("disposition").fill_null("answered") == "answered"
    is_voice = service == "voice"
    is_sms = service.is_in(["sms", "mms"])
    is_data = service.is_in(["data", "voip", "video"])
    no_plan = pl.col("_plan_idx").is_null()
    cases = [
        (no_plan, "unknown_plan"),
        (is_voice & ~answered, "unanswered_free"),
        (is_voice & roaming, "voice_roaming"),
        (is_voice & ~out, "voice_incoming_free"),
        (is_voice & abroad, "voice_international"),
        (is_voice, "voice_domestic_allowance"),
        (is_sms & ~out, "sms_incoming_free"),
        (is_sms & roaming, "sms_roaming"),
        (is_sms & abroad, "sms_international"),
        (is_sms, "sms_allowance"),
        (is_data & roaming, "data_roaming"),
        (is_data, "data_allowance"),
    ]
    expr = pl.when(cases[0][0]).then(pl.lit(_C[cases[0][1]], dtype=pl.UInt8))
    for cond, name in cases[1:]:
        expr = expr.when(cond).then(pl.lit(_C[name], dtype=pl.UInt8))
    return expr.otherwise(pl.lit(_C["unknown_plan"], dtype=pl.UInt8))


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
    base = pl.col("_base")
    kind = _lookup({_VOICE_DOM: 0, _SMS_DOM: 1, _DATA_DOM: 2}, None)
    minutes = [_C[n] for n in ("voice_domestic_allowance", "voice_international", "voice_roaming")]
    messages = [_C[n] for n in ("sms_allowance", "sms_roaming", "sms_international")]
    megabytes = [_C[n] for n in ("data_allowance", "data_roaming")]
    units = (
        pl.when(base.is_in(minutes))
        .then(started_minutes(pl.col("duration_s")))
        .when(base.is_in(messages))
        .then(pl.lit(1, dtype=pl.Int64))
        .when(base.is_in(megabytes))
        .then(started_mb(pl.col("bytes_up"), pl.col("bytes_down")))
        .otherwise(pl.lit(0, dtype=pl.Int64))
    )
    rate_class = _lookup({_C[r]: 1 + RATE_COLUMNS.index(c) for r, c in _RATE_CLASS.items()}, 0)
    window = ["msisdn", "month_date", "_kind"]
    used_after = pl.col("_units").cum_sum().over(window, order_by=["start_at", "record_id"])
    has_kind = pl.col("_kind").is_not_null()
    paid = pl.col("_units") - pl.col("units_from_allowance")
    domestic = base.is_in([_VOICE_DOM, _SMS_DOM, _DATA_DOM])
    rated = (
        records.with_columns(plan_idx.alias("_plan_idx"), month_of(pl.col("start_at"), timezone).alias("month_date"))
        .with_columns(_base_code(home_country).alias("_base"))
        .with_columns(
            kind.alias("_kind"),
            units.alias("_units"),
            pl.lit(rate_table).gather(pl.col("_plan_idx") * 7 + rate_class).alias("_rate_e4"),
        )
        .with_columns(
            pl.lit(incl_table).gather(pl.col("_plan_idx") * 3 + pl.col("_kind")).alias("_incl"),
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
            .replace_strict(list(range(len(RULE_CODES))), list(RULE_CODES), return_dtype=pl.String)
            .alias("rule"),
            pl.col("_kind")
            .replace_strict([0, 1, 2], list(KINDS), default=None, return_dtype=pl.String)
            .alias("allowance_kind"),
            pl.col("_units").alias("billable_units"),
            pl.when(base == _C["unknown_plan"])
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
