"""Client layouts mapped onto cdr-extract v1 by a declarative TOML file (``--mapping``).

A mapping names, for one client's delimited layout, which source column becomes which
contract field; no code. Sections (see docs/formats.md and mappings/*.toml):

``[source]``  ``header`` (bool, default true), ``columns`` (names of the columns in
order: required without a header, renames them with one), ``delimiter`` (","),
``quote`` ('"'), ``skip_lines`` (0: lines before the header/data).
``[fields]``  contract field = a source column, or a list of columns joined with
``-`` (``record_id = ["uniqueid", "sequence"]``), or a table by direction
(``msisdn = { out = "src", in = "dst" }``) when the served party depends on it.
``[constants]`` contract field = a fixed value (``service = "voice"``).
``[values.<field>]`` source value -> contract value (enum codes); the key ``"*"``
catches every other value, and without it an unknown value stays raw (ingest rejects
the row with ``bad_enum``).
``[time]``  ``formats`` (strptime formats tried in order; ISO 8601 always accepted;
``"epoch"`` / ``"epoch_ms"`` for numbers) and ``zone`` (IANA zone of naive times,
default: the configured zone).

The output has the mapped fields as strings plus ``source_line``, and ``region`` from
``--region`` when no ``cell_id`` is mapped. Grain: one row per source data line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analytics.formats._common import (
    CONTRACT_COLUMNS,
    REQUIRED,
    FormatError,
    FormatOptions,
    epoch_time,
    finish,
    head_lines,
    iso_time,
    map_values,
    require_region,
    scan_strings,
    split_csv_line,
)

# The mapping decides: a row with no charge is "not billed" only when charge is unmapped
# (see has_charge); ingest should ask analytics.formats.has_charge("mapping", opts).
HAS_CHARGE = False
SECTIONS = {"name", "description", "source", "fields", "constants", "values", "time"}


@dataclass(frozen=True)
class Mapping:
    """A parsed, checked mapping file."""

    name: str
    header: bool = True
    columns: tuple[str, ...] | None = None
    delimiter: str = ","
    quote: str | None = '"'
    skip_lines: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    time_formats: tuple[str, ...] = ()
    zone: str | None = None

    @property
    def has_charge(self) -> bool:
        return "charge" in self.fields or "charge" in self.constants

    def source_columns(self) -> set[str]:
        used: set[str] = set()
        for spec in self.fields.values():
            if isinstance(spec, str):
                used.add(spec)
            elif isinstance(spec, list):
                used.update(spec)
            else:
                used.update(spec.values())
        return used


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; :class:`FormatError` says what is wrong in it."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FormatError(f"mapping file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"{path.name}: not valid TOML ({exc})") from exc
    unknown = set(raw) - SECTIONS
    if unknown:
        raise FormatError(f"{path.name}: unknown sections: {', '.join(sorted(unknown))}")
    src, time = raw.get("source", {}), raw.get("time", {})
    fields, constants = raw.get("fields", {}), {k: str(v) for k, v in raw.get("constants", {}).items()}
    values = {k: {str(a): str(b) for a, b in v.items()} for k, v in raw.get("values", {}).items()}
    for kind, names in (("fields", fields), ("constants", constants), ("values", values)):
        bad = [n for n in names if n not in CONTRACT_COLUMNS]
        if bad:
            raise FormatError(f"{path.name}: [{kind}] names no contract field: {', '.join(bad)}")
    for name, spec in fields.items():
        ok = (
            isinstance(spec, str)
            or (isinstance(spec, list) and spec and all(isinstance(s, str) for s in spec))
            or (
                isinstance(spec, dict)
                and set(spec) <= {"in", "out"}
                and spec
                and all(isinstance(s, str) for s in spec.values())
            )
        )
        if not ok:
            raise FormatError(f"{path.name}: [fields] {name} must be a column, a list of columns or {{out=, in=}}")
        if isinstance(spec, dict) and "direction" not in fields and "direction" not in constants:
            raise FormatError(f"{path.name}: [fields] {name} depends on direction, which is not mapped")
    missing = [c for c in REQUIRED if c not in fields and c not in constants and c not in ("cell_id", "charge")]
    if missing:
        raise FormatError(f"{path.name}: required contract fields not mapped: {', '.join(missing)}")
    header = bool(src.get("header", True))
    columns = tuple(src["columns"]) if "columns" in src else None
    if not header and columns is None:
        raise FormatError(f"{path.name}: [source] header = false needs columns = [...]")
    formats = time.get("formats", time.get("format", ()))
    return Mapping(
        name=str(raw.get("name", path.stem)),
        header=header,
        columns=columns,
        delimiter=str(src.get("delimiter", ",")),
        quote=src.get("quote", '"') or None,
        skip_lines=int(src.get("skip_lines", 0)),
        fields=dict(fields),
        constants=constants,
        values=values,
        time_formats=tuple([formats] if isinstance(formats, str) else formats),
        zone=time.get("zone"),
    )


def has_charge(opts: FormatOptions) -> bool:
    return opts.mapping_path is not None and load_mapping(opts.mapping_path).has_charge


def read(path: Path, opts: FormatOptions) -> pl.LazyFrame:
    if opts.mapping_path is None:
        raise FormatError("format mapping needs --mapping FILE")
    m = load_mapping(opts.mapping_path)
    region = None
    if "cell_id" not in m.fields and "cell_id" not in m.constants:
        region = require_region(f"mapping {m.name}", opts, path)
    names = _source_names(path, m)
    absent = sorted(m.source_columns() - set(names))
    if absent:
        raise FormatError(f"{path.name}: columns named in mapping {m.name} are not in the file: {', '.join(absent)}")
    lf = scan_strings(
        path, names=names, has_header=m.header, skip_lines=m.skip_lines, separator=m.delimiter, quote_char=m.quote
    )
    return finish(lf, columns(m, opts), region=region)


def _source_names(path: Path, m: Mapping) -> list[str]:
    lines = head_lines(path, m.skip_lines + 1)
    first = lines[m.skip_lines] if len(lines) > m.skip_lines else ""
    found = split_csv_line(first, m.delimiter) if first else []
    if m.columns is not None:
        if found and len(found) != len(m.columns):
            raise FormatError(f"{path.name}: {len(found)} columns but mapping {m.name} names {len(m.columns)}")
        return list(m.columns)
    return [c.strip() for c in found]


def columns(m: Mapping, opts: FormatOptions) -> dict[str, pl.Expr]:
    """The contract column expressions of a mapping, in contract order."""
    base: dict[str, pl.Expr] = {}
    for name in CONTRACT_COLUMNS:
        if name in m.constants:
            base[name] = pl.lit(m.constants[name], dtype=pl.String)
        elif name in m.fields and not isinstance(m.fields[name], dict):
            base[name] = _source(m.fields[name])
    out: dict[str, pl.Expr] = {}
    direction = _with_values(base["direction"], m.values.get("direction")) if "direction" in base else None
    for name in CONTRACT_COLUMNS:
        spec = m.fields.get(name)
        if isinstance(spec, dict):
            expr = pl.lit(None, dtype=pl.String)
            for side, col in spec.items():
                expr = pl.when(direction == side).then(_source(col)).otherwise(expr)
        elif name in base:
            expr = base[name]
        elif name in ("cell_id", "charge"):
            expr = pl.lit(None, dtype=pl.String)
        else:
            continue
        if name == "direction" and direction is not None:
            out[name] = direction
            continue
        expr = _with_values(expr, m.values.get(name))
        if name == "start_time":
            expr = _time(expr, m, opts)
        out[name] = expr
    return out


def _source(spec: str | list[str]) -> pl.Expr:
    if isinstance(spec, str):
        return pl.col(spec).str.strip_chars()
    return pl.concat_str([pl.col(c).str.strip_chars() for c in spec], separator="-", ignore_nulls=True)


def _with_values(expr: pl.Expr, values: dict[str, str] | None) -> pl.Expr:
    if not values:
        return expr
    table = {k: v for k, v in values.items() if k != "*"}
    mapped = map_values(expr.fill_null(""), table, default=values.get("*"))
    if "" in table or "*" in values:
        return mapped
    return pl.when(expr.is_null()).then(expr).otherwise(mapped)  # empty stays null, not ""


def _time(expr: pl.Expr, m: Mapping, opts: FormatOptions) -> pl.Expr:
    if m.time_formats and m.time_formats[0] in ("epoch", "epoch_ms"):
        return epoch_time(expr, unit="s" if m.time_formats[0] == "epoch" else "ms")
    zone = m.zone if m.zone and m.zone != opts.timezone else None
    return iso_time(expr, m.time_formats, zone=zone)
