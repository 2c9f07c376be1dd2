"""What the month's marketing queries need to know of a UTC window, read in one scan.

:func:`facts` returns, for ``[start_at, end_at)``: the number of calls and texts and of
records (they size the subscriber batches), the raw ``destination_country`` values (the
rating engine's "at home" is decided on them) and the raw record ``plan_id`` values
(resolved to plans on them), from ``marketing_window_facts.sql``.

Each of the indicators, the allowance use, the plan costs and the exceeded months needs
some of these; read apart, they were six scans of the month's records (about 1.5 s each
at 100 M records). Inside a :func:`shared` block they are read once per connection and
window; outside one, every call reads them afresh, so a caller that does not open a
block never sees facts older than its own query.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from analytics import store


@dataclass(frozen=True)
class WindowFacts:
    interactions: int
    records: int
    destinations: tuple[str | None, ...]
    raw_plans: tuple[str, ...]


_SHARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("marketing_window_facts", default=None)


@contextmanager
def shared() -> Iterator[None]:
    """Read each window's facts once inside this block (blocks nest; the outer one rules).

    Only for work that reads a warehouse no one writes meanwhile (a report, a command, the
    marts build after a load): the facts are not re-read when the records change.
    """
    token = _SHARED.set({}) if _SHARED.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _SHARED.reset(token)


def facts(con: duckdb.DuckDBPyConnection, start_at: dt.datetime, end_at: dt.datetime) -> WindowFacts:
    cache = _SHARED.get()
    key = (id(con), start_at, end_at)
    if cache is not None and key in cache:
        return cache[key]
    cur = store.cursor(con)
    try:
        rows = cur.sql(store.sql("marketing_window_facts"), params={"start_at": start_at, "end_at": end_at}).fetchall()
    finally:
        cur.close()
    ((n, records, destinations, raw_plans),) = rows  # an aggregate without group by: one row
    out = WindowFacts(int(n or 0), int(records or 0), tuple(destinations or ()), tuple(raw_plans or ()))
    if cache is not None:
        cache[key] = out
    return out
