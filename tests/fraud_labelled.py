"""A labelled fraud world, independent of the demo generator (issue #17 item 4).

:func:`generate` writes seeded cdr-extract v1 files (one per week) plus cells, plans and
subscribers into a folder and returns the labels: ``fraud`` (type -> the msisdn, or for
Wangiri the foreign number, an alert of that type should name) and ``honest`` (look-alike
kind -> lines no detector should flag). Every line not in ``fraud`` is honest.

Look-alikes, one family per detector: steady heavy users, weekend-heavy users, one-off big
downloads, travellers, new lines with no history (usage_spike); call centres (sim_box);
diaspora callers to hot-listed countries (irsf); a foreign bank calling its customers
(wangiri); handset changes and a domestic flyer (sim_clone).

:func:`measure` loads the files through ``analytics.ingest.ingest_files`` into a warehouse,
runs the fraud engine and returns precision/recall per type. Run as a script it prints the
table of docs/fraud.md: ``.venv/bin/python tests/fraud_labelled.py``.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script from the repository: make analytics importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conftest import V1_COLUMNS, write_v1  # noqa: E402

TYPES = ("sim_box", "irsf", "wangiri", "sim_clone", "usage_spike")
T0 = dt.datetime(2026, 2, 2)  # a Monday, UTC
DAYS = 56
# cell, region, lat, lon: London x3, Manchester, Birmingham, Leeds, Bristol, Edinburgh
CELLS = [
    ("L1", "LONDON", 51.507, -0.128), ("L2", "LONDON", 51.52, -0.10), ("L3", "LONDON", 51.49, -0.15),
    ("M1", "NORTH WEST", 53.48, -2.24), ("B1", "MIDLANDS", 52.49, -1.89), ("Y1", "YORKSHIRE", 53.80, -1.55),
    ("W1", "SOUTH WEST", 51.45, -2.59), ("E1", "SCOTLAND", 55.95, -3.19),
]  # fmt: skip
HOME_CELLS = ["L1", "L2", "L3", "M1", "B1", "Y1", "W1"]
PLANS = [  # the columns of plans.csv
    ("PAYG", "Pay as you go", "0", 0, 0, 0, "0.3", "0.15", "0.05", "1.5", "1.2", "0.1"),
    ("ESS", "Essentials", "10", 250, 250, 5000, "0.25", "0.12", "0.02", "1.2", "0.9", "0.05"),
    ("UNL", "Unlimited", "35", 50000, 50000, 500000, "0.1", "0.05", "0.01", "0.8", "0.5", "0.02"),
]
PLAN_COLUMNS = ["plan_id", "name", "monthly_fee", "incl_voice_min", "incl_sms", "incl_data_mb", "voice_per_min",
                "sms_each", "data_per_mb", "intl_voice_per_min", "roaming_voice_per_min", "roaming_data_per_mb"]  # fmt: skip
MB = 1_000_000


class World:
    """Collects rows, subscribers and labels; each actor is a method."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rows: list[dict[str, Any]] = []
        self.subs: dict[str, tuple[str, str]] = {}  # msisdn -> (plan, activation date)
        self.fraud: dict[str, list[str]] = {t: [] for t in TYPES}
        self.honest: dict[str, list[str]] = {}
        self.home: dict[str, tuple[str, str]] = {}  # msisdn -> (home cell, imei): defaults of its rows
        self.n = 0

    # --- plumbing ----------------------------------------------------------------------
    def line(self, plan: str, *, first_day: int = -400, label: tuple[str, str] | None = None) -> str:
        self.n += 1
        m = f"4477{self.n:08d}"
        self.subs[m] = (plan, (T0 + dt.timedelta(days=first_day)).date().isoformat())
        if label:
            (self.fraud if label[0] == "fraud" else self.honest).setdefault(label[1], []).append(m)
        return m

    def add(self, m: str, day: int, second: int, other: str, **kw: Any) -> None:
        at = T0 + dt.timedelta(days=day, seconds=second)
        total = int(kw.pop("bytes", 0))
        cell, imei = self.home.get(m, ("L1", ""))
        row = {"record_id": f"LB{len(self.rows):08d}", "start_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "msisdn": m, "other_party": other, "service": "voice", "direction": "out", "duration_s": 0,
               "cell_id": cell, "imei": imei, "charge": "0.00", "disposition": "answered", "bytes_up": total // 10,
               "bytes_down": total - total // 10, "roaming": "false", "destination_country": ""}  # fmt: skip
        row.update(kw)
        self.rows.append(row)

    def uk(self) -> str:
        return f"+4477{self.rng.randint(10**7, 10**8 - 1)}"

    def ordinary_day(self, m: str, day: int, cell: str, imei: str, *, calls: float, texts: float, data_mb: float,
                     roaming: bool = False) -> None:  # fmt: skip
        """One day of plain usage: Poisson-ish calls both ways, texts, data sessions."""
        rng = self.rng
        extra = {"roaming": "true" if roaming else "false", "imei": imei, "cell_id": "" if roaming else cell}
        for _ in range(_poisson(rng, calls)):
            answered = rng.random() < 0.85
            self.add(m, day, rng.randint(8 * 3600, 21 * 3600), self.uk(), direction=rng.choice(["in", "out"]),
                     duration_s=min(1800, int(rng.expovariate(1 / 150))) if answered else 0,
                     disposition="answered" if answered else "no_answer", **extra)  # fmt: skip
        for _ in range(_poisson(rng, texts)):
            self.add(m, day, rng.randint(8 * 3600, 23 * 3600), self.uk(), service="sms",
                     direction=rng.choice(["in", "out"]), **extra)  # fmt: skip
        if data_mb > 0:
            sessions = max(1, _poisson(rng, 3))
            for _ in range(sessions):
                mb = min(data_mb * 4, rng.lognormvariate(0, 0.5) * data_mb) / sessions
                self.add(m, day, rng.randint(7 * 3600, 23 * 3600), "internet", service="data",
                         duration_s=rng.randint(60, 3600), bytes=int(mb * MB), **extra)  # fmt: skip

    def life(self, m: str, *, cell: str, imei: str, calls: float, texts: float, data_mb: float,
             active: float = 0.95, first: int = 0, last: int = DAYS, skip: set[int] = frozenset()) -> None:  # fmt: skip
        for d in range(first, last):
            if d not in skip and self.rng.random() < active:
                self.ordinary_day(m, d, cell, imei, calls=calls, texts=texts, data_mb=data_mb)

    def person(self, plan: str, *, label: tuple[str, str] | None = None, kind: str = "mainstream",
               first: int = 0, skip: set[int] = frozenset()) -> tuple[str, str, str]:  # fmt: skip
        """A line with its own everyday usage; returns (msisdn, home cell, imei)."""
        m = self.line(plan, first_day=first - 1 if first > 0 else -400, label=label)
        cell, imei = self.rng.choice(HOME_CELLS), f"35{self.rng.randint(10**12, 10**13 - 1)}"
        self.home[m] = (cell, imei)
        usage = {"light": (1.0, 0.5, 20.0, 0.5), "mainstream": (3.0, 2.0, 150.0, 0.95),
                 "heavy_voice": (8.0, 1.0, 80.0, 0.95), "texter": (1.5, 12.0, 100.0, 0.95),
                 "streamer": (2.0, 2.0, 3000.0, 0.95)}[kind]  # fmt: skip
        calls, texts, data, active = usage
        self.life(m, cell=cell, imei=imei, calls=calls, texts=texts, data_mb=data * self.rng.uniform(0.6, 1.4),
                  active=active, first=first, skip=skip)  # fmt: skip
        return m, cell, imei


def _poisson(rng: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, 2.718281828 ** (-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


# --- the cast ------------------------------------------------------------------------------
def background(w: World) -> None:
    kinds = [("light", "PAYG", 30), ("mainstream", "ESS", 50), ("heavy_voice", "ESS", 15), ("texter", "ESS", 15),
             ("streamer", "UNL", 25)]  # fmt: skip
    for kind, plan, count in kinds:
        for _ in range(count):
            w.person(plan, kind=kind)


def spikes(w: World) -> None:
    rng = w.rng
    for _ in range(3):  # light lines, active about once a week, then tens of GB a day for two days
        m = w.line("PAYG", label=("fraud", "usage_spike"))
        cell, imei = rng.choice(HOME_CELLS), "35" + str(rng.randint(10**12, 10**13 - 1))
        w.life(m, cell=cell, imei=imei, calls=1.5, texts=1.0, data_mb=15, active=0.18, last=44)
        for d in (44, 45):
            for _ in range(12):
                w.add(m, d, rng.randint(6 * 3600, 23 * 3600), "internet", service="data", duration_s=3000,
                      bytes=rng.randint(1500, 3000) * MB, cell_id=cell, imei=imei)  # fmt: skip
    m, cell, imei = w.person("ESS", label=("fraud", "usage_spike"), skip={50})  # one day of ~20 GB
    for _ in range(20):
        w.add(m, 50, rng.randint(8 * 3600, 23 * 3600), "internet", service="data", duration_s=3000,
              bytes=rng.randint(800, 1200) * MB, cell_id=cell, imei=imei)  # fmt: skip
    m, cell, imei = w.person("ESS", label=("fraud", "usage_spike"), first=47)  # new line, burns data at once
    for d in (48, 49, 50):
        for _ in range(15):
            w.add(m, d, rng.randint(0, 86399), "internet", service="data", duration_s=3000,
                  bytes=rng.randint(1500, 2500) * MB, cell_id=cell, imei=imei)  # fmt: skip
    m, cell, imei = w.person("ESS", label=("fraud", "usage_spike"))  # taken over: hours of calls two days
    for d in (40, 41):
        for i in range(9):
            w.add(m, d, 9 * 3600 + i * 3600, w.uk(), duration_s=rng.randint(1500, 2400), cell_id=cell, imei=imei)

    # honest look-alikes
    for _ in range(4):  # steady heavy: 8-15 GB every day
        m, cell, imei = w.person("UNL", kind="streamer", label=("honest", "steady_heavy"))
        for d in range(DAYS):
            w.add(m, d, rng.randint(18 * 3600, 22 * 3600), "internet", service="video", duration_s=7200,
                  bytes=rng.randint(8000, 15000) * MB, cell_id=cell, imei=imei)  # fmt: skip
    for _ in range(2):  # weekend binge: 10-15 GB every Saturday and Sunday
        m, cell, imei = w.person("UNL", kind="mainstream", label=("honest", "weekend_heavy"))
        for d in [d for d in range(DAYS) if d % 7 in (5, 6)]:
            w.add(m, d, rng.randint(12 * 3600, 20 * 3600), "internet", service="video", duration_s=9000,
                  bytes=rng.randint(10000, 15000) * MB, cell_id=cell, imei=imei)  # fmt: skip
    for mb in (2000, 2600, 3200, 4000, 6500):  # one-off big download (update, game) on an ordinary line
        m, cell, imei = w.person("ESS", label=("honest", "one_off_download"))
        w.add(m, rng.randint(30, 55), 20 * 3600, "internet", service="data", duration_s=2400, bytes=mb * MB,
              cell_id=cell, imei=imei)  # fmt: skip
    for _ in range(3):  # travellers: a week abroad with 1.5-3 GB a day and more calls
        start = rng.randint(30, 40)
        trip = set(range(start, start + 7))
        m, cell, imei = w.person("ESS", label=("honest", "traveller"), skip=trip)
        for d in sorted(trip):
            w.ordinary_day(m, d, cell, imei, calls=6, texts=3, data_mb=rng.randint(1500, 3000), roaming=True)
    for kind, plan in (("mainstream", "ESS"), ("streamer", "UNL"), ("texter", "ESS")):  # new lines, no history
        m, cell, imei = w.person(plan, kind=kind, label=("honest", "new_line"), first=50)
        if kind == "streamer":
            for d in range(50, DAYS):
                w.add(m, d, 20 * 3600, "internet", service="video", duration_s=7200,
                      bytes=rng.randint(8000, 12000) * MB, cell_id=cell, imei=imei)  # fmt: skip


def sim_boxes(w: World) -> None:
    rng = w.rng
    for j in range(3):
        m = w.line("ESS", first_day=20 + j, label=("fraud", "sim_box"))
        cell, imei = HOME_CELLS[j], f"86{rng.randint(10**12, 10**13 - 1)}"
        for d in range(21 + j, 35 + j):
            for _ in range(rng.randint(40, 70)):
                ok = rng.random() < 0.85
                w.add(m, d, rng.randint(7 * 3600, 23 * 3600), w.uk(), duration_s=rng.randint(20, 400) if ok else 0,
                      disposition="answered" if ok else "no_answer", cell_id=cell, imei=imei)  # fmt: skip
    for _ in range(2):  # call centre: as many calls in as out, some data, one cell, weekdays
        m, cell, imei = w.person("UNL", kind="mainstream", label=("honest", "call_centre"))
        for d in [d for d in range(DAYS) if d % 7 < 5]:
            for direction, k in (("out", rng.randint(50, 70)), ("in", rng.randint(55, 80))):
                for _ in range(k):
                    w.add(m, d, rng.randint(8 * 3600, 17 * 3600), w.uk(), direction=direction,
                          duration_s=rng.randint(60, 500), cell_id=cell, imei=imei)  # fmt: skip


def irsf(w: World) -> None:
    rng = w.rng
    for code, country in (("53", "CU"), ("252", "SO"), ("371", "LV")):
        m, cell, imei = w.person("ESS", label=("fraud", "irsf"))
        day, t = rng.randint(35, 52), 1800
        for _ in range(rng.randint(8, 14)):
            dur = rng.randint(900, 2700)
            w.add(m, day, t, f"+{code}{rng.randint(10**7, 10**8 - 1)}", duration_s=dur, cell_id=cell, imei=imei,
                  destination_country=country)  # fmt: skip
            t += dur + rng.randint(60, 600)
    for code, country in (("371", "LV"), ("370", "LT")):  # diaspora: long calls home twice a week
        m, cell, imei = w.person("ESS", label=("honest", "diaspora_caller"))
        family = [f"+{code}2{rng.randint(10**6, 10**7 - 1)}" for _ in range(3)]
        for d in [d for d in range(DAYS) if d % 7 in (2, 6)]:
            for i in range(rng.randint(1, 3)):
                w.add(m, d, 19 * 3600 + i * 2400, rng.choice(family), duration_s=rng.randint(600, 2100),
                      cell_id=cell, imei=imei, destination_country=country)  # fmt: skip


def wangiri(w: World) -> None:
    rng = w.rng
    targets = [m for m in w.subs if w.subs[m][0] in ("ESS", "PAYG")][:120]
    for j, (code, country) in enumerate((("222", "MR"), ("216", "TN"))):
        number = f"{code}{rng.randint(10**7, 10**8 - 1)}"
        w.fraud["wangiri"].append(number)
        day, t0 = 30 + 7 * j, 18 * 3600
        rung = rng.sample(targets, rng.randint(30, 50))
        for i, m in enumerate(rung):
            w.add(m, day, t0 + i * 40, number, direction="in", disposition="no_answer")
        for m in rung[:6]:
            w.add(m, day, t0 + rng.randint(3600, 30 * 3600), f"+{number}", duration_s=rng.randint(30, 200),
                  destination_country=country)  # fmt: skip
    bank = f"33{rng.randint(10**8, 10**9 - 1)}"  # a French bank's service line calling its customers
    w.honest["foreign_caller"] = [bank]
    for i, m in enumerate(rng.sample(targets, 25)):
        ok = rng.random() < 0.8
        w.add(m, 33, 10 * 3600 + i * 300, bank, direction="in", duration_s=rng.randint(60, 400) if ok else 0,
              disposition="answered" if ok else "no_answer")  # fmt: skip


def sim_clones(w: World) -> None:
    rng = w.rng
    for _ in range(2):
        m, cell, imei = w.person("ESS", kind="heavy_voice", label=("fraud", "sim_clone"))
        clone = f"86{rng.randint(10**12, 10**13 - 1)}"
        genuine = [r for r in w.rows if r["msisdn"] == m and r["start_time"] >= "2026-03-10"][:12]
        for r in genuine:
            at = dt.datetime.strptime(r["start_time"], "%Y-%m-%dT%H:%M:%SZ") + dt.timedelta(minutes=rng.randint(8, 30))
            w.add(m, (at - T0).days, (at - T0).seconds, w.uk(), duration_s=rng.randint(60, 300), cell_id="E1",
                  imei=clone)  # fmt: skip
    for _ in range(2):  # a new handset mid-period that stays
        m, cell, _ = w.person("ESS", kind="mainstream", label=("honest", "handset_change"), skip=set(range(28, DAYS)))
        w.life(m, cell=cell, imei=f"35{rng.randint(10**12, 10**13 - 1)}", calls=3, texts=2, data_mb=150, first=28)
    m, cell, imei = w.person("ESS", kind="mainstream", label=("honest", "domestic_flyer"), skip={40, 41, 42})
    for d in (40, 41, 42):  # a flight to Edinburgh: one hop, three days there
        w.ordinary_day(m, d, "E1", imei, calls=4, texts=2, data_mb=200)


def generate(out_dir: Path, *, seed: int = 17) -> dict[str, Any]:
    """Write the labelled world into ``out_dir``; returns ``{"paths", "cells", "plans", "subscribers",
    "fraud", "honest"}``."""
    w = World(seed)
    background(w)
    spikes(w)
    sim_boxes(w)
    irsf(w)
    sim_clones(w)
    wangiri(w)
    out_dir.mkdir(parents=True, exist_ok=True)
    w.rows.sort(key=lambda r: (r["start_time"], r["record_id"]))
    paths = []
    for week in range(0, DAYS, 7):
        lo, hi = (T0 + dt.timedelta(days=week)).isoformat(), (T0 + dt.timedelta(days=week + 7)).isoformat()
        rows = [r for r in w.rows if lo <= r["start_time"].replace("Z", "") < hi]
        paths.append(write_v1(out_dir / f"labelled_{week // 7:02d}.csv", rows, columns=V1_COLUMNS[:13] +
                              ["destination_country", "imei"]))  # fmt: skip
    refs = {
        "cells": ("cell_id,region,lat,lon", CELLS),
        "plans": (",".join(PLAN_COLUMNS), PLANS),
        "subscribers": ("msisdn,plan_id,activation_date", [(m, p, a) for m, (p, a) in sorted(w.subs.items())]),
    }
    out: dict[str, Any] = {"paths": paths, "fraud": w.fraud, "honest": w.honest, "records": len(w.rows)}
    for name, (header, rows) in refs.items():
        (out_dir / f"{name}.csv").write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
        out[name] = out_dir / f"{name}.csv"
    return out


def measure(folder: Path, *, seed: int = 17) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, float]]:
    """Generate, load and detect; returns (the world, one row per type, the overall figures)."""
    from analytics import store
    from analytics.fraud import detect
    from analytics.ingest import ingest_files

    world = generate(folder / "files", seed=seed)
    warehouse = folder / "labelled.duckdb"
    result = ingest_files(world["paths"], warehouse=warehouse, cells=world["cells"], plans=world["plans"],
                          subscribers=world["subscribers"], home_country="GB")  # fmt: skip
    assert result["rows_rejected"] == 0, result
    with store.reader(warehouse) as con:
        found = detect(con)
    flagged = set(zip(found["type"].to_list(), found["msisdn"].to_list(), strict=True))
    rows, tp_all, fp_all, fn_all = [], 0, 0, 0
    for t in TYPES:
        truth = set(world["fraud"][t])
        hits = {m for typ, m in flagged if typ == t}
        tp, fp, fn = len(hits & truth), len(hits - truth), len(truth - hits)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        rows.append({"type": t, "actors": len(truth), "alerted": len(hits), "tp": tp, "fp": fp, "fn": fn,
                     "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / len(truth) if truth else 1.0,
                     "false": sorted(hits - truth), "missed": sorted(truth - hits)})  # fmt: skip
    overall = {"precision": tp_all / (tp_all + fp_all) if tp_all + fp_all else 1.0,
               "recall": tp_all / (tp_all + fn_all) if tp_all + fn_all else 1.0}  # fmt: skip
    world["found"] = found
    return world, rows, overall


def table(rows: list[dict[str, Any]], overall: dict[str, float]) -> str:
    lines = ["| type | actors | alerted (lines) | true | false | missed | precision | recall |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['type']} | {r['actors']} | {r['alerted']} | {r['tp']} | {r['fp']} | {r['fn']} | "
                     f"{r['precision']:.2f} | {r['recall']:.2f} |")  # fmt: skip
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    lines.append(f"| **all** | {tp + fn} | {tp + fp} | {tp} | {fp} | {fn} | {overall['precision']:.2f} | "
                 f"{overall['recall']:.2f} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        world, rows, overall = measure(Path(tmp), seed=int(sys.argv[1]) if len(sys.argv) > 1 else 17)
        print(f"labelled world: {world['records']:,} records; look-alikes: "
              + ", ".join(f"{k} {len(v)}" for k, v in world["honest"].items()))  # fmt: skip
        print(table(rows, overall))
        for r in rows:
            if r["false"] or r["missed"]:
                print(f"{r['type']}: false {r['false']} missed {r['missed']}")
