"""Local calendar months: parsing, shifting, UTC bounds, and the months that hold records.

A month is represented by the date of its first day. Records are stored in UTC; a local
month (``[general] timezone`` unless a caller names another zone) is the UTC-naive
interval ``[month_bounds(m)[0], month_bounds(m)[1])``, DST-aware.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import duckdb

from analytics import store
from analytics.config import settings

MONTH_RE = re.compile(r"^\s*(\d{4})-(0[1-9]|1[0-2])\s*$")


def parse_month(text: str | dt.date) -> dt.date:
    """``YYYY-MM`` (or any date in the month) -> the month's first day.

    ValueError names the expected form; the CLI turns it into its one-line error.
    """
    if isinstance(text, dt.date):
        return text.replace(day=1)
    m = MONTH_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"bad month {text!r}: expected YYYY-MM")
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def shift_month(month: dt.date, n: int) -> dt.date:
    """The first day of the month ``n`` months after (before, for n < 0) ``month``'s."""
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def next_month(month: dt.date) -> dt.date:
    return shift_month(month, 1)


def month_bounds(month: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """UTC-naive ``[start, end)`` instants of the local calendar month of ``month``."""
    zone = ZoneInfo(timezone)

    def utc(d: dt.date) -> dt.datetime:
        return dt.datetime(d.year, d.month, 1, tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)

    return utc(month), utc(next_month(month))


def local_month(at: dt.datetime, timezone: str) -> dt.date:
    """The local month (first day) of a UTC-naive instant."""
    return at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone)).date().replace(day=1)


def record_months(con: duckdb.DuckDBPyConnection, *, timezone: str | None = None) -> list[dt.date]:
    """Local calendar months holding at least one record, oldest first.

    The candidates come from the lake's per-file first/last instants (no scan of records);
    each is confirmed against ``records`` with constant bounds, so DuckDB reads only the
    row groups of that month.
    """
    tz = timezone or settings().timezone
    first_at, last_at = store.fetch(con, "@calendar_record_bounds").row(0)
    if first_at is None:
        return []
    months, month = [], local_month(first_at, tz)
    while month <= local_month(last_at, tz):
        if store.fetch(con, "@calendar_month_has_records", {"month": month, "tz": tz})["has_records"][0]:
            months.append(month)
        month = next_month(month)
    return months
