"""Behavioural indicators per subscriber with the definitions of bandicoot 0.6.

Grain of the result: one row per ``msisdn`` with at least one voice or sms record in the
window (a month in the configured zone, or the whole loaded period), no weekly or
hourly split (bandicoot's ``groupby=None``, ``allweek``/``allday``). Computed in bulk by
one DuckDB query over all subscribers (``analytics/sql/marketing_indicators.sql``).

Mapping onto bandicoot's records (cdr-extract v1 contract): a *call* is a ``voice``
record, a *text* an ``sms`` record (``mms``, data, voip and video records are not
bandicoot interactions and count in none of these indicators); every voice record is an
interaction whatever its disposition (bandicoot has no notion of an unanswered call: a
missed call is a record with ``duration_s`` 0); the correspondent is ``other_party``;
the antenna is ``cell_id`` with its ``cells.lat/lon``; times are local times in
``settings().timezone``; records are ordered by ``start_at`` then ``record_id``.

Definitions (bandicoot 0.6, ``bandicoot/individual.py``, ``spatial.py``, ``helper/``):

* ``active_days``: distinct local calendar dates with a call or a text.
* ``number_of_contacts_{call,text}``: distinct correspondents of that interaction.
* ``number_of_interactions_{call,text}``: records of that interaction (both directions).
* ``call_duration_mean`` / ``call_duration_std``: mean and **population** standard
  deviation (divide by n; 0 for a single call) of ``duration_s`` over all calls, both
  directions, missed calls included with 0 s.
* ``percent_nocturnal_{call,text}``: share of records whose local time of day ``t`` is
  at night, bandicoot's ``not (07:00 < t < 19:00)``: both 07:00:00 and 19:00:00 count
  as night.
* ``percent_initiated_interactions_call``: share of calls with direction ``out``.
* ``entropy_of_contacts_{call,text}``: Shannon entropy, natural log, of the number of
  records per correspondent (``-sum p ln p``; 0 for one correspondent).
* Spatial indicators use bandicoot's *positions*: calls and texts together, cut into
  chunks of consecutive records sharing the key (year, day of month, hour,
  minute // 30) of their local time (bandicoot's key has no month: two consecutive
  records exactly a month apart share a chunk, as in bandicoot); each chunk gives one
  position, its most frequent antenna, ties going to the antenna seen first. A record
  without a cell (roaming) has the empty antenna, which bandicoot counts as one
  position like any other (it equals every other empty position).
* ``number_of_antennas``: distinct antennas among the positions.
* ``entropy_of_antennas``: natural-log entropy of the positions per antenna.
* ``radius_of_gyration`` (km): over the positions whose antenna has a location, weights
  t per (lat, lon); barycenter = the weighted mean of latitudes and of longitudes (in
  degrees); ``sqrt(sum t/W * d(barycenter, p)^2)`` with d the haversine great-circle
  distance on a sphere of radius 6371 km. Null when no position has a location.

An indicator whose interaction has no record in the window is null, as bandicoot
returns ``None`` for an empty group (e.g. ``number_of_interactions_text`` of a user
without texts); a subscriber with only data records has no row here.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from analytics import store
from analytics.calendar import month_bounds
from analytics.config import settings
from analytics.marketing import window
from analytics.marketing.settings import marketing_settings

log = logging.getLogger(__name__)

INDICATOR_SCHEMA = pl.Schema(
    {
        "msisdn": pl.String,
        "active_days": pl.Int64,
        "number_of_contacts_call": pl.Int64,
        "number_of_contacts_text": pl.Int64,
        "number_of_interactions_call": pl.Int64,
        "number_of_interactions_text": pl.Int64,
        "call_duration_mean": pl.Float64,
        "call_duration_std": pl.Float64,
        "percent_nocturnal_call": pl.Float64,
        "percent_nocturnal_text": pl.Float64,
        "percent_initiated_interactions_call": pl.Float64,
        "entropy_of_contacts_call": pl.Float64,
        "entropy_of_contacts_text": pl.Float64,
        "number_of_antennas": pl.Int64,
        "entropy_of_antennas": pl.Float64,
        "radius_of_gyration": pl.Float64,
    }
)
INDICATORS = tuple(INDICATOR_SCHEMA.names()[1:])


def _offset(at: dt.datetime, zone: ZoneInfo) -> dt.timedelta:
    return at.replace(tzinfo=dt.UTC).astimezone(zone).utcoffset() or dt.timedelta(0)


def local_clock(start_at: dt.datetime | None, end_at: dt.datetime | None, *, timezone: str) -> dict[str, Any]:
    """Parameters of the ``marketing_local_at`` fragment for the UTC window ``[start_at, end_at)``.

    The zone's UTC offset over the window as up to three constant segments (cut points at the
    exact second of each change, found by bisection between 15-minute probes): local time is
    then ``start_at + offset``, exactly what ICU gives, without ICU's per-row cost. An open
    window, or one with more than two changes, gets null cut points (ICU converts each row).
    ``monotone`` (not a parameter): local time never goes back in the window (no DST
    fall-back), so local 30-minute chunks follow the record order.
    """
    out: dict[str, Any] = {"tz": timezone, "local_cut_1": None, "local_cut_2": None}
    out |= {f"local_offset_{i}": dt.timedelta(0) for i in range(3)}
    if start_at is None or end_at is None:
        return out | {"monotone": False}
    zone, step = ZoneInfo(timezone), dt.timedelta(minutes=15)
    offsets, cuts = [_offset(start_at, zone)], []
    at = start_at
    while at < end_at:
        nxt = min(at + step, end_at)
        if _offset(nxt, zone) != offsets[-1]:
            lo, hi = at, nxt  # offset(lo) == offsets[-1] != offset(hi)
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0) if mid.replace(microsecond=0) > lo else mid
                lo, hi = (mid, hi) if _offset(mid, zone) == offsets[-1] else (lo, mid)
            cuts.append(hi)
            offsets.append(_offset(hi, zone))
        at = nxt
    monotone = all(b >= a for a, b in zip(offsets, offsets[1:], strict=False))
    if len(offsets) > 3:
        return out | {"monotone": monotone}
    cuts += [end_at] * (2 - len(cuts))
    offsets += [offsets[-1]] * (3 - len(offsets))
    out |= {"local_cut_1": cuts[0], "local_cut_2": cuts[1]}
    out |= {f"local_offset_{i}": off for i, off in enumerate(offsets)}
    return out | {"monotone": monotone}


def clock_params(clock: dict[str, Any]) -> dict[str, Any]:
    """:func:`local_clock`'s query parameters (without ``monotone``)."""
    return {k: v for k, v in clock.items() if k != "monotone"}


def latest_month(con: duckdb.DuckDBPyConnection, *, timezone: str | None = None) -> dt.date | None:
    """First day of the local month of the latest loaded record, or None without records."""
    tz = timezone or settings().timezone
    df = store.fetch(con, "@marketing_latest_month", {"tz": tz})
    return df["m"][0]


def msisdn_batches(
    con: duckdb.DuckDBPyConnection,
    start_at: dt.datetime,
    end_at: dt.datetime,
    *,
    batch_records: int,
    calls_and_texts: bool = True,
) -> list[tuple[str | None, str | None]]:
    """``[from, to)`` msisdn ranges (None = unbounded) holding about ``batch_records`` calls
    and texts (or records of any service) of the window each, cut at quantiles of
    ``subscribers``; one unbounded range when the window is small (or no subscriber is
    known). The ranges cover every msisdn."""
    known = window.facts(con, start_at, end_at)
    n = known.interactions if calls_and_texts else known.records
    k = -(-n // max(batch_records, 1))
    if k <= 1:
        return [(None, None)]
    fractions = [i / k for i in range(1, k)]
    cuts = store.fetch(con, "@marketing_msisdn_cuts", {"quantiles": fractions})
    points = sorted({c for c in (cuts["cuts"].to_list()[0] or []) if c is not None})
    bounds: list[str | None] = [None, *points, None]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def bandicoot_indicators(
    con: duckdb.DuckDBPyConnection,
    *,
    month: dt.date | None = None,
    timezone: str | None = None,
    batch_records: int | None = None,
    key_bits: int = 64,
) -> pl.DataFrame:
    """The bandicoot indicators of every subscriber for ``month`` (None: whole period).

    A month is computed in batches of subscribers (msisdn ranges) of about ``batch_records``
    calls and texts each (default ``[marketing] indicator_batch_records``): the query's
    per-(msisdn, chunk) and per-(msisdn, correspondent) hash tables of 100 M records do not
    fit the warehouse's memory cap and spilled them (1.5x the CPU of batches, measured).
    ``key_bits``: width of the subscriber hash key of a month's batches (see
    :func:`_month_batch`); fewer than 64 only to make tests collide.
    """
    tz = timezone or settings().timezone
    start_at, end_at = month_bounds(month, tz) if month else (None, None)
    clock = local_clock(start_at, end_at, timezone=tz)
    if clock["monotone"] and start_at is not None and end_at is not None:
        # one month whose local time never goes back: the chunks are the local half-hours
        size = batch_records or marketing_settings().indicator_batch_records
        params = clock_params(clock) | {"start_at": start_at, "end_at": end_at}
        batches = msisdn_batches(con, start_at, end_at, batch_records=size)
        parts = [
            _month_batch(con, params | {"msisdn_from": lo, "msisdn_to": hi}, key_bits=key_bits) for lo, hi in batches
        ]
        df = pl.concat([conform(p, INDICATOR_SCHEMA) for p in parts])  # ranges in order: sorted
    else:
        params = {"tz": tz, "start_at": start_at, "end_at": end_at, "msisdn_from": None, "msisdn_to": None}
        df = conform(store.fetch(con, "@marketing_indicators", params), INDICATOR_SCHEMA)
        batches = [(None, None)]
    log.info("bandicoot indicators: %d subscribers (month %s, %d batches)", df.height, month or "all", len(batches))
    return df


def _month_batch(con: duckdb.DuckDBPyConnection, params: dict[str, Any], *, key_bits: int = 64) -> pl.DataFrame:
    """One batch of ``marketing_indicators_month.sql``, which groups subscribers on a hash of
    the msisdn (``key_bits`` wide; fewer only in tests): with another seed while two msisdns
    of the batch share a key, then, after three such seeds, with the general query, which
    keys on the msisdn itself (same values, slower)."""
    for seed in range(1, 4):
        df = store.fetch(con, "@marketing_indicators_month", params | {"key_seed": seed, "key_shift": 64 - key_bits})
        if not df["collided"].any():
            return df.drop("collided")
        log.warning("indicators: two msisdns share a hash key (seed %d), running the batch again", seed)
    general = {k: params[k] for k in ("tz", "start_at", "end_at", "msisdn_from", "msisdn_to")}
    return store.fetch(con, "@marketing_indicators", general)


def conform(df: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """``df`` with exactly ``schema``'s columns and types (an empty result keeps its schema)."""
    if df.height == 0:
        return pl.DataFrame(schema=schema)
    return df.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
