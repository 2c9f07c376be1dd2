"""Injected fraud actors (the truth the fraud tests check), and :func:`inject`, which adds
them and the honest look-alikes (:mod:`analytics.demo.lookalikes`) to the world.

Each injector adds records (grain: one row per record, the columns of
:func:`analytics.demo.traffic.typed`) and truth entries; new lines (SIM boxes) also add
subscriber rows. Signatures follow issue 7:

* ``sim_box``: new lines, 40-70 outgoing calls a day to distinct numbers, almost no
  incoming calls, no sms or data, all from one cell.
* ``irsf``: one night burst (00:30-05:00 UTC) of long outgoing calls to high-risk
  destinations (CU, SO, LV, GN, SL) on a line that never called them before.
* ``wangiri``: a foreign number ringing dozens of lines within 40 minutes (no answer,
  0 s), then some of them call it back within two days.
* ``sim_clone``: a second handset (IMEI) on the line, in a region hundreds of km away,
  making calls minutes after the genuine handset (IMEI switches and impossible travel).
* ``usage_spike``: one day of ~9 GB of data and ~2.5 h of outgoing calls on a light line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from analytics.demo import lookalikes
from analytics.demo.actors import Injector, numbers, rows, ts
from analytics.demo.traffic import Calendar, Situation
from analytics.demo.world import REGIONS

IRSF_DESTINATIONS = [("CU", 53), ("SO", 252), ("LV", 371), ("GN", 224), ("SL", 232)]
WANGIRI_ORIGINS = [("MR", 222), ("TN", 216), ("BA", 387)]
COUNTS = {
    "sim_box": 3,
    "irsf": 3,
    "wangiri": 2,
    "sim_clone": 2,
    "usage_spike": 3,
    "call_centre": 2,
    "traveller": 5,
    "streamer": 5,
    "handset_change": 3,
    "bill_shock": 2,
}


class Fraud(Injector):
    """The fraud actors' injectors."""

    def sim_box(self, k: int) -> None:
        d, rng, out = self.cal.days, self.rng, []
        for j in range(k):
            first = min(max(15, d // 2) + j, d - 2)
            s = self.new_line(10, j, "TALK", first)
            cell = self.busy_cell()
            days = np.arange(first, min(d, first + 14))
            calls = rng.integers(40, 70, len(days))
            day = np.repeat(days, calls)
            n = len(day)
            answered = rng.random(n) < 0.85
            dur = np.where(answered, rng.integers(20, 400, n), 0)
            out.append(
                rows(
                    n,
                    start_at=ts(self.cal, day, rng.integers(7 * 3600, 23 * 3600, n)),
                    msisdn=s["msisdn"],
                    other_party=numbers(rng, 447, n),
                    service="voice",
                    direction="out",
                    duration_s=dur,
                    cell_id=cell,
                    disposition=np.where(answered, "answered", "no_answer"),
                    destination_country="GB",
                    plan_id=s["plan_id"],
                    imsi=s["imsi"],
                    imei=s["imei"],
                )
            )
            m = max(1, len(days) // 4)  # a handful of incoming calls (< 5 % of outgoing)
            out.append(
                rows(
                    m,
                    start_at=ts(self.cal, rng.choice(days, m), rng.integers(9 * 3600, 20 * 3600, m)),
                    msisdn=s["msisdn"],
                    other_party=numbers(rng, 447, m),
                    service="voice",
                    direction="in",
                    duration_s=rng.integers(10, 90, m),
                    cell_id=cell,
                    plan_id=s["plan_id"],
                    imsi=s["imsi"],
                    imei=s["imei"],
                )
            )
            self.truth.setdefault("sim_box", []).append(s["msisdn"])
        self.frames += out

    def irsf(self, k: int) -> None:
        rng, d = self.rng, self.cal.days
        for i in self.pick(
            k, self.old & np.isin(self.subs["profile"].to_numpy(), ["mainstream", "light_voice", "texter"])
        ):
            s = self.line(i)
            day = self.home_day(i, max(1, d // 2), d - 1)
            n = int(rng.integers(8, 15))
            dur = rng.integers(900, 2700, n)
            gaps = rng.integers(60, 600, n)
            start = 1800 + np.concatenate([[0], np.cumsum(dur[:-1] + gaps[:-1])])
            dest = rng.choice(len(IRSF_DESTINATIONS), size=n)
            self.frames.append(
                rows(
                    n,
                    start_at=ts(self.cal, day, start),
                    msisdn=s["msisdn"],
                    service="voice",
                    direction="out",
                    other_party=[numbers(rng, IRSF_DESTINATIONS[x][1], 1, 8)[0] for x in dest],
                    duration_s=dur,
                    cell_id=s["cell"],
                    destination_country=[IRSF_DESTINATIONS[x][0] for x in dest],
                    plan_id=s["plan_id"],
                    imsi=s["imsi"],
                    imei=s["imei"],
                )
            )
            self.truth.setdefault("irsf", []).append(s["msisdn"])

    def wangiri(self, k: int) -> None:
        rng, d = self.rng, self.cal.days
        targets_all = np.flatnonzero(self.old & ~self.taken)
        for j in range(k):
            country, code = WANGIRI_ORIGINS[j % len(WANGIRI_ORIGINS)]
            number = numbers(rng, code, 1, 8)[0]
            day = int(rng.integers(max(1, d // 3), d - 3))
            at_home = (self.sit.away[targets_all, day : day + 3] < 0).all(axis=1) & (
                self.sit.roam[targets_all, day : day + 3] == 0
            ).all(axis=1)
            targets = rng.choice(
                targets_all[at_home], size=min(int(at_home.sum()), int(rng.integers(40, 80))), replace=False
            )
            n = len(targets)
            t0 = int(rng.integers(17 * 3600, 19 * 3600))
            sub = self.subs[targets]
            cells = self.cells["cell_id"].gather(sub["home_cell_0"])
            self.frames.append(
                rows(
                    n,
                    start_at=ts(self.cal, day, t0 + np.sort(rng.integers(0, 2400, n))),
                    msisdn=sub["msisdn"],
                    other_party=number,
                    service="voice",
                    direction="in",
                    duration_s=0,
                    cell_id=cells,
                    disposition="no_answer",
                    plan_id=sub["plan_id"],
                    imsi=sub["imsi"],
                    imei=sub["imei"],
                )
            )
            back = rng.choice(n, size=max(3, n // 7), replace=False)
            m = len(back)
            self.frames.append(
                rows(
                    m,
                    start_at=ts(self.cal, day, t0 + rng.integers(3000, 40 * 3600, m)),
                    msisdn=sub["msisdn"].gather(back),
                    other_party=number,
                    service="voice",
                    direction="out",
                    duration_s=rng.integers(30, 240, m),
                    cell_id=cells.gather(back),
                    destination_country=country,
                    plan_id=sub["plan_id"].gather(back),
                    imsi=sub["imsi"].gather(back),
                    imei=sub["imei"].gather(back),
                )
            )
            self.truth.setdefault("wangiri", []).append(str(number))

    def sim_clone(self, k: int, base: pl.DataFrame) -> None:
        rng, d = self.rng, self.cal.days
        window0 = max(0, d - 21)
        quiet = self.sit.roam[:, window0:].sum(axis=1) == 0
        busy = np.isin(self.subs["profile"].to_numpy(), ["heavy_voice", "business", "texter"])
        centres = np.array([[r[2], r[3]] for r in REGIONS])
        for i in self.pick(k, self.old & quiet & busy):
            s = self.line(i)
            home = centres[s["region_idx"]]
            far = np.flatnonzero(np.hypot(centres[:, 0] - home[0], (centres[:, 1] - home[1]) * 0.6) > 3.0)
            region = REGIONS[int(rng.choice(far))][0]
            region_cells = self.cells.filter(pl.col("region") == region)["cell_id"]
            t_from = np.datetime64(self.cal.start, "us") + np.timedelta64(window0, "D")
            genuine = base.filter(
                (pl.col("msisdn").cast(pl.String) == s["msisdn"])
                & (pl.col("start_at") >= t_from)
                & ~pl.col("is_roaming")
            )
            anchors = genuine["start_at"].to_numpy()
            anchors = (
                anchors[rng.choice(len(anchors), size=min(12, len(anchors)), replace=False)]
                if len(anchors)
                else anchors
            )
            n = len(anchors)
            clone_imei = f"86{rng.integers(10**12, 10**13)}"
            self.frames.append(
                rows(
                    n,
                    start_at=(anchors + rng.integers(8 * 60, 30 * 60, n).astype("timedelta64[s]")).astype(
                        "datetime64[us]"
                    ),
                    msisdn=s["msisdn"],
                    other_party=numbers(rng, 447, n),
                    service="voice",
                    direction="out",
                    duration_s=rng.integers(60, 300, n),
                    cell_id=region_cells.gather(rng.integers(0, len(region_cells), n)),
                    destination_country="GB",
                    plan_id=s["plan_id"],
                    imsi=s["imsi"],
                    imei=clone_imei,
                )
            )
            self.truth.setdefault("sim_clone", []).append(s["msisdn"])

    def usage_spike(self, k: int) -> None:
        rng, d = self.rng, self.cal.days
        light = np.isin(self.subs["profile"].to_numpy(), ["mainstream", "light_voice", "texter"])
        for i in self.pick(k, self.old & light & (self.sit.roam.sum(axis=1) == 0)):
            s = self.line(i)
            day = self.home_day(i, max(20, 2 * d // 3), d)
            n_data, n_call = 30, 6
            self.frames.append(
                rows(
                    n_data,
                    start_at=ts(self.cal, day, np.sort(rng.integers(8 * 3600, 23 * 3600, n_data))),
                    msisdn=s["msisdn"],
                    other_party="internet",
                    service="data",
                    direction="out",
                    duration_s=rng.integers(1200, 3600, n_data),
                    cell_id=s["cell"],
                    bytes_down=rng.integers(250_000_000, 350_000_000, n_data),
                    bytes_up=rng.integers(5_000_000, 20_000_000, n_data),
                    plan_id=s["plan_id"],
                    imsi=s["imsi"],
                    imei=s["imei"],
                )
            )
            self.frames.append(
                rows(
                    n_call,
                    start_at=ts(self.cal, day, 9 * 3600 + np.arange(n_call) * 7200),
                    msisdn=s["msisdn"],
                    other_party=numbers(rng, 447, n_call),
                    service="voice",
                    direction="out",
                    duration_s=rng.integers(1200, 1800, n_call),
                    cell_id=s["cell"],
                    destination_country="GB",
                    plan_id=s["plan_id"],
                    imsi=s["imsi"],
                    imei=s["imei"],
                )
            )
            self.truth.setdefault("usage_spike", []).append(s["msisdn"])

    # --- honest look-alikes --------------------------------------------------------------


def inject(
    rng: np.random.Generator,
    subs: pl.DataFrame,
    cells: pl.DataFrame,
    cal: Calendar,
    sit: Situation,
    base: pl.DataFrame,
    *,
    event_region: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """(all records, extra subscriber rows, {"fraud": ..., "honest": ..., "bill_shock": ...})."""
    inj = Fraud(rng, subs, cells, cal, sit, avoid_regions=(event_region,) if event_region else ())
    present = set(base["msisdn"].unique().to_list())
    inj.taken |= ~subs["msisdn"].is_in(list(present)).to_numpy()  # actors must have traffic
    inj.sim_box(COUNTS["sim_box"])
    inj.irsf(COUNTS["irsf"])
    inj.sim_clone(COUNTS["sim_clone"], base)
    inj.usage_spike(COUNTS["usage_spike"])
    lookalikes.call_centre(inj, COUNTS["call_centre"])
    lookalikes.travellers_and_streamers(inj, COUNTS["traveller"], COUNTS["streamer"])
    base = lookalikes.handset_change(inj, COUNTS["handset_change"], base)
    base = lookalikes.bill_shock(inj, COUNTS["bill_shock"], base)
    inj.wangiri(COUNTS["wangiri"])
    records = pl.concat([base, *inj.frames], how="vertical_relaxed", rechunk=False)
    new_subs = pl.DataFrame(
        inj.new_subs, schema={"msisdn": pl.String, "plan_id": pl.String, "activation_date": pl.Date}
    )
    fraud = {t: inj.truth.get(t, []) for t in ("sim_box", "irsf", "wangiri", "sim_clone", "usage_spike")}
    honest = {t: inj.truth.get(t, []) for t in ("call_centre", "traveller", "streamer", "handset_change")}
    return records, new_subs, {"fraud": fraud, "honest": honest, "bill_shock": inj.truth.get("bill_shock", [])}
