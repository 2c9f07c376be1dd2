"""Shared machinery of the injected actors: small record frames and actor picking.

:func:`rows` builds a records frame (grain: one row per record, the columns and types of
:func:`analytics.demo.traffic.typed`) from arrays or scalars; :class:`Injector` picks
disjoint actors from the subscriber base, creates new lines, and collects the actors'
records, new subscriber rows and truth entries.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from analytics.demo.traffic import Calendar, Situation, typed
from analytics.demo.world import GROWTH_REGION


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


def ts(cal: Calendar, day: np.ndarray | int, seconds: np.ndarray | int) -> np.ndarray:
    secs = np.asarray(day, dtype=np.int64) * 86400 + np.asarray(seconds, dtype=np.int64)
    return (np.datetime64(cal.start, "s") + secs.astype("timedelta64[s]")).astype("datetime64[us]")


def numbers(rng: np.random.Generator, code: int, n: int, digits: int = 9) -> np.ndarray:
    return (code * 10**digits + rng.integers(10 ** (digits - 1), 10**digits, n)).astype(str)


class Injector:
    """Picks disjoint actors from the subscriber base and builds their records."""

    def __init__(
        self,
        rng: np.random.Generator,
        subs: pl.DataFrame,
        cells: pl.DataFrame,
        cal: Calendar,
        sit: Situation,
        *,
        avoid_regions: tuple[str, ...] = (),
    ):
        self.rng, self.subs, self.cells, self.cal, self.sit = rng, subs, cells, cal, sit
        self.avoid_regions = avoid_regions  # besides the growth region: no busy actor placed there
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
        """A busy cell outside the growth and event regions (a SIM box or call centre there
        would hide the region's growth, or flatten the event's spike against its usual days)."""
        avoid = self.cells["region"].is_in([GROWTH_REGION, *self.avoid_regions]).to_numpy()
        w = self.cells["busy_weight"].to_numpy() * ~avoid
        return self.cells["cell_id"][int(self.rng.choice(len(w), p=w / w.sum()))]

    # --- fraud ------------------------------------------------------------------------
