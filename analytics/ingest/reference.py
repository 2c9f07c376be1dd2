"""Reference files (cells, plans, subscribers): validated, quarantined, kept in the warehouse.

A reference file given to ``ingest`` replaces the stored table whole when its content
differs from the stored one (same content: nothing happens). Bad rows go to quarantine
like extract rows; a header missing a required column refuses the file. Records already
loaded keep the region they were loaded with.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from analytics import tariff
from analytics.ingest.reader import RefusedFile, file_sha256, normalise_header

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefSpec:
    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    numeric: tuple[str, ...]  # non-negative decimals
    integer: tuple[str, ...]  # non-negative integers
    signed: tuple[str, ...] = ()  # any float (coordinates)
    dates: tuple[str, ...] = ()


SPECS = {
    "cells": RefSpec(
        "cells",
        required=("cell_id", "region", "lat", "lon"),
        optional=("site_id", "technology", "capacity_erlangs"),
        numeric=("capacity_erlangs",),
        integer=(),
        signed=("lat", "lon"),
    ),
    "plans": RefSpec(
        "plans",
        required=("plan_id", "name", "monthly_fee", *tariff.ALLOWANCE_COLUMNS, *tariff.RATE_COLUMNS),
        optional=(),
        numeric=("monthly_fee", *tariff.RATE_COLUMNS),
        integer=tariff.ALLOWANCE_COLUMNS,
    ),
    "subscribers": RefSpec(
        "subscribers",
        required=("msisdn", "plan_id"),
        optional=("activation_date",),
        numeric=(),
        integer=(),
        dates=("activation_date",),
    ),
}
KEYS = {"cells": "cell_id", "plans": "plan_id", "subscribers": "msisdn"}


def read_reference(path: Path, spec: RefSpec) -> pl.DataFrame:
    """All columns as strings plus source_line; refuses a header without required columns."""
    if not path.exists() or path.stat().st_size == 0:
        raise RefusedFile(f"{path.name}: empty or missing {spec.kind} file")
    try:
        df = pl.read_csv(
            path, infer_schema=False, encoding="utf8-lossy", row_index_name="source_line", row_index_offset=2
        )
    except Exception as exc:  # polars raises several error types on malformed CSV
        raise RefusedFile(f"{path.name}: unreadable {spec.kind} CSV ({str(exc).splitlines()[0]})") from exc
    df = df.rename({c: normalise_header(c) for c in df.columns if c != "source_line"})
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        raise RefusedFile(
            f"{path.name}: missing columns: {', '.join(missing)}; expected by cdr-extract v1 {spec.kind}.csv"
        )
    for c in spec.optional:
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, pl.String).alias(c))
    return df.with_columns(pl.col("source_line").cast(pl.Int64))


def check_reference(df: pl.DataFrame, spec: RefSpec) -> pl.DataFrame:
    """Typed reference rows plus ``reason`` (null when good), same codes as extracts."""
    s = lambda c: pl.col(c).str.strip_chars()  # noqa: E731
    blank = lambda c: pl.col(c).is_null() | (s(c) == "")  # noqa: E731
    typed = df.with_columns(
        *[s(c).cast(pl.Float64, strict=False).alias(f"_{c}") for c in spec.numeric + spec.signed],
        *[s(c).cast(pl.Int64, strict=False).alias(f"_{c}") for c in spec.integer],
        *[s(c).str.to_date("%Y-%m-%d", strict=False).alias(f"_{c}") for c in spec.dates],
    )
    checks: list[tuple[str, pl.Expr]] = [(f"missing:{c}", blank(c)) for c in spec.required]
    for c in spec.numeric + spec.integer + spec.signed:
        checks.append((f"not_a_number:{c}", pl.col(f"_{c}").is_null() & ~blank(c)))
    for c in spec.numeric + spec.integer:
        checks.append((f"negative:{c}", pl.col(f"_{c}") < 0))
    for c in spec.dates:
        checks.append((f"bad_value:{c}", pl.col(f"_{c}").is_null() & ~blank(c)))
    if "lat" in spec.signed:
        checks.append(("bad_value:lat", pl.col("_lat").abs() > 90))
        checks.append(("bad_value:lon", pl.col("_lon").abs() > 180))
    key = KEYS[spec.kind]
    checks.append((f"duplicate_key:{key}", s(key).is_duplicated() & ~blank(key)))
    reason = pl.lit(None, pl.String)
    for code, cond in reversed(checks):
        reason = pl.when(cond.fill_null(False)).then(pl.lit(code)).otherwise(reason)
    return typed.with_columns(reason=reason)


def typed_table(checked: pl.DataFrame, spec: RefSpec) -> pl.DataFrame:
    good = checked.filter(pl.col("reason").is_null())
    cols = []
    for c in spec.required + spec.optional:
        if c in spec.numeric + spec.integer + spec.signed + spec.dates:
            cols.append(pl.col(f"_{c}").alias(c))
        else:
            cols.append(pl.col(c).str.strip_chars().replace("", None).alias(c))
    return good.select(cols)


def store_reference(
    con: duckdb.DuckDBPyConnection,
    *,
    kind: str,
    table: pl.DataFrame,
    file_name: str,
    sha256: str,
) -> None:
    """Replace the stored ``kind`` table (caller holds the transaction)."""
    con.register("ref_rows", table)
    try:
        con.execute(f"delete from {kind}")  # kind is one of SPECS' keys, never user text
        con.execute(f"insert into {kind} by name select * from ref_rows")
    finally:
        con.unregister("ref_rows")
    con.execute(
        "insert or replace into reference_files values (?, ?, ?, ?, ?)",
        [kind, file_name, sha256, table.height, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
    )


def stored_hash(con: duckdb.DuckDBPyConnection, kind: str) -> str | None:
    rows = con.execute("select content_sha256 from reference_files where kind = ?", [kind]).fetchall()
    row = rows[0] if rows else None
    return row[0] if row else None


def prepare(path: Path, kind: str) -> tuple[str, pl.DataFrame]:
    """(sha256, checked frame) of a reference file."""
    spec = SPECS[kind]
    return file_sha256(path), check_reference(read_reference(path, spec), spec)
