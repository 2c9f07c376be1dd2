"""Reading v1 extract files (CSV, ``.csv.gz``, Parquet).

CSV columns come out as ``pl.String`` (validation types them); Parquet columns keep
their types. Both carry ``source_line``: the 1-based physical line of the row in the
(decompressed) file, the header being line 1; Parquet rows are numbered from 1.

A CSV is read as lines, never as quoted CSV by Polars' parser: a stray or unterminated
quote there failed the whole file ("CSV malformed"). Each line is split into fields in
Polars (a plain ``,`` split for lines without quotes; an RFC 4180 pattern for lines with
them), and a line whose quoting is broken or whose field count differs from the
header's carries ``_malformed`` (a one-line detail without the values): validation
quarantines it as ``malformed_row``. A quoted field holding a line break is therefore
not supported: both of its lines are quarantined as ``malformed_row``.

A gzip file is decompressed by Polars as it reads; no plaintext copy is written
anywhere (the previous temp-folder copy outlived a killed load).

Garbage is refused before anything is written, with a one-line :class:`RefusedFile`
(:func:`screen`): an empty file (a header with no rows is *not* garbage: it loads zero
rows), a truncated or corrupt gzip, UTF-16 text, Parquet bytes named ``.csv``, other
binary content (NUL bytes), a header longer than ``MAX_HEADER_BYTES`` or any line longer
than ``MAX_LINE_BYTES``: checked in a streaming pass of bounded memory, so a 2 GB file
without a line break is refused after reading it once, in a few MiB. A header naming a
column twice is refused. A stray non-UTF-8 byte is read lossily and the row is
quarantined (``bad_encoding:<column>``) by validation.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
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
# A v1 row is a few hundred bytes: these caps only stop hostile files early.
MAX_HEADER_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024
_BLOCK = 4 * 1024 * 1024
# One CSV field, RFC 4180: quoted (a doubled quote inside) or without any quote or comma.
_FIELD = r'(?:"(?:[^"]|"")*"|[^",]*)'
_ROW_OK = rf"^{_FIELD}(?:,{_FIELD})*$"
_LINE_SEPARATOR = "\x1f"  # never a field separator of ours: a line holding it is malformed


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


def is_gzip(path: Path) -> bool:
    return _head(path, 2) == GZIP_MAGIC


@contextmanager
def _text_bytes(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed (streaming) when it is gzip; a truncated or corrupt
    gzip raises :class:`RefusedFile` while it is read."""
    if not is_gzip(path):
        if path.name.lower().endswith(".gz"):
            raise RefusedFile(f"{path.name}: not a gzip file although named .gz")
        with path.open("rb") as fh:
            yield fh
        return
    try:
        with gzip.open(path, "rb") as fh:
            yield fh  # type: ignore[misc]
    except (EOFError, OSError, zlib.error) as exc:
        raise RefusedFile(f"{path.name}: truncated or corrupt gzip ({exc})") from exc


def _sniff(name: str, head: bytes) -> None:
    """Refuse content that is not comma-separated UTF-8 text, saying what it is."""
    if not head.strip():
        raise RefusedFile(f"{name}: empty file (no header row)")
    if head.startswith(PARQUET_MAGIC):
        raise RefusedFile(f"{name}: Parquet content in a file named like CSV; name it .parquet")
    sample = head[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        len(sample) >= 4 and (sample[1::2].count(0) > len(sample) // 4 or sample[0::2].count(0) > len(sample) // 4)
    ):
        raise RefusedFile(f"{name}: UTF-16 text: re-encode as UTF-8")
    if b"\x00" in head:
        raise RefusedFile(f"{name}: binary content (NUL bytes), not CSV text")


@dataclass(frozen=True)
class TextStats:
    """What :func:`screen` saw of a text file: its lines and whether any ``"`` occurs."""

    lines: int
    quotes: bool


def screen(path: Path) -> TextStats | None:
    """Refuse a text extract (CSV of any format, plain or gzip) that cannot be read safely.

    One streaming pass in bounded memory: content sniffing on the first block, the length
    of the header and of every line, and (for gzip) the integrity of the whole stream.
    Parquet files are left to their reader (None). ``OSError`` (a directory, no
    permission) is the caller's to report. The result is remembered per path, size and
    modification time: ingest screens before detecting the format, the v1 reader again.
    """
    if is_parquet(path):
        return None
    with path.open("rb"):  # a directory or an unreadable file raises here, before any sniffing
        pass
    st = path.stat()
    if st.st_size == 0:
        raise RefusedFile(f"{path.name}: empty file (no header row)")
    return _screen(path, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _screen(path: Path, size: int, mtime_ns: int) -> TextStats:  # noqa: ARG001 (cache key)
    quotes = 0
    with _text_bytes(path) as fh:
        try:
            first = fh.read(_BLOCK)
        except (EOFError, OSError, zlib.error) as exc:
            raise RefusedFile(f"{path.name}: truncated or corrupt gzip ({exc})") from exc
        _sniff(path.name, first[:65536])  # a NUL further on is a bad value in some row, not a binary file
        header_end = first.find(b"\n")
        if header_end < 0 and len(first) > MAX_HEADER_BYTES or header_end > MAX_HEADER_BYTES:
            raise RefusedFile(
                f"{path.name}: header longer than {MAX_HEADER_BYTES:,} bytes (no line break?); not a CDR extract"
            )
        line_no, run, block = 1, 0, first  # run: bytes of the current line so far
        while block:
            quotes += block.count(b'"')
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            if ends.size:
                lengths = np.diff(ends, prepend=-1) - 1
                lengths[0] += run
                longest = int(np.argmax(lengths))
                if lengths[longest] > MAX_LINE_BYTES:
                    raise RefusedFile(_too_long(path, line_no + longest))
                line_no += ends.size
                run = len(block) - int(ends[-1]) - 1
            else:
                run += len(block)
            if run > MAX_LINE_BYTES:
                raise RefusedFile(_too_long(path, line_no))
            try:
                block = fh.read(_BLOCK)
            except (EOFError, OSError, zlib.error) as exc:
                raise RefusedFile(f"{path.name}: truncated or corrupt gzip ({exc})") from exc
    return TextStats(lines=line_no - (run == 0), quotes=quotes > 0)


def _too_long(path: Path, line: int) -> str:
    return f"{path.name}: line {line:,} is longer than {MAX_LINE_BYTES:,} bytes (no line break?); not a CDR extract"


def header_line(path: Path) -> str:
    """The first line of a CSV (plain or gzip), at most ``MAX_HEADER_BYTES``, decoded lossily."""
    with _text_bytes(path) as fh:
        try:
            raw = fh.readline(MAX_HEADER_BYTES + 1)
        except (EOFError, OSError, zlib.error) as exc:
            raise RefusedFile(f"{path.name}: truncated or corrupt gzip ({exc})") from exc
    if len(raw) > MAX_HEADER_BYTES:
        raise RefusedFile(
            f"{path.name}: header longer than {MAX_HEADER_BYTES:,} bytes (no line break?); not a CDR extract"
        )
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def header_columns(path: Path) -> list[str]:
    """The normalised header of a CSV (plain or gzip) or the columns of a Parquet file."""
    if is_parquet(path):
        return [normalise_header(c) for c in pl.read_parquet_schema(path)]
    return [normalise_header(c) for c in next(csv.reader([header_line(path)]), [])]


def is_parquet(path: Path) -> bool:
    return (
        path.suffix.lower() in {".parquet", ".pq"}
        or _head(path, 4) == PARQUET_MAGIC
        and not path.name.endswith((".csv", ".csv.gz"))
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
    _refuse_duplicates(path, [normalise_header(n) for n in schema])
    return lf.select(exprs).with_row_index("source_line", offset=1).with_columns(pl.col("source_line").cast(pl.Int64))


def missing_required(columns: list[str], required: tuple[str, ...] = REQUIRED) -> list[str]:
    present = set(columns)
    return [c for c in required if c not in present]


def _refuse_duplicates(path: Path, columns: list[str]) -> None:
    seen: set[str] = set()
    twice = sorted({c for c in columns if c and (c in seen or seen.add(c))})  # type: ignore[func-returns-value]
    if twice:
        raise RefusedFile(f"{path.name}: header names a column more than once: {', '.join(twice)}")


def csv_fields(path: Path, names: list[str], *, quotes: bool = True) -> pl.LazyFrame:
    """The data lines of a comma-separated file as string columns ``names`` plus
    ``source_line`` and ``_malformed`` (null, or why the line is not a row of ``names``).

    Lines are read whole (no quoting rules that can fail) and split here; blank lines are
    skipped. Quoted fields lose their quotes and a doubled quote inside becomes one.
    ``quotes=False`` (the file holds no ``"`` at all, as :func:`screen` counts) takes only
    the plain split.
    """
    width = len(names)
    lines = _lines(path)
    line = pl.col("_line")
    # One field more than the header: non-null when the line has too many fields.
    split_names = [*names, "_extra"]
    quoted = line.str.contains('"', literal=True) if quotes else pl.lit(False)
    well_quoted = quoted & line.str.contains(_ROW_OK) if quotes else pl.lit(False)
    plain = (pl.when(~well_quoted).then(line) if quotes else line).str.split_exact(",", width)
    frame = lines.filter((pl.col("source_line") > 1) & line.is_not_null()).with_columns(
        _quoted=quoted, _well_quoted=well_quoted, _split=plain.struct.rename_fields(split_names)
    )
    if quotes:
        # Lines with quotes (only those: the others see a null) through the RFC 4180 pattern.
        field = pl.element().str.strip_prefix(",")
        unquoted = (
            pl.when(field.str.starts_with('"'))
            .then(field.str.slice(1, field.str.len_chars() - 2).str.replace_all('""', '"'))
            .otherwise(field)
        )
        rfc = (pl.lit(",") + pl.when(well_quoted).then(line)).str.extract_all(rf",{_FIELD}").list.eval(unquoted)
        frame = frame.with_columns(_rfc=rfc)
        values = [
            pl.coalesce(pl.col("_rfc").list.get(i, null_on_oob=True), pl.col("_split").struct.field(n)).alias(n)
            for i, n in enumerate(split_names)
        ]
        count = pl.when(pl.col("_well_quoted")).then(pl.col("_rfc").list.len())
    else:
        values = [pl.col("_split").struct.field(n).alias(n) for n in split_names]
        count = pl.lit(None, pl.UInt32)
    frame = frame.select(*values, "source_line", "_quoted", "_well_quoted", "_rest", _count=count)
    malformed = (
        pl.when(pl.col("_rest").is_not_null())
        .then(pl.lit("control character \\x1f in the line"))
        .when(pl.col("_quoted") & ~pl.col("_well_quoted"))
        .then(pl.lit("unbalanced or stray quote"))
        .when(pl.col("_count").is_not_null() & (pl.col("_count") != width))
        .then(pl.format("{} fields where the header has {}", pl.col("_count"), pl.lit(width)))
        .when(pl.col("_extra").is_not_null())
        .then(pl.lit(f"more fields than the header's {width}"))
        .when(pl.col(names[-1]).is_null())
        .then(pl.lit(f"fewer fields than the header's {width}"))
    )
    return frame.select(*names, pl.col("source_line").cast(pl.Int64), malformed.alias("_malformed"))


def _lines(path: Path) -> pl.LazyFrame:
    """The file's physical lines (``_line``, null when blank; ``_rest`` non-null when the
    line holds the control character \\x1f) numbered from 1 as ``source_line``."""
    return pl.scan_csv(
        path,
        has_header=False,
        separator=_LINE_SEPARATOR,
        quote_char=None,
        schema={"_line": pl.String, "_rest": pl.String},
        missing_columns="insert",
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        raise_if_empty=False,
        row_index_name="source_line",
        row_index_offset=1,
    )


def _every_line_a_row(path: Path, width: int) -> bool:
    """Whether every data line is a well-quoted row of exactly ``width`` fields (no blank
    line, no line break inside quotes): then Polars' own CSV parser reads the file with the
    same values and physical line numbers as :func:`csv_fields`, much faster for quotes."""
    row = rf"^(?:{_FIELD},){{{width - 1}}}{_FIELD}$"
    line = pl.col("_line")
    bad = (
        _lines(path)
        .filter(pl.col("source_line") > 1)
        .select((line.is_null() | pl.col("_rest").is_not_null() | ~line.str.contains(row)).any())
        .collect(engine="streaming")
    )
    return not bad.item()


def _quoted_csv(path: Path, names: list[str]) -> pl.LazyFrame:
    """A file that :func:`_every_line_a_row` passed, through Polars' CSV parser."""
    return pl.scan_csv(
        path,
        new_columns=names,
        infer_schema=False,
        encoding="utf8-lossy",
        empty_string_is_null=False,
        row_index_name="source_line",
        row_index_offset=2,
    ).select(*names, pl.col("source_line").cast(pl.Int64), pl.lit(None, pl.String).alias("_malformed"))


@contextmanager
def open_v1(path: Path) -> Iterator[pl.LazyFrame]:
    """A lazy frame of the file's contract columns as strings, plus ``source_line`` (and,
    for CSV, ``_malformed``: see :func:`csv_fields`).

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
    stats = screen(path)
    columns = header_columns(path)
    _refuse_duplicates(path, columns)
    _require(path, columns)
    # a header ending in commas (spreadsheet exports) has unnamed columns: kept apart, unused
    names = [c or f"_unnamed_{i}" for i, c in enumerate(columns)]
    if stats is not None and stats.quotes and _every_line_a_row(path, len(names)):
        yield _quoted_csv(path, names)  # the common quoted file: Polars' CSV parser is 8x faster
    else:
        yield csv_fields(path, names, quotes=stats is None or stats.quotes)


def _require(path: Path, columns: list[str]) -> None:
    missing = missing_required(columns)
    if missing:
        raise RefusedFile(f"{path.name}: missing columns: {', '.join(missing)}; expected by cdr-extract v1")
