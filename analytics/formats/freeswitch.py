"""FreeSWITCH ``mod_cdr_csv`` onto cdr-extract v1.

Layout: no header, one line per call leg (A legs by default), the default template
``caller_id_name, caller_id_number, destination_number, context, start_stamp,
answer_stamp, end_stamp, duration, billsec, hangup_cause, uuid, bleg_uuid, accountcode``
(13 fields, mod_cdr_csv.c) or the shipped ``example`` template that adds
``read_codec, write_codec`` (15 fields); further fields are ignored.

Times are the switch's local time ``YYYY-MM-DD HH:MM:SS``; files that went through a
spreadsheet carry them cut to the minute as ``2020/2/10 22:41`` (seconds become 00),
also read. They are naive, hence in the configured zone.

Mapping:
* record_id = ``uuid`` (unique per leg);
* direction: ``in`` when ``context`` is an inbound context (``public``, ... see
  ``[formats] inbound_contexts``), the served subscriber then being
  ``destination_number`` and the other party ``caller_id_number``; otherwise ``out``
  (default: a user of the switch dialled), msisdn = ``caller_id_number``;
* duration_s = ``billsec``;
* disposition from the hangup cause and whether the leg was answered (``answer_stamp``
  set or ``billsec`` > 0): answered legs are ``answered``, or ``dropped`` when the cause
  is a failure (``DROP_CAUSES``: RECOVERY_ON_TIMER_EXPIRE, MEDIA_TIMEOUT, ...);
  unanswered legs are ``busy`` (USER_BUSY, CALL_REJECTED), ``no_answer``
  (NO_ANSWER, NO_USER_RESPONSE, ORIGINATOR_CANCEL, NORMAL_CLEARING, ...), else ``failed``;
* service voice; no cell (``--region``); no billed charge.

Grain of the output: one row per CDR line.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analytics.formats._common import (
    FormatOptions,
    empty_frame,
    finish,
    head_lines,
    inbound_contexts,
    iso_time,
    require_region,
    scan_strings,
    split_csv_line,
)

HAS_CHARGE = False
TEMPLATE = [
    "caller_id_name",
    "caller_id_number",
    "destination_number",
    "context",
    "start_stamp",
    "answer_stamp",
    "end_stamp",
    "duration",
    "billsec",
    "hangup_cause",
    "uuid",
    "bleg_uuid",
    "accountcode",
]
EXAMPLE_EXTRA = ["read_codec", "write_codec"]
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")
OUTPUT = (
    "record_id",
    "start_time",
    "msisdn",
    "other_party",
    "service",
    "direction",
    "duration_s",
    "cell_id",
    "charge",
    "disposition",
)
BUSY_CAUSES = ("USER_BUSY", "CALL_REJECTED")
NO_ANSWER_CAUSES = (
    "NO_ANSWER",
    "NO_USER_RESPONSE",
    "ORIGINATOR_CANCEL",
    "NORMAL_CLEARING",
    "NORMAL_UNSPECIFIED",
    "ALLOTTED_TIMEOUT",
    "LOSE_RACE",
    "PICKED_OFF",
    "SUBSCRIBER_ABSENT",
    "USER_NOT_REGISTERED",
)
DROP_CAUSES = (
    "RECOVERY_ON_TIMER_EXPIRE",
    "MEDIA_TIMEOUT",
    "NETWORK_OUT_OF_ORDER",
    "DESTINATION_OUT_OF_ORDER",
    "NORMAL_TEMPORARY_FAILURE",
    "SWITCH_CONGESTION",
    "PROTOCOL_ERROR",
    "INTERWORKING",
    "NORMAL_CIRCUIT_CONGESTION",
    "GATEWAY_DOWN",
    "BEARERCAPABILITY_NOTAVAIL",
)
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def columns_for(count: int) -> list[str] | None:
    if count < len(TEMPLATE):
        return None
    extra = EXAMPLE_EXTRA[: count - len(TEMPLATE)]
    rest = [f"extra_{i}" for i in range(count - len(TEMPLATE) - len(extra))]
    return TEMPLATE + extra + rest


def sniff(lines: list[str]) -> bool:
    """Headerless; field 10 a hangup cause (UPPER_CASE) and field 11 a uuid."""
    import re

    if not lines:
        return False
    f = split_csv_line(lines[0])
    return (
        columns_for(len(f)) is not None
        and re.fullmatch(r"[A-Z][A-Z_]+", f[9]) is not None
        and re.fullmatch(_UUID, f[10]) is not None
    )


def read(path: Path, opts: FormatOptions) -> pl.LazyFrame:
    region = require_region("freeswitch", opts, path)
    lines = head_lines(path, 1)
    if not lines:
        return empty_frame(OUTPUT, region=region)
    count = len(split_csv_line(lines[0]))
    names = columns_for(count) or TEMPLATE[:count]
    lf = scan_strings(path, names=names)
    ctx = pl.col("context") if "context" in names else pl.lit(None, dtype=pl.String)
    is_in = ctx.str.to_lowercase().is_in(inbound_contexts()).fill_null(False)
    caller, callee = _col("caller_id_number", names), _col("destination_number", names)
    return finish(
        lf,
        {
            "record_id": _col("uuid", names),
            "start_time": iso_time(_col("start_stamp", names), TIME_FORMATS),
            "msisdn": pl.when(is_in).then(callee).otherwise(caller),
            "other_party": pl.when(is_in).then(caller).otherwise(callee),
            "service": pl.lit("voice"),
            "direction": pl.when(is_in).then(pl.lit("in")).otherwise(pl.lit("out")),
            "duration_s": _col("billsec", names).str.strip_chars(),
            "cell_id": pl.lit(None, dtype=pl.String),
            "charge": pl.lit(None, dtype=pl.String),
            "disposition": disposition(
                _col("hangup_cause", names), _col("answer_stamp", names), _col("billsec", names)
            ),
        },
        region=region,
    )


def disposition(cause: pl.Expr, answer_stamp: pl.Expr, billsec: pl.Expr) -> pl.Expr:
    """Contract disposition of a leg from its hangup cause and whether it was answered."""
    cause = cause.str.strip_chars().str.to_uppercase()
    answered = answer_stamp.is_not_null() | (billsec.str.strip_chars().cast(pl.Int64, strict=False) > 0).fill_null(
        False
    )
    return (
        pl.when(answered & cause.is_in(DROP_CAUSES))
        .then(pl.lit("dropped"))
        .when(answered)
        .then(pl.lit("answered"))
        .when(cause.is_in(BUSY_CAUSES))
        .then(pl.lit("busy"))
        .when(cause.is_in(NO_ANSWER_CAUSES))
        .then(pl.lit("no_answer"))
        .otherwise(pl.lit("failed"))
    )


def _col(name: str, names: list[str]) -> pl.Expr:
    return pl.col(name) if name in names else pl.lit(None, dtype=pl.String)
