"""Usage spike detector (bill shock, account takeover, a stolen or resold line's data).

Signature: a line's daily usage far above what it usually does, or (for a line with too
little history) what its peer group usually does. Per local day and metric (``voice_min``
outgoing connected minutes, ``texts`` outgoing sms+mms, ``data_mb`` data/voip/video volume):

* own level: the line's usual high day, the k-th largest of its calendar days (no records =
  0) in the ``baseline_days`` before, k = ceil((1 - ``own_quantile``) * days); a light line
  active twice a week has a baseline (days without records are zeros, not missing);
* peer level (fewer than ``min_baseline_days`` days since the line's first record): the
  ``peer_quantile`` of the active line-days of lines on the same plan (all lines when the
  plan has fewer than ``min_peer_lines``);
* a day is elevated when x >= ``burst_<metric>`` and x >= ``min_ratio`` * max(level,
  ``floor_<metric>``); consecutive elevated days are an episode, which alerts when it lasts
  ``min_burst_days`` or more, or when one day reaches the single-day floor ``min_<metric>``
  (so a one-off 2-4 GB download is no alert, two days of tens of GB are).

A steady heavy user's heavy days are its own baseline. Grain: one alert per episode (key
``usage_spike:<msisdn>:<first local day>``).

On a cluster (``fraud --cluster``) the detector runs share by share of the subscribers in
two rounds. The peer levels are quantiles over every line's days, so no share can compute
them alone: in the first round each share returns, per peer group, its count of line-days
and lines, its first day, and only the top of its values (:func:`tails`); the driver
computes the exact quantiles from those tops (:func:`peers_from_tails`) and hands them, with
the data's first day, to the second round, which is this detector on each share.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from analytics import store
from analytics.config import as_dict
from analytics.fraud.alerts import run_detector_sql

if TYPE_CHECKING:
    from analytics.fraud.engine import FraudOptions

log = logging.getLogger(__name__)

TYPE = "usage_spike"
METRICS = ("voice_min", "texts", "data_mb")
TAIL_MARGIN = 3.0  # a share returns this many times its expected part of a group's top values


@dataclass(frozen=True)
class SpikeSettings:
    """``[fraud.usage_spike]`` of analytics.toml."""

    baseline_days: int = 28
    min_baseline_days: int = 7  # calendar days since the line's first record; fewer: peer level
    own_quantile: float = 0.9
    peer_quantile: float = 0.95
    min_peer_lines: int = 20
    min_ratio: float = 4.0
    min_burst_days: int = 2
    # single-day floors: one day this big (and elevated) alerts on its own
    min_voice_min: float = 180.0
    min_texts: float = 150.0
    min_data_mb: float = 8000.0
    # per-day floors of an elevated day (a run of min_burst_days such days alerts)
    burst_voice_min: float = 60.0
    burst_texts: float = 50.0
    burst_data_mb: float = 4000.0
    # noise floors under a level (a line that never texts is not 'infinitely' above it)
    floor_voice_min: float = 5.0
    floor_texts: float = 3.0
    floor_data_mb: float = 50.0


def detect(
    con: duckdb.DuckDBPyConnection,
    *,
    since: dt.datetime | None,
    opts: SpikeSettings,
    common: FraudOptions,
    peers: str | None = None,
    start_day: dt.date | None = None,
) -> pl.DataFrame:
    """The spike alerts over ``con``'s records. ``peers`` (JSON) and ``start_day``: the peer
    levels and first day of all the data, given to a cluster share (None: from ``con``)."""
    params = {"since": since, "tz": common.timezone, "max_ids": common.max_evidence_ids}
    params.update(as_dict(opts))  # the field types: integers where the SQL counts days or lines
    params.update(peers=peers, start_day=start_day)
    return run_detector_sql(con, "fraud_spike", TYPE, params)


def tails(
    con: duckdb.DuckDBPyConnection,
    *,
    since: dt.datetime | None,
    opts: SpikeSettings,
    common: FraudOptions,
    everything: bool = False,
) -> list[dict]:
    """A cluster share's first round: per peer group (and ``'*'``, every line) its count of
    line-days ``n``, of lines, its first day, and per metric its top values, descending.

    A share keeps about ``TAIL_MARGIN`` times its expected part of the values above the
    ``peer_quantile``; :func:`peers_from_tails` checks that was enough (``everything``:
    keep them all, the rare second try)."""
    params = {"since": since, "tz": common.timezone, "baseline_days": opts.baseline_days}
    days = store.fetch(con, "@fraud_spike_tails", params)
    out = []
    groups = [("*", days)] + [(g, days.filter(pl.col("peer_group") == g)) for g in days["peer_group"].unique().sort()]
    for group, rows in groups:
        if rows.is_empty():
            continue
        n = rows.height
        keep = n if everything else min(n, math.ceil(TAIL_MARGIN * (1 - opts.peer_quantile) * n) + 64)
        entry = {"peer_group": group, "n": n, "lines": rows["msisdn"].n_unique(), "first_day": rows["day_date"].min()}
        for metric in METRICS:
            entry[metric] = rows[metric].sort(descending=True).head(keep).to_list()
        out.append(entry)
    return out


class TailsTooShort(Exception):
    """A share's top values did not reach a peer quantile: ask the shares for all values."""


def peers_from_tails(
    con: duckdb.DuckDBPyConnection, shares: Sequence[list[dict]], *, opts: SpikeSettings
) -> tuple[str | None, dt.date | None]:
    """The peer levels (the ``$peers`` JSON of fraud_spike.sql) and the data's first day from
    every share's :func:`tails`; exactly what one machine computes over all line-days.

    A group's quantile over N values needs its top N - floor((N - 1) q) values. The union of
    the shares' tops holds them when every share that left values out cut below the
    union's value at that rank (what a share left out is at most its cut); the level is then
    DuckDB's own quantile_cont over those tops plus fillers up to N, each a value at most
    the quantile's. Otherwise :class:`TailsTooShort` is raised."""
    by_group: dict[str, list[dict]] = {}
    for share in shares:
        for entry in share:
            by_group.setdefault(entry["peer_group"], []).append(entry)
    if "*" not in by_group:
        return None, None
    rows = []
    q = opts.peer_quantile
    for group, entries in by_group.items():
        n = sum(e["n"] for e in entries)
        need = n - math.floor((n - 1) * q) + 1  # one spare against rounding
        row: dict = {"peer_group": group, "peer_lines": sum(e["lines"] for e in entries)}
        for metric, column in zip(METRICS, ("voice_peer", "texts_peer", "data_peer"), strict=True):
            values = sorted((v for e in entries for v in e[metric]), reverse=True)
            at_rank = values[min(need, len(values)) - 1]
            cut_short = [e[metric][-1] for e in entries if len(e[metric]) < e["n"]]
            if len(values) < min(need, n) or any(cut > at_rank for cut in cut_short):
                raise TailsTooShort(f"{group}/{metric}")
            row[column] = store.scalar(
                con,
                "@fraud_spike_peer_level",
                {"values": values, "fill": values[-1], "fillers": n - len(values), "peer_quantile": q},
            )
        rows.append(row)
    start = min(e["first_day"] for e in by_group["*"])
    return json.dumps(rows), start


def peers(
    con: duckdb.DuckDBPyConnection, run_tails: Callable[[bool], Sequence[list[dict]]], *, opts: SpikeSettings
) -> tuple[str | None, dt.date | None]:
    """:func:`peers_from_tails` of the shares' tails, ``run_tails(everything)``: the tops
    first; all line-days of every share when a top fell short (a few heavy lines of a
    plan in one share)."""
    try:
        return peers_from_tails(con, run_tails(False), opts=opts)
    except TailsTooShort as exc:
        log.info("usage_spike: a share's tail was short (%s); asking the shares for every line-day", exc)
        return peers_from_tails(con, run_tails(True), opts=opts)
