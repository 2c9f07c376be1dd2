"""The demo live feeder: a new small v1 extract in the landing folder every few seconds.

``python -m analytics demo --live DIR`` calls :func:`run`. Each file covers the next
``step_s`` seconds of *data time* (60 s by default, written every ``interval_s`` real
seconds, so the monitor's 15-minute window turns over in a minute or two). Files are
written as ``<name>.tmp`` and renamed, the way the watcher expects.

Where the traffic comes from:

* warehouse with records (the demo world, or any loaded data): the clock starts just
  after the newest record (or, if that is a quiet hour, at the next hour at least as busy
  as the median hour: only the 1-day window sees that gap) and each cell's traffic per
  hour-of-week, disposition mix,
  call durations and data volumes are learnt from the last 4 weeks
  (analytics/sql/live_feeder_profile.sql), so the KPIs sit inside their history bands
  until an outage is injected;
* otherwise its own small world (4 regions x 5 cells, 400 lines; the demo's cells and
  subscribers when ``data/demo`` exists), with a daily curve; when a warehouse is given
  it first loads that world's reference files and 22 days of history, so bands exist.

Outages (:func:`outage_cycle`, :func:`outage_region`): after ``outage_every`` normal files,
one region goes down for at least ``hold_s`` + the alert window of data time (so its
NER stays outside its band long enough to raise an alert), then the feed runs normally
until the alert window no longer holds a failed call (so the alert resolves), and the
cycle repeats. Two kinds, by what the alert rule can judge:

* ``calls_fail``: a seeded choice among the regions whose alert window carries enough
  outgoing calls for NER (``min_attempts`` + 3 sqrt(``min_attempts``) expected at every
  hour of the outage, so a Poisson count falls below ``min_attempts`` in about 1 % of
  windows); 90 % of its outgoing calls fail (subscribers keep trying: attempts keep their
  rate) and the rest of its traffic falls to 30 %;
* ``sites_down``, when no region has calls enough (a small world, such as the app's
  3,000 lines): a seeded choice among the regions whose alert window carries
  :func:`volume_need` records; 90 % of all its records go (no cell, no record), which the
  volume KPIs (active subscribers, sms, data) see.

When no region qualifies, the cycle has no outage (logged).

Charges: each record is billed its expected charge under the rating rules
(:mod:`analytics.live.feeder_charges`, with the warehouse's plans and subscribers, or the
own world's), so billing reconciliation finds no mismatch in live files.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.config import ROOT
from analytics.ingest.reader import REQUIRED
from analytics.live.feeder_charges import Charger
from analytics.live.kpis import options as live_options

log = logging.getLogger(__name__)

DEMO_DIR = ROOT / "data" / "demo"
DEFAULT_STEP_S = 60.0
HISTORY_DAYS = 22  # three previous weeks of the 1-day window
KINDS = [  # service, direction, records per hour per cell at the daily peak, mean s, mean bytes
    ("voice", "out", 48.0, 110.0, 0.0),
    ("voice", "in", 40.0, 110.0, 0.0),
    ("sms", "out", 28.0, 0.0, 0.0),
    ("sms", "in", 24.0, 0.0, 0.0),
    ("data", "out", 60.0, 0.0, 4e6),
]
OUTAGE_TRAFFIC = 0.3  # share of a down region's traffic other than its outgoing calls
SITE_OUTAGE_TRAFFIC = 0.1  # share of a region's traffic (all kinds) left while its sites are down
OUTAGE_MIX = [0.06, 0.02, 0.0, 0.9, 0.02]  # a down region's outgoing calls, in VOICE_MIX order
VOICE_MIX = {"p_answered": 0.72, "p_no_answer": 0.12, "p_busy": 0.06, "p_failed": 0.04, "p_dropped": 0.06}
# the v1 columns the feeder writes (the contract's required ones plus three optional)
CONTRACT_COLUMNS = [*REQUIRED, "disposition", "bytes_up", "bytes_down", "roaming"]


def own_world(seed: int, *, demo_dir: Path | None = DEMO_DIR) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cells, subscribers): the demo's when ``demo_dir`` holds them, else a small one of its own."""
    if demo_dir is not None and (demo_dir / "cells.csv").exists() and (demo_dir / "subscribers.csv").exists():
        cells = pl.read_csv(demo_dir / "cells.csv", infer_schema=False).select("cell_id", "region", "lat", "lon")
        subs = pl.read_csv(demo_dir / "subscribers.csv", infer_schema=False).select("msisdn", "plan_id")
        return cells, subs
    rng = np.random.default_rng(seed)
    regions = [("North", 55.0, -2.0), ("South", 50.9, -1.4), ("East", 52.6, 1.3), ("West", 51.5, -3.2)]
    cells = pl.DataFrame(
        [
            (f"{r[0][:1]}{i:03d}", r[0], round(r[1] + rng.normal(0, 0.1), 5), round(r[2] + rng.normal(0, 0.1), 5))
            for r in regions
            for i in range(5)
        ],
        schema=["cell_id", "region", "lat", "lon"],
        orient="row",
    )
    subs = pl.DataFrame({"msisdn": [f"4479{700000 + i:06d}" for i in range(400)], "plan_id": "LIVE"})
    return cells, subs


OWN_PLAN = {  # the own world's single plan (when no demo plans.csv exists)
    "plan_id": "LIVE",
    "name": "Live demo",
    "monthly_fee": "10.00",
    "incl_voice_min": "60",
    "incl_sms": "30",
    "incl_data_mb": "300",
    "voice_per_min": "0.20",
    "sms_each": "0.10",
    "data_per_mb": "0.01",
    "intl_voice_per_min": "1.00",
    "roaming_voice_per_min": "1.00",
    "roaming_data_per_mb": "0.10",
}


def own_references(demo_dir: Path | None, subscribers: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(plans, subscribers) of the own world: the demo's files, else one plan for every line."""
    if demo_dir is not None and (demo_dir / "plans.csv").exists() and (demo_dir / "subscribers.csv").exists():
        return pl.read_csv(demo_dir / "plans.csv", infer_schema=False), pl.read_csv(
            demo_dir / "subscribers.csv", infer_schema=False
        )
    return pl.DataFrame([OWN_PLAN]), subscribers.select("msisdn", "plan_id")


def synthetic_profile(cells: pl.DataFrame, *, reference_cells: int = 20) -> pl.DataFrame:
    """Records per hour-of-week per cell and kind: a daily curve, quieter at weekends.

    The network total is that of ``reference_cells`` cells at the KINDS rates, however many
    cells the world has (the demo's 300+ cells would otherwise make 20x bigger files)."""
    hours = np.arange(168)
    daily = 0.15 + 0.85 * np.clip(np.sin((hours % 24 - 5) / 18 * np.pi), 0, None)
    weekly = np.where(hours // 24 >= 5, 0.7, 1.0)
    curve = pl.DataFrame({"hour_of_week": hours.astype(np.int64), "f": daily * weekly})
    kinds = pl.DataFrame(KINDS, schema=["service", "direction", "peak", "mean_duration_s", "mean_bytes"], orient="row")
    return (
        cells.select("region", "cell_id")
        .join(kinds, how="cross")
        .join(curve, how="cross")
        .with_columns(
            records_per_hour=pl.col("peak") * pl.col("f") * (reference_cells / max(cells.height, 1)),
            mean_bytes_up=pl.col("mean_bytes") * 0.2,
            mean_bytes_down=pl.col("mean_bytes") * 0.8,
            **{k: pl.lit(v) for k, v in VOICE_MIX.items()},
        )
        .drop("peak", "f", "mean_bytes")
    )


def generate(
    profile: pl.DataFrame,
    subscribers: pl.Series,
    *,
    start: dt.datetime,
    seconds: float,
    rng: np.random.Generator,
    outage_region: str | None = None,
    outage_kind: str = "calls_fail",
    scale: float = 1.0,
    id_prefix: str = "L",
) -> pl.DataFrame:
    """v1 rows (strings) for ``[start, start + seconds)``, drawn from the profile's hour.

    ``outage_kind``: ``calls_fail`` (90 % of the region's outgoing calls fail, its other
    traffic falls to OUTAGE_TRAFFIC) or ``sites_down`` (all its traffic falls to
    SITE_OUTAGE_TRAFFIC: a phone without a cell makes no record)."""
    how = (start.weekday()) * 24 + start.hour
    rows = profile.filter(pl.col("hour_of_week") == how)
    down = (rows["region"] == outage_region).to_numpy() if outage_region else np.zeros(rows.height, bool)
    calls_out = ((rows["service"] == "voice") & (rows["direction"] == "out")).to_numpy()
    if outage_kind == "sites_down":
        cut = np.where(down, SITE_OUTAGE_TRAFFIC, 1.0)
        down = np.zeros(rows.height, bool)  # the few records left are ordinary ones
    else:
        cut = np.where(down & ~calls_out, OUTAGE_TRAFFIC, 1.0)  # failed attempts are still attempts
    lam = rows["records_per_hour"].to_numpy() * seconds / 3600.0 * scale * cut
    idx = np.repeat(np.arange(rows.height), rng.poisson(lam))
    n = len(idx)
    r = rows[idx] if n else rows.clear()
    voice = (r["service"] == "voice").to_numpy()
    probs = r.select(list(VOICE_MIX)).to_numpy().copy()  # writable (a zero-copy view is read-only)
    failing = down[idx] & voice & (r["direction"] == "out").to_numpy()
    probs[failing] = OUTAGE_MIX
    probs = probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-9, None)
    pick = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, 4)
    disp = np.where(voice, np.array(["answered", "no_answer", "busy", "failed", "dropped"])[pick], "answered")
    connected = voice & np.isin(disp, ["answered", "dropped"])
    duration = np.where(connected, np.maximum(1, rng.exponential(np.maximum(r["mean_duration_s"].to_numpy(), 1))), 0)
    is_data = (r["service"] == "data").to_numpy()
    bytes_up = np.where(is_data, rng.exponential(np.maximum(r["mean_bytes_up"].to_numpy(), 1)), 0)
    bytes_down = np.where(is_data, rng.exponential(np.maximum(r["mean_bytes_down"].to_numpy(), 1)), 0)
    offsets_us = (rng.random(n) * seconds * 1e6).astype(np.int64)  # not sorted: rows come grouped by cell
    base = int(start.replace(tzinfo=dt.UTC).timestamp())
    msisdn = (
        subscribers.sample(n, with_replacement=True, seed=int(rng.integers(1 << 31)))
        if n
        else pl.Series([], dtype=pl.String)
    )
    return (
        pl.DataFrame(
            {
                "seq": np.arange(n, dtype=np.int64),
                "offset_us": offsets_us,
                "msisdn": msisdn.cast(pl.String),
                "other": rng.integers(0, 10**7, n),
                "service": r["service"],
                "direction": r["direction"],
                "duration_s": duration.astype(np.int64),
                "cell_id": r["cell_id"],
                "disposition": disp,
                "bytes_up": bytes_up.astype(np.int64),
                "bytes_down": bytes_down.astype(np.int64),
            }
        )
        .lazy()
        .with_columns(at=pl.lit(start, dtype=pl.Datetime("us")) + pl.duration(microseconds=pl.col("offset_us")))
        .sort("at")
        .select(
            record_id=pl.lit(f"{id_prefix}{base}-") + pl.col("seq").cast(pl.String),
            start_time=pl.col("at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            msisdn=pl.col("msisdn"),
            other_party=pl.lit("4471") + pl.col("other").cast(pl.String).str.zfill(7),
            service=pl.col("service"),
            direction=pl.col("direction"),
            duration_s=pl.col("duration_s").cast(pl.String),
            cell_id=pl.col("cell_id"),
            charge=pl.lit("0"),
            disposition=pl.col("disposition"),
            bytes_up=pl.col("bytes_up").cast(pl.String),
            bytes_down=pl.col("bytes_down").cast(pl.String),
            roaming=pl.lit("false"),
        )
        .collect()
    )


def write_atomically(frame: pl.DataFrame, path: Path) -> Path:
    """Write a CSV as ``<path>.tmp`` then rename it to ``path`` (what clients must do)."""
    tmp = path.with_name(path.name + ".tmp")
    frame.write_csv(tmp)
    os.replace(tmp, path)
    return path


def _learnt_profile(warehouse: Path) -> tuple[pl.DataFrame, pl.Series, dt.datetime, dt.datetime] | None:
    """(profile, subscribers, clock start, newest record) of a warehouse holding records."""
    from analytics import store

    if not warehouse.exists():
        return None
    with store.reader(warehouse) as con:
        end = store.fetch(con, "@live_newest_record").item()
        if end is None:
            return None
        profile = store.fetch(con, "@live_feeder_profile", {"end_at": end, "weeks": 4})
        subs = store.fetch(con, "@live_feeder_subscribers", {"end_at": end})
    return profile, subs["msisdn"], busy_start(profile, end + dt.timedelta(seconds=1)), end


def busy_start(profile: pl.DataFrame, after: dt.datetime) -> dt.datetime:
    """``after``, or the start of the next hour whose network traffic reaches the median
    hour's (a world whose data end at midnight would otherwise feed near-empty files)."""
    totals = profile.group_by("hour_of_week").agg(pl.col("records_per_hour").sum())
    rate = dict(zip(totals["hour_of_week"].to_list(), totals["records_per_hour"].to_list(), strict=True))
    median = totals["records_per_hour"].median() or 0.0
    for h in range(168):
        at = after if h == 0 else after.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=h)
        if rate.get(at.weekday() * 24 + at.hour, 0.0) >= median:
            return at
    return after


def _bootstrap(
    landing_dir: Path, warehouse: Path | None, *, seed: int, demo_dir: Path | None
) -> tuple[pl.DataFrame, pl.Series, dt.datetime, Charger]:
    """Own world: reference files (+ history when a warehouse is given)."""
    cells, subs = own_world(seed, demo_dir=demo_dir)
    plans, subscribers = own_references(demo_dir, subs)
    charger = Charger(plans, subscribers)
    profile = synthetic_profile(cells)
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    if warehouse is None:
        return profile, subs["msisdn"], start, charger
    from analytics.ingest import ingest_files

    ref = landing_dir / "_reference"
    ref.mkdir(parents=True, exist_ok=True)
    cells.write_csv(ref / "cells.csv")
    plans.write_csv(ref / "plans.csv")
    subscribers.write_csv(ref / "subscribers.csv")
    rng = np.random.default_rng(seed + 1)
    hist_start = start - dt.timedelta(days=HISTORY_DAYS)
    parts = [
        generate(
            profile, subs["msisdn"], start=hist_start + dt.timedelta(hours=h), seconds=3600, rng=rng, id_prefix="H"
        )
        for h in range(HISTORY_DAYS * 24)
    ]
    history = ref / f"history_{hist_start:%Y%m%dT%H%M}.csv"
    charger.charge(pl.concat(parts)).write_csv(history)
    out = ingest_files(
        [history],
        warehouse=warehouse,
        cells=ref / "cells.csv",
        plans=ref / "plans.csv",
        subscribers=ref / "subscribers.csv",
    )
    log.info("feeder: loaded its own world and %d history rows", out["rows_loaded"])
    return profile, subs["msisdn"], start, charger


def outage_cycle(*, outage_every: int, step_s: float, hold_s: float, window_s: float) -> tuple[int, int, int]:
    """(first, length, cycle) in files: file ``i`` is down when ``first <= i % cycle < first + length``.

    ``outage_every`` normal files, an outage of at least ``hold_s + window_s`` of data time
    (the alert window is all outage for ``hold_s``), then at least ``window_s`` + one file
    of normal traffic (the failed calls leave the window: the alert resolves)."""
    if outage_every <= 0:
        return 0, 0, 0
    length = max(outage_every, math.ceil((hold_s + window_s) / step_s))
    recovery = max(outage_every, math.ceil(window_s / step_s) + 1)
    return outage_every, length, outage_every + length + recovery


def _per_window(
    profile: pl.DataFrame, *, start: dt.datetime, end: dt.datetime, window_s: float, calls_only: bool
) -> pl.DataFrame:
    """One row per region: the fewest expected records (outgoing calls with ``calls_only``)
    in an alert window at any hour of ``[start - window_s, end)``."""
    first = (start - dt.timedelta(seconds=window_s)).replace(minute=0, second=0, microsecond=0)
    hours = []
    while first < end:
        hours.append(first.weekday() * 24 + first.hour)
        first += dt.timedelta(hours=1)
    kinds = (pl.col("service") == "voice") & (pl.col("direction") == "out") if calls_only else pl.lit(True)
    rates = profile.filter(kinds).group_by("region", "hour_of_week").agg(pl.col("records_per_hour").sum())
    grid = pl.DataFrame({"region": profile["region"].unique()}).join(
        pl.DataFrame({"hour_of_week": hours}, schema=[("hour_of_week", pl.Int64)]), how="cross"
    )
    return (
        grid.join(rates.with_columns(pl.col("hour_of_week").cast(pl.Int64)), on=["region", "hour_of_week"], how="left")
        .group_by("region")
        .agg((pl.col("records_per_hour").fill_null(0).min() * window_s / 3600.0).alias("n"))
    )


def judged_regions(
    profile: pl.DataFrame, *, start: dt.datetime, end: dt.datetime, window_s: float, min_attempts: int
) -> list[str]:
    """Regions whose alert window carries at least ``min_attempts + 3 sqrt(min_attempts)``
    expected outgoing calls at every hour of ``[start - window_s, end)`` (sorted)."""
    need = min_attempts + 3 * math.sqrt(min_attempts)
    per_window = _per_window(profile, start=start, end=end, window_s=window_s, calls_only=True)
    return sorted(per_window.filter(pl.col("n") >= need)["region"].to_list())


def volume_need(*, band_k: float, relative_floor: float, residual: float = SITE_OUTAGE_TRAFFIC) -> float:
    """The fewest records m per alert window for a site outage to show on volume: the count
    band's lower edge, m - max(relative_floor m, band_k sqrt(m)), above what is left,
    residual m + band_k sqrt(residual m) (smallest m, to 0.1)."""
    m = 1.0
    while m - max(relative_floor * m, band_k * math.sqrt(m)) <= residual * m + band_k * math.sqrt(residual * m):
        m += 0.1
    return round(m, 1)


def volume_regions(
    profile: pl.DataFrame, *, start: dt.datetime, end: dt.datetime, window_s: float, need: float
) -> list[str]:
    """Regions whose alert window carries at least ``need`` expected records (all kinds) at
    every hour of ``[start - window_s, end)`` (sorted): a site outage there is seen by the
    volume KPIs (active subscribers, sms, data) even when its calls are too few for NER."""
    per_window = _per_window(profile, start=start, end=end, window_s=window_s, calls_only=False)
    return sorted(per_window.filter(pl.col("n") >= need)["region"].to_list())


def outage_region(candidates: list[str], *, cycle: int, seed: int) -> str | None:
    """The seeded choice of the region down in ``cycle`` (None without candidates)."""
    if not candidates:
        return None
    return candidates[np.random.default_rng([seed, cycle]).integers(len(candidates))]


def fill(
    profile: pl.DataFrame, subscribers: pl.Series, *, start: dt.datetime, end: dt.datetime, rng: np.random.Generator
) -> list[pl.DataFrame]:
    """Ordinary traffic of ``[start, end)``, hour by hour (each hour at its own rate)."""
    parts = []
    while start < end:
        stop = min(end, start.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1))
        parts.append(generate(profile, subscribers, start=start, seconds=(stop - start).total_seconds(), rng=rng))
        start = stop
    return parts


def run(
    *,
    landing_dir: Path,
    warehouse: Path | None,
    seed: int = 7,
    interval_s: float = 5,
    outage_every: int = 10,
    max_files: int | None = None,
    step_s: float = DEFAULT_STEP_S,
    demo_dir: Path | None = DEMO_DIR,
    start: dt.datetime | None = None,
) -> dict[str, Any]:
    """Write extracts into ``landing_dir`` until ``max_files`` (or forever); returns totals.

    ``start``: the data time of the first file (naive UTC; default: just after the
    warehouse's newest record, at a busy hour, or now for the own world)."""
    landing_dir = Path(landing_dir)
    landing_dir.mkdir(parents=True, exist_ok=True)
    learnt = _learnt_profile(Path(warehouse)) if warehouse else None
    newest = None  # the newest record before the feed (None: the feed follows its own history)
    if learnt is not None:
        (profile, subs, clock, newest), charger = learnt, Charger.from_warehouse(Path(warehouse))
    else:
        profile, subs, clock, charger = _bootstrap(
            landing_dir, Path(warehouse) if warehouse else None, seed=seed, demo_dir=demo_dir
        )
    if start is not None:
        clock = start
    opts = live_options()
    window_s = float(opts.windows[opts.alert_window])
    # a clock that jumped over a quiet gap: the first file also fills the alert window
    # before it, else the first windows look like a region-wide loss of traffic
    fill_s = 0.0 if newest is None else min(window_s, max(0.0, (clock - newest).total_seconds() - 1))
    first, length, cycle = outage_cycle(outage_every=outage_every, step_s=step_s, hold_s=opts.hold_s, window_s=window_s)
    need = volume_need(band_k=opts.band_k, relative_floor=opts.relative_floor)
    rng = np.random.default_rng(seed)
    files, rows, outages = 0, 0, []
    down: str | None = None
    kind = "calls_fail"
    stopped = False
    try:
        while max_files is None or files < max_files:
            pos = files % cycle if cycle else -1
            if pos == first:  # an outage starts: only where the alert rule can see it
                end = clock + dt.timedelta(seconds=length * step_s)
                candidates = judged_regions(
                    profile, start=clock, end=end, window_s=window_s, min_attempts=opts.min_attempts
                )
                kind = "calls_fail"
                if not candidates:  # calls too few for NER anywhere: a site outage, seen on volume
                    kind = "sites_down"
                    candidates = volume_regions(profile, start=clock, end=end, window_s=window_s, need=need)
                down = outage_region(candidates, cycle=files // cycle, seed=seed)
                if down is None:
                    log.warning(
                        "feeder: no region carries %d calls or %.0f records per %s window: no outage until %s",
                        opts.min_attempts,
                        need,
                        opts.alert_window,
                        end,
                    )
            elif pos == first + length or pos < 0:
                down = None
            parts = [] if files else fill(profile, subs, start=clock - dt.timedelta(seconds=fill_s), end=clock, rng=rng)
            parts.append(
                generate(profile, subs, start=clock, seconds=step_s, rng=rng, outage_region=down, outage_kind=kind)
            )
            frame = charger.charge(pl.concat(parts))
            path = write_atomically(frame, landing_dir / f"live_{clock:%Y%m%dT%H%M%S}.csv")
            log.info("feeder: %s, %d rows%s", path.name, frame.height, f", {kind} in {down}" if down else "")
            if down:
                if not outages or outages[-1]["until"] != clock:
                    outages.append({"region": down, "kind": kind, "from": clock, "until": clock})
                outages[-1]["until"] = clock + dt.timedelta(seconds=step_s)
            files, rows, clock = files + 1, rows + frame.height, clock + dt.timedelta(seconds=step_s)
            if max_files is None or files < max_files:
                time.sleep(interval_s)
    except KeyboardInterrupt:  # Ctrl-C ends a demo: report what was written
        stopped = True
        for tmp in landing_dir.glob("live_*.csv.tmp"):
            tmp.unlink(missing_ok=True)
        log.info("feeder: stopped after %d files", files)
    finally:
        charger.close()
    return {"files": files, "rows": rows, "outages": outages, "clock_end": clock, "stopped": stopped}
