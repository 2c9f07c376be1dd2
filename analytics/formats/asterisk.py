"""Asterisk ``cdr_csv`` (``Master.csv``) onto cdr-extract v1.

Layout (Asterisk documentation, cdr_csv): no header, every field quoted, 18 columns
``accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start,
answer, end, duration, billsec, disposition, amaflags, uniqueid, userfield``; with
``newcdrcolumns = yes`` also ``peeraccount, linkedid, sequence`` (21 columns), told
apart by the column count of the first line.

Mapping (one output row per CDR line):
* record_id = ``uniqueid`` (``uniqueid-sequence`` when the file has a sequence: one call
  can write several CDRs with the same uniqueid);
* direction: ``in`` when ``dcontext`` is an inbound context (``from-trunk``,
  ``from-pstn``, ``public``, ... see ``[formats] inbound_contexts``) or ``channel``
  starts with one of ``[formats] inbound_channel_prefixes``; otherwise ``out`` (the
  default: a PBX user dialled). For ``in`` the served subscriber is ``dst`` and the
  other party ``src``; for ``out`` the reverse;
* start_time = ``start`` (local time of the PBX, ``YYYY-MM-DD HH:MM:SS``; naive, so in
  the configured zone); duration_s = ``billsec`` (connected seconds);
* disposition: ANSWERED -> answered, NO ANSWER -> no_answer, BUSY -> busy,
  FAILED -> failed, CONGESTION -> failed (the network could not route the call);
* service voice; no cell (``--region``); no billed charge (charge null).

Grain of the output: one row per Master.csv line.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analytics.formats._common import (
    FormatError,
    FormatOptions,
    empty_frame,
    finish,
    format_settings,
    head_lines,
    inbound_contexts,
    iso_time,
    map_values,
    require_region,
    scan_strings,
    split_csv_line,
)

HAS_CHARGE = False
STANDARD = [
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
]
NEW_CDR_COLUMNS = ["peeraccount", "linkedid", "sequence"]
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
DISPOSITIONS = {
    "ANSWERED": "answered",
    "NO ANSWER": "no_answer",
    "BUSY": "busy",
    "FAILED": "failed",
    "CONGESTION": "failed",
}


def columns_for(count: int) -> list[str] | None:
    """Column names for a line of ``count`` fields, or None when it is not cdr_csv."""
    if count == len(STANDARD):
        return STANDARD
    if count == len(STANDARD) + len(NEW_CDR_COLUMNS):
        return STANDARD + NEW_CDR_COLUMNS
    return None


def sniff(lines: list[str]) -> bool:
    """Headerless line of 18 or 21 fields with an Asterisk disposition in field 15."""
    if not lines:
        return False
    fields = split_csv_line(lines[0])
    return columns_for(len(fields)) is not None and fields[14] in DISPOSITIONS


def read(path: Path, opts: FormatOptions) -> pl.LazyFrame:
    region = require_region("asterisk", opts, path)
    lines = head_lines(path, 1)
    if not lines:
        return empty_frame(OUTPUT, region=region)
    names = columns_for(len(split_csv_line(lines[0])))
    if names is None:
        raise FormatError(
            f"{path.name}: {len(split_csv_line(lines[0]))} fields per line; Asterisk cdr_csv has "
            f"{len(STANDARD)} (or {len(STANDARD) + len(NEW_CDR_COLUMNS)} with newcdrcolumns); "
            "use --mapping FILE for a cdr_custom layout"
        )
    lf = scan_strings(path, names=names)
    is_in = _inbound(pl.col("dcontext"), pl.col("channel"))
    record_id = (
        pl.concat_str([pl.col("uniqueid"), pl.col("sequence")], separator="-", ignore_nulls=True)
        if "sequence" in names
        else pl.col("uniqueid")
    )
    return finish(
        lf,
        {
            "record_id": record_id,
            "start_time": iso_time(pl.col("start")),
            "msisdn": pl.when(is_in).then(pl.col("dst")).otherwise(pl.col("src")),
            "other_party": pl.when(is_in).then(pl.col("src")).otherwise(pl.col("dst")),
            "service": pl.lit("voice"),
            "direction": pl.when(is_in).then(pl.lit("in")).otherwise(pl.lit("out")),
            "duration_s": pl.col("billsec").str.strip_chars(),
            "cell_id": pl.lit(None, dtype=pl.String),
            "charge": pl.lit(None, dtype=pl.String),
            "disposition": map_values(pl.col("disposition").str.strip_chars(), DISPOSITIONS),
        },
        region=region,
    )


def _inbound(context: pl.Expr, channel: pl.Expr) -> pl.Expr:
    is_in = context.str.to_lowercase().is_in(inbound_contexts()).fill_null(False)
    for prefix in format_settings().inbound_channel_prefixes:
        is_in = is_in | channel.str.starts_with(str(prefix)).fill_null(False)
    return is_in
