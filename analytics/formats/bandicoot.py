"""bandicoot user files (and their antennas file) onto cdr-extract v1.

Layout (bandicoot 0.6 ``read_csv``): one CSV per user, the file name stem being the
user id, header ``interaction, direction, correspondent_id, datetime, call_duration,
antenna_id`` (any column order). ``interaction`` is ``call`` or ``text``, ``direction``
``in`` or ``out``, ``datetime`` local ``YYYY-MM-DD HH:MM:SS``, ``call_duration``
seconds (empty for texts), ``antenna_id`` the serving antenna (may be empty).
The antennas file (``--cells``) is ``antenna_id, latitude, longitude``.

Mapping (one output row per interaction line):
* msisdn = the file name stem, other_party = ``correspondent_id``;
* service: call -> voice, text -> sms (other values stay raw: ingest rejects them);
* record_id = ``user|datetime|interaction|direction|correspondent_id``: bandicoot
  carries no id; the same interaction delivered again is the same record;
* duration_s = ``call_duration`` for calls, 0 for texts; disposition ``answered``
  (bandicoot keeps connected interactions only); cell_id = ``antenna_id``;
* no billed charge (charge null).

``read_cells`` gives the antennas in the v1 cells layout (cell_id, region, lat, lon, ...),
region = ``--region`` (``UNASSIGNED`` when not given).
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from analytics.formats._common import (
    FormatError,
    FormatOptions,
    finish,
    head_lines,
    iso_time,
    map_values,
    scan_strings,
    split_csv_line,
)

log = logging.getLogger(__name__)

HAS_CHARGE = False
# bandicoot user ids are pseudonyms (file names), not E.164 numbers.
MSISDN_IS_E164 = False
HEADER = ("interaction", "direction", "correspondent_id", "datetime", "call_duration", "antenna_id")
ANTENNA_HEADER = ("antenna_id", "latitude", "longitude")
V1_CELLS = ("cell_id", "region", "lat", "lon")
V1_CELLS_OPTIONAL = ("site_id", "technology", "capacity_erlangs")
SERVICES = {"call": "voice", "text": "sms"}
DEFAULT_REGION = "UNASSIGNED"


def _header(lines: list[str]) -> list[str]:
    return [c.strip().lower() for c in split_csv_line(lines[0])] if lines else []


def sniff(lines: list[str]) -> bool:
    return set(HEADER) <= set(_header(lines))


def user_of(path: Path) -> str:
    """The user id: the file name without .csv / .txt / .gz."""
    name = path.name
    for suffix in (".gz", ".csv", ".txt"):
        name = name.removesuffix(suffix)
    return name


def read(path: Path, opts: FormatOptions) -> pl.LazyFrame:
    header = _header(head_lines(path, 1))
    missing = [c for c in HEADER if c not in header]
    if missing:
        raise FormatError(f"{path.name}: missing columns: {', '.join(missing)}; expected by bandicoot")
    user = user_of(path)
    lf = scan_strings(path, names=header, has_header=True)
    interaction = pl.col("interaction").str.strip_chars().str.to_lowercase()
    is_text = interaction == "text"
    record_id = pl.concat_str(
        [pl.lit(user), pl.col("datetime"), pl.col("interaction"), pl.col("direction"), pl.col("correspondent_id")],
        separator="|",
        ignore_nulls=True,
    )
    return finish(
        lf,
        {
            "record_id": record_id,
            "start_time": iso_time(pl.col("datetime")),
            "msisdn": pl.lit(user),
            "other_party": pl.col("correspondent_id").str.strip_chars(),
            "service": map_values(interaction, SERVICES),
            "direction": pl.col("direction").str.strip_chars().str.to_lowercase(),
            "duration_s": pl.when(is_text).then(pl.lit("0")).otherwise(pl.col("call_duration").str.strip_chars()),
            "cell_id": pl.col("antenna_id").str.strip_chars(),
            "charge": pl.lit(None, dtype=pl.String),
            "disposition": pl.lit("answered"),
        },
    )


def read_cells(path: Path, opts: FormatOptions) -> pl.DataFrame:
    """The antennas file in the v1 cells layout, one row per antenna.

    Columns as text like a cells.csv (ingest checks and types them): cell_id, region,
    lat, lon, the optional site_id / technology / capacity_erlangs (null), source_line.
    """
    header = _header(head_lines(path, 1))
    if set(V1_CELLS) <= set(header):  # already a v1 cells.csv: taken as it is
        optional = [pl.col(c) if c in header else pl.lit(None, dtype=pl.String).alias(c) for c in V1_CELLS_OPTIONAL]
        lf = scan_strings(path, names=header, has_header=True)
        return (
            lf.select(*V1_CELLS, *optional, "source_line")
            .filter(~pl.all_horizontal([pl.col(c).is_null() for c in V1_CELLS]))
            .collect()
        )
    missing = [c for c in ANTENNA_HEADER if c not in header]
    if missing:
        raise FormatError(
            f"{path.name}: missing columns: {', '.join(missing)}; expected by bandicoot antennas (or a v1 cells.csv)"
        )
    region = opts.region or DEFAULT_REGION
    if not opts.region:
        log.warning("bandicoot antennas %s: no --region given, their region is %s", path.name, DEFAULT_REGION)
    return (
        scan_strings(path, names=header, has_header=True)
        .select(
            pl.col("antenna_id").str.strip_chars().alias("cell_id"),
            pl.lit(region, dtype=pl.String).alias("region"),
            pl.col("latitude").str.strip_chars().alias("lat"),
            pl.col("longitude").str.strip_chars().alias("lon"),
            pl.lit(None, dtype=pl.String).alias("site_id"),
            pl.lit(None, dtype=pl.String).alias("technology"),
            pl.lit(None, dtype=pl.String).alias("capacity_erlangs"),
            pl.col("source_line"),
        )
        .filter(~pl.all_horizontal(pl.col("cell_id").is_null(), pl.col("lat").is_null(), pl.col("lon").is_null()))
        .collect()
    )
