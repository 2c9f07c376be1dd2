"""Runs the detectors and stores their alerts.

Options come from ``analytics.toml``: ``[fraud]`` holds the common ones (``enabled``,
``max_evidence_ids``, :class:`FraudSettings`) and ``[fraud.<type>]`` each detector's
thresholds, key by key over the typed section of the detector's module
(``simbox.SimBoxSettings``...).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import polars as pl

from analytics import store
from analytics.config import settings, with_options
from analytics.fraud import alerts, clone, irsf, simbox, spike, wangiri
from analytics.partitioned import Runner, cluster_runner

log = logging.getLogger(__name__)

Detector = Callable[..., pl.DataFrame]

# type -> (detect function, its typed section ``[fraud.<type>]``)
DETECTORS: dict[str, tuple[Detector, type]] = {
    simbox.TYPE: (simbox.detect, simbox.SimBoxSettings),
    irsf.TYPE: (irsf.detect, irsf.IrsfSettings),
    wangiri.TYPE: (wangiri.detect, wangiri.WangiriSettings),
    clone.TYPE: (clone.detect, clone.CloneSettings),
    spike.TYPE: (spike.detect, spike.SpikeSettings),
}


@dataclass(frozen=True)
class FraudSettings:
    """``[fraud]`` of analytics.toml: the common options (docs/fraud.md)."""

    SUBTABLES: ClassVar[tuple[str, ...]] = tuple(DETECTORS)  # [fraud.<type>]: each detector's own section

    enabled: tuple[str, ...] = tuple(DETECTORS)
    max_evidence_ids: int = 500  # record_ids listed in an alert's evidence (record_count has them all)


@dataclass(frozen=True)
class FraudOptions:
    """The effective options of a detection run: ``[fraud]``, each detector's section, and
    the ``[source]`` values the detectors need."""

    enabled: tuple[str, ...]
    max_evidence_ids: int
    detectors: Mapping[str, Any]  # type -> its section (simbox.SimBoxSettings, ...)
    timezone: str
    home_country: str


def options(overrides: Mapping[str, Any] | None = None) -> FraudOptions:
    """Effective options: code defaults < ``[fraud]`` in analytics.toml < ``overrides``.

    ``overrides`` has the same shape as the file's section: common keys at the top and a
    dict per detector type; unknown keys and wrongly typed values are refused.
    """
    cfg = settings()
    extra = dict(overrides or {})
    mine = {k: v for k, v in extra.items() if k not in DETECTORS}
    common = with_options(cfg.section("fraud", FraudSettings), mine, where="fraud overrides")
    detectors = {
        name: with_options(cfg.section(f"fraud.{name}", kind), extra.get(name), where=f"fraud overrides [fraud.{name}]")
        for name, (_, kind) in DETECTORS.items()
    }
    return FraudOptions(
        enabled=common.enabled,
        max_evidence_ids=common.max_evidence_ids,
        detectors=detectors,
        timezone=cfg.timezone,
        home_country=cfg.home_country,
    )


# Detectors whose alerts of a line depend on that line's records only: on a cluster they
# run share by share of the subscribers. simbox also compares a line's first record with
# the first record of all the data: the driver reads that once and hands it to the shares
# (``data_first_at``). usage_spike also compares a line with its plan's peers: a first round
# of shares returns the tops of their line-days, from which the driver computes the peer
# levels for the second (spike.tails, spike.peers_from_tails). wangiri is keyed by the
# calling foreign number: on a cluster its shares are made by that number (PER_NUMBER).
PER_SUBSCRIBER = (irsf.TYPE, clone.TYPE, simbox.TYPE, spike.TYPE)
PER_NUMBER = {wangiri.TYPE: wangiri.SHARE_BY}


def detect(
    con: duckdb.DuckDBPyConnection,
    *,
    since: dt.datetime | None = None,
    types: list[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    runner: Runner | None = None,
) -> pl.DataFrame:
    """All enabled detectors over the records at/after ``since`` (UTC, naive); one row per alert.

    ``runner`` (analytics.partitioned): the :data:`PER_SUBSCRIBER` detectors run share by
    share of the subscribers on a cluster, and the :data:`PER_NUMBER` ones share by share
    of their key, by :func:`found_by` as here."""
    opts = options(overrides)
    chosen = types or list(opts.enabled)
    unknown = set(chosen) - set(DETECTORS)
    if unknown:
        raise ValueError(f"unknown fraud types: {', '.join(sorted(unknown))}; known: {', '.join(DETECTORS)}")
    frames = [alerts.empty_alerts()]
    shared = [n for n in chosen if n in PER_SUBSCRIBER] if runner is not None else []
    if shared:
        first = store.fetch(con, "@fraud_data_first").item() if simbox.TYPE in shared else None
        kwargs = {"names": shared, "since": since, "overrides": overrides, "data_first_at": first}
        if spike.TYPE in shared:
            peers = _spike_peers(con, runner, since=since, overrides=overrides, opts=opts.detectors[spike.TYPE])
            kwargs.update(zip(("spike_peers", "spike_start_day"), peers, strict=True))
        frames += runner(found_by, kwargs)
    by_number = [n for n in chosen if n in PER_NUMBER] if runner is not None else []
    for name in by_number:
        frames += runner(found_by, {"names": [name], "since": since, "overrides": overrides}, by=PER_NUMBER[name])
    driver = [n for n in chosen if n not in shared and n not in by_number]
    frames.append(found_by(con, names=driver, since=since, overrides=overrides))
    found = pl.concat(frames, how="vertical")
    return explained_spikes_removed(found).sort(["score", "alert_key"], descending=[True, False])


def found_by(
    con: duckdb.DuckDBPyConnection,
    *,
    names: list[str],
    since: dt.datetime | None,
    overrides: Mapping[str, Any] | None,
    data_first_at: dt.datetime | None = None,
    spike_peers: str | None = None,
    spike_start_day: dt.date | None = None,
) -> pl.DataFrame:
    """The alerts of detectors ``names`` over ``con``'s records, concatenated (unsorted).
    ``data_first_at``: the first record of all the data, for simbox on a share of the
    subscribers; ``spike_peers`` and ``spike_start_day``: usage_spike's peer levels and the
    data's first day (spike.peers_from_tails); None: read from ``con``'s records."""
    opts = options(overrides)
    frames = [alerts.empty_alerts()]
    for name in names:
        fn, _ = DETECTORS[name]
        t0 = time.perf_counter()
        extra = {
            simbox.TYPE: {"data_first_at": data_first_at},
            spike.TYPE: {"peers": spike_peers, "start_day": spike_start_day},
        }.get(name, {})
        found = fn(con, since=since, opts=opts.detectors[name], common=opts, **extra)
        log.info("%s: %d alerts in %.2f s", name, found.height, time.perf_counter() - t0)
        frames.append(found)
    return pl.concat(frames, how="vertical")


def _spike_peers(
    con: duckdb.DuckDBPyConnection,
    runner: Runner,
    *,
    since: dt.datetime | None,
    overrides: Mapping[str, Any] | None,
    opts: spike.SpikeSettings,
) -> tuple[str | None, dt.date | None]:
    """usage_spike's first round on the shares: the peer levels and the data's first day."""
    kwargs = {"since": since, "overrides": overrides}
    return spike.peers(con, lambda everything: runner(spike_tails, {**kwargs, "everything": everything}), opts=opts)


def spike_tails(
    con: duckdb.DuckDBPyConnection,
    *,
    since: dt.datetime | None,
    overrides: Mapping[str, Any] | None,
    everything: bool = False,
) -> list[dict]:
    """A share's first round of usage_spike (spike.tails) with the effective options."""
    opts = options(overrides)
    return spike.tails(con, since=since, opts=opts.detectors[spike.TYPE], common=opts, everything=everything)


def explained_spikes_removed(found: pl.DataFrame) -> pl.DataFrame:
    """Drop voice-only usage spikes that overlap an IRSF burst or a SIM box of the same line.

    An IRSF burst, and a SIM box's stream of calls, is itself a voice spike; the IRSF or SIM
    box alert explains it better, so the queue shows it once. Spikes with data or texts in
    them stay.
    """
    spikes = found.filter(pl.col("type") == spike.TYPE)
    schemes = found.filter(pl.col("type").is_in([irsf.TYPE, simbox.TYPE]))
    if spikes.is_empty() or schemes.is_empty():
        return found
    voice_only = spikes.filter(pl.col("evidence").str.json_path_match("$.metrics").eq('["voice_min"]'))
    explained = (
        voice_only.join(schemes.select("msisdn", b_first="first_seen_at", b_last="last_seen_at"), on="msisdn")
        .filter(
            (pl.col("b_first").dt.date() <= pl.col("last_seen_at").dt.date())
            & (pl.col("b_last").dt.date() >= pl.col("first_seen_at").dt.date())
        )
        .select("alert_key")
        .unique()
    )
    return found.join(explained, on="alert_key", how="anti")


def run_detection(
    path: str | Path | None = None,
    *,
    since: dt.datetime | None = None,
    types: list[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    cluster: str | None = None,
) -> pl.DataFrame:
    """Detect, merge into ``fraud_alerts`` and log the run, in one writer transaction.

    Returns this run's alerts in their merged state with ``status`` and ``is_new``.
    ``cluster``: a ``--cluster`` SPEC for the per-subscriber detectors (docs/scale.md).
    """
    with store.writer(path) as con, cluster_runner(cluster, con, name="fraud") as runner:
        return detect_into(con, since=since, types=types, overrides=overrides, now=now, runner=runner)


def detect_into(
    con: duckdb.DuckDBPyConnection,
    *,
    since: dt.datetime | None = None,
    types: list[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    runner: Runner | None = None,
) -> pl.DataFrame:
    """:func:`run_detection` on a writer connection the caller holds (the marts refresh runs
    it in its own writer, so one snapshot is published for all its marts)."""
    started = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    alerts.ensure_fraud_schema(con)
    found = detect(con, since=since, types=types, overrides=overrides, runner=runner)
    with store.transaction(con) as cur:  # the merge and its run row commit together
        merged = alerts.persist(cur, found, now=started)
        cur.execute(
            "insert into fraud_runs values (?, ?, ?, ?, ?)",
            [
                started,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                since,
                merged.height,
                int(merged["is_new"].sum() or 0),
            ],
        )
    return merged
