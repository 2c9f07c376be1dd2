"""Where lines spend each day: roaming trips, day visits to other regions, the event spike.

Builds the :class:`~analytics.demo.traffic.Situation` matrices (line x day). Travel is
always plausible: a day spent in another region puts all of that day's records between
09:00 and 19:00 local time in the visited region, so consecutive records of an honest
line are hours apart whenever they are hundreds of kilometres apart; a roaming day puts
all of that day's records abroad (no coordinates).

The event spike: on one or two days, one region's residents are more active and many
lines from other regions visit it, so the region's traffic jumps several-fold while no
single line's usage looks anomalous.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from analytics.demo.traffic import AWAY_SHARE, ROAM, Calendar, Situation
from analytics.demo.world import QUIET_REGION, REGIONS

EVENT_FACTOR = 4.5  # target ratio of the event region's records to a normal day (achieved ~4x: see truth)
EVENT_BOOST = 1.5  # how much more active residents and visitors are on event days


@dataclass(frozen=True)
class Event:
    region: str
    region_idx: int
    day_idx: list[int]

    def dates(self, start: date) -> list[str]:
        return [(start + timedelta(days=d)).isoformat() for d in self.day_idx]


def pick_event(rng: np.random.Generator, cal: Calendar) -> Event:
    """A Saturday (plus the Sunday, if in range) in the middle of the period, in a mid-size region."""
    candidates = [i for i, r in enumerate(REGIONS) if r[0] not in (QUIET_REGION, "London") and r[5] >= 0.07]
    r = int(rng.choice(candidates))
    mid = cal.days // 2
    saturdays = [
        d for d in range(max(1, cal.days // 4), max(2, cal.days - 3)) if (cal.start + timedelta(days=d)).weekday() == 5
    ]
    first = min(saturdays, key=lambda d: abs(d - mid)) if saturdays else mid
    days = [first] + ([first + 1] if first + 1 < cal.days else [])
    return Event(REGIONS[r][0], r, days)


def situation(rng: np.random.Generator, subs: pl.DataFrame, cal: Calendar, event: Event) -> Situation:
    n, d = len(subs), cal.days
    profile = subs["profile"].to_numpy()
    region = subs["region_idx"].to_numpy()
    roam = np.zeros((n, d), dtype=np.int16)
    # travellers: two trips of 3-9 days; everyone else: 8 % take one 4-10 day holiday
    trips = [
        (profile == "traveller", 3, 10),
        (profile == "traveller", 3, 10),
        ((profile != "traveller") & (rng.random(n) < 0.08), 4, 11),
    ]
    for who, lo, hi in trips:
        rows = np.flatnonzero(who)
        length = rng.integers(lo, hi, len(rows))
        begin = rng.integers(0, max(1, d - 3), len(rows))
        country = rng.integers(1, len(ROAM) + 1, len(rows)).astype(np.int16)
        for offset in range(hi):
            col = begin + offset
            ok = (offset < length) & (col < d)
            roam[rows[ok], col[ok]] = country[ok]

    away = np.full((n, d), -1, dtype=np.int16)
    weights = np.array([r[5] for r in REGIONS])
    visit = rng.choice(len(REGIONS), size=(n, d), p=weights / weights.sum()).astype(np.int16)
    go = (rng.random((n, d)) < AWAY_SHARE) & (visit != region[:, None]) & (roam == 0)
    away[go] = visit[go]

    boost = np.ones((n, d), dtype=np.float32)
    residents = region == event.region_idx
    others = np.flatnonzero(~residents)
    # visitors so that residents*boost + visitors*boost ~ EVENT_FACTOR * residents
    want = int(round((EVENT_FACTOR - EVENT_BOOST) / EVENT_BOOST * residents.sum()))
    visitors = rng.choice(others, size=min(want, int(0.4 * len(others))), replace=False) if len(others) else others
    for day in event.day_idx:
        here = np.zeros(n, dtype=bool)
        here[visitors] = True
        here &= roam[:, day] == 0
        away[here, day] = event.region_idx
        away[residents, day] = -1
        boost[here | residents, day] = EVENT_BOOST
    return Situation(roam=roam, away=away, boost=boost)
