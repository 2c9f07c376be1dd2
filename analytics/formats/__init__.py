"""Source formats: real switch/PBX CDR layouts mapped onto cdr-extract v1.

``ingest --format NAME`` (or detection when it is omitted) reads a file through
``read(path, fmt, opts)``: a lazy frame of the contract's column names as strings plus
``source_line`` (and ``region`` for formats that carry no cell). Readers map layouts,
enums and times; they never validate: ingest validates, quarantines and de-duplicates
exactly as for v1 files. See docs/formats.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType

import polars as pl

from analytics.formats import asterisk, bandicoot, cucm, freeswitch, mapping
from analytics.formats._common import REQUIRED, FormatError, FormatOptions, head_lines, split_csv_line

__all__ = ["FORMATS", "FormatError", "FormatOptions", "detect", "has_charge", "read", "read_cells"]

log = logging.getLogger(__name__)

FORMATS: dict[str, ModuleType] = {
    "asterisk": asterisk,
    "freeswitch": freeswitch,
    "cucm": cucm,
    "bandicoot": bandicoot,
    "mapping": mapping,
}
# Detection order: header-carrying layouts first, then headerless ones by shape.
_SNIFFED = ("cucm", "bandicoot", "freeswitch", "asterisk")
KNOWN = ("v1", *FORMATS)


def detect(path: Path) -> str:
    """The format of ``path`` from its first lines: "v1" or a key of FORMATS.

    Client layouts (``mapping``) cannot be recognised: they need ``--mapping FILE``.
    """
    if path.suffix.lower() in {".parquet", ".pq"}:
        return "v1"
    lines = [ln for ln in head_lines(path, 3)]
    if not lines or not "".join(lines).strip():
        raise FormatError(f"{path.name}: empty file; known formats: {', '.join(KNOWN)}")
    header = {c.replace("\ufeff", "").strip().lower() for c in split_csv_line(lines[0])}
    if set(REQUIRED) <= header:
        return "v1"
    for name in _SNIFFED:
        if FORMATS[name].sniff(lines):
            log.info("%s: detected format %s", path.name, name)
            return name
    other = _other_separator(lines[0])
    if other:
        raise FormatError(
            f"{path.name}: {other}-separated, not comma-separated: use --mapping FILE "
            f"(with [source] delimiter), or re-export it with commas"
        )
    raise FormatError(
        f"{path.name}: unrecognised layout ({len(split_csv_line(lines[0]))} columns); known formats: "
        f"{', '.join(KNOWN)}; give --format NAME, or --mapping FILE for a client layout"
    )


_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _other_separator(header: str) -> str | None:
    """The name of the separator a header uses instead of commas, if it plainly does."""
    counts = {name: header.count(sep) for sep, name in _SEPARATORS.items()}
    name, n = max(counts.items(), key=lambda kv: kv[1])
    return name if n >= 2 and n > header.count(",") else None


def read(path: Path, fmt: str, opts: FormatOptions | None = None) -> pl.LazyFrame:
    """The file's rows as contract columns (strings) plus ``source_line`` (and ``region``)."""
    opts = opts or FormatOptions()
    module = FORMATS.get(fmt)
    if module is None:
        raise FormatError(f"unknown format {fmt!r}; known formats: {', '.join(KNOWN)}")
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    return module.read(path, opts)


def has_charge(fmt: str, opts: FormatOptions) -> bool:
    """Whether records of this format (and mapping) carry a billed charge."""
    if fmt == "v1":
        return True
    if fmt == "mapping":
        return mapping.has_charge(opts)
    return bool(FORMATS[fmt].HAS_CHARGE)


def read_cells(path: Path, fmt: str, opts: FormatOptions | None = None) -> pl.DataFrame | None:
    """The ``--cells`` file of a format whose cells are not in the v1 layout, else None."""
    opts = opts or FormatOptions()
    if fmt == "bandicoot":
        return bandicoot.read_cells(path, opts)
    return None
