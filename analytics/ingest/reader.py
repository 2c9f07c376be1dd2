"""Reading v1 extract files (CSV, ``.csv.gz``, Parquet).

CSV columns come out as ``pl.String`` (validation types them); Parquet columns keep
their types. Both carry ``source_line``:
the 1-based line of the row in the (decompressed) file, the header being line 1. A
quoted field holding a line break makes later line numbers count rows, not physical
lines (documented in the README).

Garbage is refused before anything is written, with a one-line :class:`RefusedFile`:
an empty file, a header with no rows is *not* garbage (it loads zero rows), a
truncated or corrupt gzip, a binary file (NUL bytes, or Parquet bytes named ``.csv``).
A stray non-UTF-8 byte is read lossily and the row is quarantined
(``bad_encoding:<column>``) by validation.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

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
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"


class RefusedFile(ValueError):
    """A file refused whole; the message is the one-line reason."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _head(path: Path, n: int = 65536) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def normalise_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


@contextmanager
def _plain_csv(path: Path) -> Iterator[Path]:
    """The path of an uncompressed copy of ``path`` (itself when not gzipped)."""
    head = _head(path, 4)
    if not head.startswith(GZIP_MAGIC):
        if path.name.endswith(".gz"):
            raise RefusedFile(f"{path.name}: not a gzip file although named .gz")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="cdr-gunzip-") as tmp:
        out = Path(tmp) / path.name.removesuffix(".gz")
        try:
            with gzip.open(path, "rb") as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
        except (EOFError, OSError, zlib.error) as exc:
            raise RefusedFile(f"{path.name}: truncated or corrupt gzip ({exc})") from exc
        yield out


def _check_text(path: Path) -> None:
    head = _head(path)
    if not head.strip():
        raise RefusedFile(f"{path.name}: empty file (no header row)")
    if head.startswith(PARQUET_MAGIC):
        raise RefusedFile(f"{path.name}: Parquet content in a file named like CSV; name it .parquet")
    if b"\x00" in head:
        raise RefusedFile(f"{path.name}: binary content (NUL bytes), not CSV text")


def header_columns(path: Path) -> list[str]:
    """The normalised header of a CSV (plain or gzip) or the columns of a Parquet file."""
    if is_parquet(path):
        return [normalise_header(c) for c in pl.read_parquet_schema(path)]
    opener = gzip.open if _head(path, 2) == GZIP_MAGIC else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            line = fh.readline()
    except (EOFError, OSError, zlib.error) as exc:
        raise RefusedFile(f"{path.name}: truncated or corrupt gzip ({exc})") from exc
    return [normalise_header(c.strip('"')) for c in line.rstrip("\r\n").split(",")]


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"} or _head(path, 4) == PARQUET_MAGIC and not path.name.endswith(
        (".csv", ".csv.gz")
    )


def _parquet_frame(path: Path) -> pl.LazyFrame:
    """The Parquet file's columns under normalised names, keeping their types (validation
    takes typed start_time, numbers and booleans as they are) plus ``source_line``."""
    try:
        lf = pl.scan_parquet(path)
        schema = lf.collect_schema()
    except Exception as exc:  # polars raises several error types for corrupt files
        raise RefusedFile(f"{path.name}: unreadable Parquet ({str(exc).splitlines()[0]})") from exc
    exprs = []
    for name, dtype in schema.items():
        col = pl.col(name)
        if isinstance(dtype, (pl.Categorical, pl.Enum)):
            col = col.cast(pl.String)
        exprs.append(col.alias(normalise_header(name)))
    return lf.select(exprs).with_row_index("source_line", offset=1).with_columns(pl.col("source_line").cast(pl.Int64))


def missing_required(columns: list[str], required: tuple[str, ...] = REQUIRED) -> list[str]:
    present = set(columns)
    return [c for c in required if c not in present]


@contextmanager
def open_v1(path: Path) -> Iterator[pl.LazyFrame]:
    """A lazy frame of the file's contract columns as strings, plus ``source_line``.

    Raises :class:`RefusedFile` for garbage or a header missing required columns.
    """
    if not path.exists():
        raise RefusedFile(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise RefusedFile(f"{path.name}: empty file (no header row)")
    if is_parquet(path):
        lf = _parquet_frame(path)
        _require(path, lf.collect_schema().names())
        yield lf
        return
    with _plain_csv(path) as plain:
        _check_text(plain)
        columns = header_columns(plain)
        _require(path, columns)
        lf = pl.scan_csv(
            plain,
            infer_schema=False,
            encoding="utf8-lossy",
            truncate_ragged_lines=True,
            row_index_name="source_line",
            row_index_offset=2,
        )
        names = lf.collect_schema().names()
        renames = {n: normalise_header(n) for n in names if n != "source_line"}
        lf = lf.rename(renames).with_columns(pl.col("source_line").cast(pl.Int64))
        yield lf


def _require(path: Path, columns: list[str]) -> None:
    missing = missing_required(columns)
    if missing:
        raise RefusedFile(f"{path.name}: missing columns: {', '.join(missing)}; expected by cdr-extract v1")
