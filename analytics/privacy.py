"""Masking and pseudonymisation of subscriber identifiers (numbers, IMSI, IMEI).

* ``mask_expr``: for views of roles that may not see numbers: all but the last 3
  characters replaced by ``*`` (``+447700900123`` -> ``**********123``).
* ``pseudonym_expr``: for marketing exports: a keyed hash (HMAC-SHA256 with the secret
  ``ANALYTICS_HMAC_KEY``), stable across months and files, not reversible without the key.
* ``mask_raw_expr``: the quarantine's ``raw`` JSON with its identifier values masked.
* ``protect_export``: an export as a role may take it (clear, pseudonymised or masked).
* ``suppress_small``: k-anonymity for aggregates (groups under k blanked).
* ``check_upload``: size and type of an uploaded extract, before it is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import PurePath

import polars as pl

from analytics.config import secret

IDENTIFIER_COLUMNS = ("msisdn", "other_party", "imsi", "imei", "correspondent", "number", "actor", "raw")


class MissingSecretError(RuntimeError):
    pass


def hmac_key() -> bytes:
    key = secret("hmac_key")
    if not key:
        raise MissingSecretError("set ANALYTICS_HMAC_KEY to export pseudonymised numbers")
    return key.encode("utf-8")


def pseudonym(value: str | None, key: bytes) -> str | None:
    if value is None:
        return None
    return "p_" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def pseudonym_expr(column: str, *, key: bytes | None = None) -> pl.Expr:
    k = key or hmac_key()
    return pl.col(column).map_elements(lambda v: pseudonym(v, k), return_dtype=pl.String)


def mask_expr(column: str, *, keep: int = 3) -> pl.Expr:
    c = pl.col(column).cast(pl.String)
    n = c.str.len_chars()
    return (
        pl.when(n > keep)
        .then(pl.lit("*").repeat_by(n - keep).list.join("") + c.str.slice(-keep))
        .otherwise(c)
        .alias(column)
    )


def mask_frame(df: pl.DataFrame | pl.LazyFrame, columns: tuple[str, ...] | list[str] = IDENTIFIER_COLUMNS):
    """``columns`` of ``df`` masked (``raw`` JSON columns: their identifier values)."""
    names = df.collect_schema().names()
    exprs = [mask_raw_expr(c) if c == "raw" else mask_expr(c) for c in columns if c in names]
    return df.with_columns(exprs) if exprs else df


_DIGITS = re.compile(r"\+?\d[\d ]{3,}\d")


def _mask_text(value: str, keep: int = 3) -> str:
    return "*" * max(len(value) - keep, 0) + value[-keep:] if len(value) > keep else value


def mask_raw(raw: str | None) -> str | None:
    """A quarantined row's raw JSON with identifier values masked; text that is not a JSON
    object gets every run of 5+ digits masked (a bad row must not leak a number either)."""
    if raw is None:
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        return _DIGITS.sub(lambda m: _mask_text(m.group(0)), raw)
    out = {}
    for k, v in obj.items():
        if isinstance(v, str) and (str(k).lower() in IDENTIFIER_COLUMNS or _DIGITS.fullmatch(v.strip() or "-")):
            v = _mask_text(v)
        out[k] = v
    return json.dumps(out, ensure_ascii=False)


def mask_raw_expr(column: str = "raw") -> pl.Expr:
    return pl.col(column).map_elements(mask_raw, return_dtype=pl.String).alias(column)


def protect_export(df: pl.DataFrame, *, mode: str, columns: tuple[str, ...] = IDENTIFIER_COLUMNS) -> pl.DataFrame:
    """An export for a role: ``clear`` unchanged, ``pseudonym`` identifiers replaced by their
    keyed hash (values already pseudonymised, ``p_...``, kept; ``raw`` masked), ``mask`` masked.
    Raises :class:`MissingSecretError` for ``pseudonym`` without ``ANALYTICS_HMAC_KEY``."""
    if mode == "clear":
        return df
    if mode == "mask":
        return mask_frame(df, columns)
    if mode != "pseudonym":
        raise ValueError(f"unknown export mode {mode!r}")
    key = hmac_key()
    exprs = []
    for c in (c for c in columns if c in df.columns):
        if c == "raw":
            exprs.append(mask_raw_expr(c))
            continue
        col = pl.col(c).cast(pl.String)
        exprs.append(pl.when(col.str.starts_with("p_")).then(col).otherwise(pseudonym_expr(c, key=key)).alias(c))
    return df.with_columns(exprs) if exprs else df


def suppress_small(df: pl.DataFrame | pl.LazyFrame, count_col: str, k: int, *, columns: list[str] | None = None):
    """k-anonymity: in rows whose ``count_col`` (distinct subscribers) is under ``k``, set
    ``columns`` (default: every numeric column) to null; the rows stay, so a grid keeps its
    shape and a blank says "suppressed", not "zero"."""
    schema = df.collect_schema()
    cols = columns if columns is not None else [c for c, t in schema.items() if t.is_numeric()]
    small = pl.col(count_col) < k
    return df.with_columns(pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in cols if c in schema)


class UploadRefused(ValueError):
    """An uploaded file refused before it is stored (one-line reason)."""


UPLOAD_SUFFIXES = (".csv", ".csv.gz", ".parquet")
_MAGIC = {".csv.gz": (b"\x1f\x8b",), ".parquet": (b"PAR1",)}


def check_upload(name: str, data: bytes, *, max_mb: float, suffixes: tuple[str, ...] = UPLOAD_SUFFIXES) -> str:
    """A safe file name for an upload, or :class:`UploadRefused`: the name ends with an
    allowed suffix, the size is within ``max_mb``, and the bytes match the type (gzip and
    Parquet magic numbers; CSV: UTF-8 text without NUL bytes in its first 64 KiB)."""
    base = PurePath(name.replace("\\", "/")).name
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "upload"
    suffix = next((s for s in sorted(suffixes, key=len, reverse=True) if safe.lower().endswith(s)), None)
    if suffix is None:
        raise UploadRefused(f"{base}: not an extract ({', '.join(suffixes)} expected)")
    if len(data) > max_mb * 1_000_000:
        raise UploadRefused(f"{base}: {len(data) / 1e6:.1f} MB is over the {max_mb:g} MB limit")
    if not data:
        raise UploadRefused(f"{base}: the file is empty")
    if suffix in _MAGIC:
        if not data.startswith(_MAGIC[suffix]):
            raise UploadRefused(f"{base}: the content is not {suffix[1:]}")
        return safe
    head = data[:65536]
    if b"\x00" in head:
        raise UploadRefused(f"{base}: the content is binary, not CSV text")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut by the 64 KiB window is fine
            raise UploadRefused(f"{base}: the content is not UTF-8 text") from exc
    return safe
