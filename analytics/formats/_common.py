"""Shared pieces of the source-format readers: options, errors, CSV scanning, times, enums.

Every reader turns one source file into a lazy frame of the cdr-extract v1 column names
as strings (``pl.String``) plus ``source_line`` (``pl.Int64``, 1-based physical line of
the row, header = line 1): one output row per source data row. Readers never validate:
a value that cannot be mapped is passed on raw (or null) so that ingest quarantines the
row with a reason.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"

REQUIRED = (
    "record_id",
    "start_time",
    "msisdn",
    "other_party",
    "service",
    "direction",
    "duration_s",
    "cell_id",
    "charge",
)
OPTIONAL = (
    "disposition",
    "bytes_up",
    "bytes_down",
    "roaming",
    "destination_country",
    "currency",
    "plan_id",
    "imsi",
    "imei",
)
CONTRACT_COLUMNS = REQUIRED + OPTIONAL
SERVICES = ("voice", "sms", "mms", "data", "voip", "video")
DIRECTIONS = ("out", "in")
DISPOSITIONS = ("answered", "no_answer", "busy", "failed", "dropped")

# A start time the contract accepts as it is: ISO 8601 date, space or T, optional offset.
ISO_TIME = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"

# Dialplan contexts that receive calls from outside (Asterisk/FreePBX and FreeSWITCH
# conventions). A record in one of them is incoming for the PBX user it reaches.
# Overridable in analytics.toml: [formats] inbound_contexts = [...].
DEFAULT_INBOUND_CONTEXTS = (
    "from-trunk",
    "from-pstn",
    "from-external",
    "from-did",
    "from-did-direct",
    "ext-did",
    "from-sip-external",
    "from-digital",
    "from-analog",
    "public",
    "inbound",
    "incoming",
)


class FormatError(ValueError):
    """A source file (or mapping file) that cannot be read in the asked format; one line."""


@dataclass(frozen=True)
class FormatOptions:
    """What a reader needs besides the file: from ``ingest``'s options and settings."""

    region: str | None = None
    cells_path: Path | None = None
    mapping_path: Path | None = None
    timezone: str = "UTC"
    home_country: str = "GB"
    currency: str = "GBP"


@dataclass(frozen=True)
class FormatSettings:
    """``[formats]`` of analytics.toml (docs/formats.md)."""

    inbound_contexts: tuple[str, ...] = DEFAULT_INBOUND_CONTEXTS
    inbound_channel_prefixes: tuple[str, ...] = ()


def format_settings() -> FormatSettings:
    """``[formats]`` of analytics.toml over the code defaults."""
    from analytics.config import settings

    return settings().section("formats", FormatSettings)


def inbound_contexts() -> list[str]:
    return [c.lower() for c in format_settings().inbound_contexts]


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def head_lines(path: Path, n: int = 5) -> list[str]:
    """The first ``n`` lines of a (possibly gzipped) text file, without line ends."""
    opener = gzip.open if is_gzip(path) else open
    lines: list[str] = []
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            for line in fh:
                lines.append(line.rstrip("\r\n"))
                if len(lines) >= n:
                    break
    except (EOFError, OSError) as exc:
        raise FormatError(f"{path.name}: unreadable ({exc})") from exc
    return lines


def split_csv_line(line: str, delimiter: str = ",") -> list[str]:
    import csv

    return next(csv.reader([line], delimiter=delimiter), [])


def scan_strings(
    path: Path,
    *,
    names: list[str] | None,
    skip_lines: int = 0,
    has_header: bool = False,
    separator: str = ",",
    quote_char: str | None = '"',
) -> pl.LazyFrame:
    """All columns of a delimited file as strings (empty -> null), plus ``source_line``.

    ``skip_lines`` physical lines are skipped before the header (or the data when there
    is no header); ``names`` renames (or, without a header, names) the columns in order.
    A gzipped file is decompressed in memory (readers return lazy frames that outlive
    any temporary file).
    """
    first_data_line = skip_lines + (2 if has_header else 1)
    kwargs = dict(
        has_header=has_header,
        separator=separator,
        quote_char=quote_char,
        skip_lines=skip_lines,
        infer_schema=False,
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
        empty_string_is_null=True,
        null_values=[""],  # quoted empty fields ("") too
        raise_if_empty=False,
        row_index_name="source_line",
        row_index_offset=first_data_line,
    )
    if names is not None:
        kwargs["new_columns"] = names
    if is_gzip(path):
        with gzip.open(path, "rb") as fh:
            data = fh.read()
        lf = pl.scan_csv(data, **kwargs)
    else:
        lf = pl.scan_csv(path, **kwargs)
    return lf.with_columns(pl.col("source_line").cast(pl.Int64))


def iso_time(expr: pl.Expr, formats: Iterable[str] = (), *, zone: str | None = None) -> pl.Expr:
    """A start-time expression as contract text.

    Values already in ISO 8601 pass unchanged (the fast path); others are parsed with
    the first matching ``formats`` and written ``YYYY-MM-DDTHH:MM:SS``. With ``zone``,
    naive times are placed in that zone and written with their offset (``+01:00``).
    A value no format parses is passed on raw (ingest quarantines it).
    """
    raw = expr.str.strip_chars()
    formats = list(formats)
    if not formats and zone is None:
        return raw
    is_iso = raw.str.contains(ISO_TIME)
    # only non-ISO values go through the (slow) format attempts
    todo = raw if zone is not None else pl.when(is_iso).then(None).otherwise(raw)
    parsed = [todo.str.strptime(pl.Datetime("us"), f, strict=False) for f in formats]
    if zone is not None:
        iso_parsed = raw.str.replace("T", " ").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
        parsed.insert(0, iso_parsed)
    dt = pl.coalesce(parsed) if len(parsed) > 1 else parsed[0]
    if zone is not None:
        text = dt.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.strftime(
            "%Y-%m-%dT%H:%M:%S%:z"
        )
        has_offset = raw.str.contains(r"(Z|[+-]\d{2}:?\d{2})$")
        return pl.when(has_offset).then(raw).otherwise(pl.coalesce(text, raw))
    text = dt.dt.strftime("%Y-%m-%dT%H:%M:%S")
    return pl.when(is_iso).then(raw).otherwise(pl.coalesce(text, raw))


def epoch_time(expr: pl.Expr, *, unit: str = "s") -> pl.Expr:
    """Epoch seconds (or ms) as UTC ISO text ``...Z``; a non-number passes raw."""
    n = expr.str.strip_chars().cast(pl.Int64, strict=False)
    text = pl.from_epoch(n, time_unit=unit).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return pl.coalesce(text, expr)


def map_values(expr: pl.Expr, values: Mapping[str, str], *, default: str | None = None) -> pl.Expr:
    """Source codes to contract values; an unknown code stays raw (or takes ``default``)."""
    keys = list(values)
    fallback = pl.lit(default, dtype=pl.String) if default is not None else expr
    return expr.replace_strict(keys, [values[k] for k in keys], default=fallback, return_dtype=pl.String)


def finish(lf: pl.LazyFrame, columns: Mapping[str, pl.Expr], *, region: str | None = None) -> pl.LazyFrame:
    """Select the mapped contract columns as strings, ``source_line``, and ``region`` if given.

    Blank lines come out of the CSV reader as all-null rows: a row whose every source
    column used by the mapping is null is dropped as a blank line (its line number is
    skipped). Only the used columns are tested, so the reader still reads no others.
    """
    used = sorted({r for e in columns.values() for r in e.meta.root_names()})
    if used:
        lf = lf.filter(~pl.all_horizontal([pl.col(c).is_null() for c in used]))
    exprs = [e.cast(pl.String).alias(name) for name, e in columns.items()]
    exprs.append(pl.col("source_line"))
    if region is not None:
        exprs.append(pl.lit(region, dtype=pl.String).alias("region"))
    return lf.select(exprs)


def require_region(fmt: str, opts: FormatOptions, path: Path) -> str:
    """The region of a format that carries no cell: ``--region`` is then mandatory."""
    if not opts.region:
        raise FormatError(f"{path.name}: {fmt} records carry no cell: give --region NAME for them")
    return opts.region


def empty_frame(columns: Iterable[str], *, region: str | None = None) -> pl.LazyFrame:
    """The reader's output schema with no rows (an empty source file)."""
    schema: dict[str, pl.DataType] = {c: pl.String() for c in columns}
    schema["source_line"] = pl.Int64()
    if region is not None:
        schema["region"] = pl.String()
    return pl.LazyFrame(schema=schema)
