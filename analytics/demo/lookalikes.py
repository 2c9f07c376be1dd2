"""Honest look-alikes: heavy but innocent lines that the fraud detectors must not flag.

* ``call_centre``: long-standing lines with ~60 outgoing and ~70 incoming calls a
  working day, some data, all from one cell (a SIM box has no incoming calls).
* ``traveller``: traveller-profile lines with roaming trips (plausible travel).
* ``streamer``: the most active streamers, with 8-13 extra sessions of 150-250 MB every
  day they are at home (consistently heavy, so never a spike).
* ``handset_change``: the IMEI changes once, mid-period, and stays (one switch).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analytics.demo.actors import Injector, numbers, rows, ts
from analytics.demo.world import GROWTH_REGION


def call_centre(inj: Injector, k: int) -> None:
    rng = inj.rng
    workdays = np.flatnonzero(~inj.cal.offpeak)
    for j in range(k):
        s = inj.new_line(20, j, "UNL", -int(rng.integers(300, 1500)))
        cell = inj.busy_cell()
        for direction, lam in (("out", 60), ("in", 70)):
            day = np.repeat(workdays, rng.poisson(lam, len(workdays)))
            n = len(day)
            answered = rng.random(n) < 0.9
            inj.frames.append(
                rows(
                    n,
                    start_at=ts(inj.cal, day, rng.integers(8 * 3600, 17 * 3600, n)),
                    msisdn=s["msisdn"],
                    other_party=numbers(rng, 447, n),
                    service="voice",
                    direction=direction,
                    duration_s=np.where(answered, rng.integers(60, 600, n), 0),
                    cell_id=cell,
                    disposition=np.where(answered, "answered", "no_answer"),
                    destination_country="GB" if direction == "out" else "",
                    plan_id=s["plan_id"],
                    imsi=s["imsi"],
                    imei=s["imei"],
                )
            )
        day = np.repeat(workdays, 4)
        n = len(day)
        inj.frames.append(
            rows(
                n,
                start_at=ts(inj.cal, day, rng.integers(8 * 3600, 17 * 3600, n)),
                msisdn=s["msisdn"],
                other_party="internet",
                service="data",
                direction="out",
                duration_s=rng.integers(60, 1800, n),
                cell_id=cell,
                bytes_down=rng.integers(1_000_000, 30_000_000, n),
                bytes_up=rng.integers(100_000, 3_000_000, n),
                plan_id=s["plan_id"],
                imsi=s["imsi"],
                imei=s["imei"],
            )
        )
        inj.truth.setdefault("call_centre", []).append(s["msisdn"])


def travellers_and_streamers(inj: Injector, travellers_k: int, streamers_k: int) -> None:
    prof = inj.subs["profile"].to_numpy()
    roamed = inj.sit.roam.sum(axis=1) > 0
    travellers = inj.pick(travellers_k, (prof == "traveller") & roamed)
    inj.truth["traveller"] = inj.subs["msisdn"].gather(travellers).to_list()
    # not in the growth region: a flat heavy streamer there would hide the region's growth
    elsewhere = (inj.subs["region"] != GROWTH_REGION).to_numpy()
    streamers = np.flatnonzero((prof == "streamer") & inj.old & ~inj.taken & elsewhere)
    top = streamers[np.argsort(-inj.subs["activity"].to_numpy()[streamers])][:streamers_k]
    inj.taken[top] = True
    inj.truth["streamer"] = inj.subs["msisdn"].gather(np.sort(top)).to_list()
    rng = inj.rng
    for i in np.sort(top):  # heavy every day: 8-13 sessions of 150-250 MB on top of their usual
        s = inj.line(i)
        home = np.flatnonzero((inj.sit.away[i] < 0) & (inj.sit.roam[i] == 0))
        day = np.repeat(home, rng.integers(8, 14, len(home)))
        n = len(day)
        inj.frames.append(
            rows(
                n,
                start_at=ts(inj.cal, day, rng.integers(7 * 3600, 24 * 3600, n)),
                msisdn=s["msisdn"],
                other_party="internet",
                service=np.where(rng.random(n) < 0.7, "video", "data"),
                direction="out",
                duration_s=rng.integers(600, 3000, n),
                cell_id=s["cell"],
                bytes_down=rng.integers(150_000_000, 250_000_000, n),
                bytes_up=rng.integers(2_000_000, 8_000_000, n),
                plan_id=s["plan_id"],
                imsi=s["imsi"],
                imei=s["imei"],
            )
        )


def handset_change(inj: Injector, k: int, base: pl.DataFrame) -> pl.DataFrame:
    """The base records with ``k`` lines moved to a new IMEI from a mid-period day onwards."""
    changed = inj.pick(k, inj.old & np.isin(inj.subs["profile"].to_numpy(), ["mainstream", "heavy_voice", "youth"]))
    msisdns = inj.subs["msisdn"].gather(changed).to_list()
    day = np.datetime64(inj.cal.start, "us") + np.timedelta64(inj.cal.days // 2, "D")
    new_imei = {m: f"35{inj.rng.integers(10**12, 10**13)}" for m in msisdns}
    inj.truth["handset_change"] = msisdns
    hit = pl.col("msisdn").cast(pl.String).is_in(msisdns) & (pl.col("start_at") >= day)
    return base.with_columns(
        pl.when(hit)
        .then(pl.col("msisdn").cast(pl.String).replace_strict(new_imei, default=None))
        .otherwise(pl.col("imei").cast(pl.String))
        .cast(pl.Categorical)
        .alias("imei")
    )


def bill_shock(inj: Injector, k: int, base: pl.DataFrame) -> pl.DataFrame:
    """``k`` light lines on an allowance plan that spend four days of the last month's second
    half in the US using 600-900 MB of data a day and making calls (all roaming, paid per MB
    and minute): the month's spend jumps far above their usual (a ``spend_spike`` bill shock,
    not fraud: the daily volume is ordinary). Their ordinary records of those days go."""
    rng, d = inj.rng, inj.cal.days
    at_home = (inj.sit.roam.sum(axis=1) == 0) & (inj.sit.away < 0).all(axis=1)
    light = np.isin(inj.subs["profile"].to_numpy(), ["mainstream", "light_voice"])
    allowance = np.isin(inj.subs["plan_id"].to_numpy(), ["ESS5", "TALK", "DATA30"])
    chosen = inj.pick(k, inj.old & at_home & light & allowance)
    start = np.datetime64(inj.cal.start, "D")
    last_month = int(((start + d - 1).astype("datetime64[M]").astype("datetime64[D]") - start).astype(int))
    trips = {}
    for i in chosen:
        s = inj.line(i)
        first = int(rng.integers(last_month + (d - last_month) // 2, d - 4))
        days = np.arange(first, first + 4)
        trips[s["msisdn"]] = days
        n = 4 * 6
        day = np.repeat(days, 6)
        inj.frames.append(
            rows(
                n,
                start_at=ts(inj.cal, day, rng.integers(8 * 3600, 23 * 3600, n)),
                msisdn=s["msisdn"],
                other_party="internet",
                service="data",
                direction="out",
                duration_s=rng.integers(600, 3600, n),
                cell_id=np.char.add("310260-", rng.integers(10000, 99999, n).astype(str)),
                bytes_down=rng.integers(95_000_000, 140_000_000, n),
                bytes_up=rng.integers(3_000_000, 8_000_000, n),
                is_roaming=True,
                plan_id=s["plan_id"],
                imsi=s["imsi"],
                imei=s["imei"],
            )
        )
        m = 8
        inj.frames.append(
            rows(
                m,
                start_at=ts(inj.cal, rng.choice(days, m), rng.integers(9 * 3600, 21 * 3600, m)),
                msisdn=s["msisdn"],
                other_party=numbers(rng, 447, m),
                service="voice",
                direction="out",
                duration_s=rng.integers(120, 900, m),
                cell_id=np.char.add("310260-", rng.integers(10000, 99999, m).astype(str)),
                is_roaming=True,
                destination_country="GB",
                plan_id=s["plan_id"],
                imsi=s["imsi"],
                imei=s["imei"],
            )
        )
    inj.truth["bill_shock"] = sorted(trips)
    if not trips:
        return base
    day_of = (pl.col("start_at") - pl.lit(start.astype("datetime64[us]"))).dt.total_days().cast(pl.Int64)
    away = pl.any_horizontal(
        [(pl.col("msisdn").cast(pl.String) == m) & day_of.is_in(days.tolist()) for m, days in trips.items()]
    )
    return base.filter(~away)
