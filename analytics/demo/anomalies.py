"""Injected fraud actors and their honest look-alikes (the truth other tests check).

Each injector returns extra records (grain: one row per record, the columns of
:func:`analytics.demo.traffic.finish`) and the truth entries; new lines (SIM boxes,
call-centre lines) also return subscriber rows. Signatures follow issue 7:

* ``sim_box``: new lines, 40-70 outgoing calls a day to distinct numbers, almost no
  incoming calls, no sms or data, all from one cell.
* ``irsf``: one night burst (00:30-05:00 UTC) of long outgoing calls to high-risk
  destinations (CU, SO, LV, GN, SL) on a line that never called them before.
* ``wangiri``: a foreign number ringing dozens of lines within 40 minutes (no answer,
  0 s), then some of them call it back within two days.
* ``sim_clone``: a second handset (IMEI) on the line, in a region hundreds of km away,
  making calls minutes after the genuine handset (IMEI switches and impossible travel).
* ``usage_spike``: one day of ~9 GB of data and ~2.5 h of outgoing calls on a light line.

Honest look-alikes (must not be flagged): call-centre lines (as many incoming as
outgoing calls), travellers (roaming trips), streamers (heavy data every day) and
handset changes (the IMEI changes once and stays).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from analytics.demo.traffic import Calendar, Situation, typed
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
}


def rows(n: int, **cols: object) -> pl.DataFrame:
    """A records frame of ``n`` rows from arrays or scalars (broadcast)."""
    defaults = {
        "disposition": "answered",
        "bytes_up": 0,
        "bytes_down": 0,
        "is_roaming": False,
        "destination_country": "",
    }
    data = {**defaults, **cols}
    out = {k: (np.asarray(v) if np.ndim(v) else np.repeat(np.asarray([v]), n)) for k, v in data.items()}
    frame = pl.DataFrame(out).with_columns(
        pl.col("other_party", "msisdn", "cell_id", "plan_id", "imsi", "imei", "destination_country").cast(pl.String)
    )
    return frame.lazy().pipe(typed).collect()


def _ts(cal: Calendar, day: np.ndarray | int, seconds: np.ndarray | int) -> np.ndarray:
    secs = np.asarray(day, dtype=np.int64) * 86400 + np.asarray(seconds, dtype=np.int64)
    return (np.datetime64(cal.start, "s") + secs.astype("timedelta64[s]")).astype("datetime64[us]")


def _numbers(rng: np.random.Generator, code: int, n: int, digits: int = 9) -> np.ndarray:
    return (code * 10**digits + rng.integers(10 ** (digits - 1), 10**digits, n)).astype(str)


class Injector:
    """Picks disjoint actors from the subscriber base and builds their records."""

    def __init__(
        self, rng: np.random.Generator, subs: pl.DataFrame, cells: pl.DataFrame, cal: Calendar, sit: Situation
    ):
        self.rng, self.subs, self.cells, self.cal, self.sit = rng, subs, cells, cal, sit
        act = (subs["activation_date"].to_numpy() - np.datetime64(cal.start, "D")).astype(int)
        self.old = act < 0
        self.taken = np.zeros(len(subs), dtype=bool)
        self.frames: list[pl.DataFrame] = []
        self.new_subs: list[dict] = []
        self.truth: dict[str, list[str]] = {}

    def pick(self, k: int, mask: np.ndarray) -> np.ndarray:
        pool = np.flatnonzero(mask & ~self.taken)
        chosen = self.rng.choice(pool, size=min(k, len(pool)), replace=False) if len(pool) else pool
        self.taken[chosen] = True
        return np.sort(chosen)

    def line(self, i: int) -> dict:
        s = self.subs.row(int(i), named=True)
        s["cell"] = self.cells["cell_id"][s["home_cell_0"]]
        return s

    def new_line(self, prefix: int, k: int, plan: str, activation_day: int) -> dict:
        s = {
            "msisdn": f"4478{prefix:02d}{self.rng.integers(10**5, 10**6)}{k}",
            "plan_id": plan,
            "activation_date": self.cal.start + timedelta(days=activation_day),
            "imsi": f"23415{self.rng.integers(10**9, 10**10)}",
            "imei": f"35{self.rng.integers(10**12, 10**13)}",
        }
        self.new_subs.append({c: s[c] for c in ("msisdn", "plan_id", "activation_date")})
        return s

    def home_day(self, i: int, lo: int, hi: int) -> int:
        """A day in [lo, hi) that line ``i`` spends at home, as do the days either side."""
        home = (self.sit.away[i] < 0) & (self.sit.roam[i] == 0)
        ok = [x for x in range(lo, hi) if home[max(0, x - 1) : x + 2].all()]
        return int(self.rng.choice(ok)) if ok else int(self.rng.integers(lo, hi))

    def busy_cell(self) -> str:
        w = self.cells["busy_weight"].to_numpy()
        return self.cells["cell_id"][int(self.rng.choice(len(w), p=w / w.sum()))]

    # --- fraud ------------------------------------------------------------------------
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
                    start_at=_ts(self.cal, day, rng.integers(7 * 3600, 23 * 3600, n)),
                    msisdn=s["msisdn"],
                    other_party=_numbers(rng, 447, n),
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
                    start_at=_ts(self.cal, rng.choice(days, m), rng.integers(9 * 3600, 20 * 3600, m)),
                    msisdn=s["msisdn"],
                    other_party=_numbers(rng, 447, m),
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
                    start_at=_ts(self.cal, day, start),
                    msisdn=s["msisdn"],
                    service="voice",
                    direction="out",
                    other_party=[_numbers(rng, IRSF_DESTINATIONS[x][1], 1, 8)[0] for x in dest],
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
            number = _numbers(rng, code, 1, 8)[0]
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
                    start_at=_ts(self.cal, day, t0 + np.sort(rng.integers(0, 2400, n))),
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
                    start_at=_ts(self.cal, day, t0 + rng.integers(3000, 40 * 3600, m)),
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
                    other_party=_numbers(rng, 447, n),
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
                    start_at=_ts(self.cal, day, np.sort(rng.integers(8 * 3600, 23 * 3600, n_data))),
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
                    start_at=_ts(self.cal, day, 9 * 3600 + np.arange(n_call) * 7200),
                    msisdn=s["msisdn"],
                    other_party=_numbers(rng, 447, n_call),
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
    def call_centre(self, k: int) -> None:
        rng = self.rng
        workdays = np.flatnonzero(~self.cal.offpeak)
        for j in range(k):
            s = self.new_line(20, j, "UNL", -int(rng.integers(300, 1500)))
            cell = self.busy_cell()
            for direction, lam in (("out", 60), ("in", 70)):
                day = np.repeat(workdays, rng.poisson(lam, len(workdays)))
                n = len(day)
                answered = rng.random(n) < 0.9
                self.frames.append(
                    rows(
                        n,
                        start_at=_ts(self.cal, day, rng.integers(8 * 3600, 17 * 3600, n)),
                        msisdn=s["msisdn"],
                        other_party=_numbers(rng, 447, n),
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
            self.frames.append(
                rows(
                    n,
                    start_at=_ts(self.cal, day, rng.integers(8 * 3600, 17 * 3600, n)),
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
            self.truth.setdefault("call_centre", []).append(s["msisdn"])

    def honest_existing(self, base_msisdns: set[str]) -> None:
        prof = self.subs["profile"].to_numpy()
        roamed = self.sit.roam.sum(axis=1) > 0
        present = self.subs["msisdn"].is_in(list(base_msisdns)).to_numpy()
        travellers = self.pick(COUNTS["traveller"], (prof == "traveller") & roamed & present)
        self.truth["traveller"] = self.subs["msisdn"].gather(travellers).to_list()
        streamers = np.flatnonzero((prof == "streamer") & self.old & ~self.taken)
        top = streamers[np.argsort(-self.subs["activity"].to_numpy()[streamers])][: COUNTS["streamer"]]
        self.taken[top] = True
        self.truth["streamer"] = self.subs["msisdn"].gather(np.sort(top)).to_list()
        rng = self.rng
        for i in np.sort(top):  # heavy every day: 8-13 sessions of 150-250 MB on top of their usual
            s = self.line(i)
            home = np.flatnonzero((self.sit.away[i] < 0) & (self.sit.roam[i] == 0))
            day = np.repeat(home, rng.integers(8, 14, len(home)))
            n = len(day)
            self.frames.append(
                rows(
                    n,
                    start_at=_ts(self.cal, day, rng.integers(7 * 3600, 24 * 3600, n)),
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

    def handset_change(self, k: int, base: pl.DataFrame) -> pl.DataFrame:
        """The base records with ``k`` lines moved to a new IMEI from a mid-period day onwards."""
        changed = self.pick(
            k, self.old & np.isin(self.subs["profile"].to_numpy(), ["mainstream", "heavy_voice", "youth"])
        )
        msisdns = self.subs["msisdn"].gather(changed).to_list()
        day = np.datetime64(self.cal.start, "us") + np.timedelta64(self.cal.days // 2, "D")
        new_imei = {m: f"35{self.rng.integers(10**12, 10**13)}" for m in msisdns}
        self.truth["handset_change"] = msisdns
        hit = pl.col("msisdn").cast(pl.String).is_in(msisdns) & (pl.col("start_at") >= day)
        return base.with_columns(
            pl.when(hit)
            .then(pl.col("msisdn").cast(pl.String).replace_strict(new_imei, default=None))
            .otherwise(pl.col("imei").cast(pl.String))
            .cast(pl.Categorical)
            .alias("imei")
        )


def inject(
    rng: np.random.Generator, subs: pl.DataFrame, cells: pl.DataFrame, cal: Calendar, sit: Situation, base: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, dict[str, list[str]]]]:
    """(all records, extra subscriber rows, {"fraud": ..., "honest": ...})."""
    inj = Injector(rng, subs, cells, cal, sit)
    present = set(base["msisdn"].unique().to_list())
    inj.taken |= ~subs["msisdn"].is_in(list(present)).to_numpy()  # actors must have traffic
    inj.sim_box(COUNTS["sim_box"])
    inj.irsf(COUNTS["irsf"])
    inj.sim_clone(COUNTS["sim_clone"], base)
    inj.usage_spike(COUNTS["usage_spike"])
    inj.call_centre(COUNTS["call_centre"])
    inj.honest_existing(present)
    base = inj.handset_change(COUNTS["handset_change"], base)
    inj.wangiri(COUNTS["wangiri"])
    records = pl.concat([base, *inj.frames], how="vertical_relaxed", rechunk=False)
    new_subs = pl.DataFrame(
        inj.new_subs, schema={"msisdn": pl.String, "plan_id": pl.String, "activation_date": pl.Date}
    )
    fraud = {t: inj.truth.get(t, []) for t in ("sim_box", "irsf", "wangiri", "sim_clone", "usage_spike")}
    honest = {t: inj.truth.get(t, []) for t in ("call_centre", "traveller", "streamer", "handset_change")}
    return records, new_subs, {"fraud": fraud, "honest": honest}
