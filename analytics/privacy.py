"""Masking and pseudonymisation of subscriber identifiers (numbers, IMSI, IMEI).

* ``mask_expr``: for views of roles that may not see numbers: all but the last 3
  characters replaced by ``*`` (``+447700900123`` -> ``**********123``).
* ``pseudonym_expr``: for marketing exports: a keyed hash (HMAC-SHA256 with the secret
  ``ANALYTICS_HMAC_KEY``), stable across months and files, not reversible without the key.
"""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

from analytics.config import secret

IDENTIFIER_COLUMNS = ("msisdn", "other_party", "imsi", "imei", "correspondent", "number")


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


def mask_frame(df: pl.DataFrame | pl.LazyFrame, columns: tuple[str, ...] = IDENTIFIER_COLUMNS):
    present = [c for c in columns if c in df.collect_schema().names()]
    return df.with_columns(mask_expr(c) for c in present) if present else df
