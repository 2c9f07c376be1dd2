"""Seeded synthetic series with known structure (tests and the benchmark).

``daily(n, seed=...)``: level x (1 + trend) with a weekly profile (weekend dip),
multiplicative Gaussian noise and optional one-off spikes (events).
``hourly(n, seed=...)``: a diurnal profile times a weekday/weekend factor plus noise
(Gaussian, or Poisson counts), optionally on a local wall clock with DST changes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

WEEK = np.array([1.0, 1.02, 1.03, 1.01, 1.05, 0.8, 0.7])


def daily(
    n: int,
    *,
    seed: int = 0,
    level: float = 1000.0,
    trend: float = 0.002,
    noise: float = 0.03,
    spikes: int = 0,
    start: dt.date = dt.date(2025, 1, 6),
) -> tuple[np.ndarray, np.ndarray]:
    """(ds as datetime64[us] days from ``start``, y)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    ds = (np.datetime64(start, "D") + t).astype("datetime64[us]")
    weekday = (ds.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    y = level * (1 + trend * t) * WEEK[weekday] * (1 + rng.normal(0, noise, n))
    for i in rng.choice(np.arange(n // 4, n), size=min(spikes, n), replace=False) if spikes else []:
        y[i] *= 4.0
    return ds, np.maximum(y, 0.0)


def hourly(
    n: int,
    *,
    seed: int = 0,
    level: float = 50.0,
    noise: float = 0.08,
    start: dt.datetime = dt.datetime(2025, 1, 6),
    counts: bool = False,
    zone: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(ds as datetime64[us] UTC hours from ``start``, y) with daily and weekly seasons.

    ``counts``: Poisson counts around the profile instead of Gaussian noise (small cells:
    the noise grows with the level). ``zone``: the profile follows that zone's wall clock
    (people call by their local time), so it shifts by an hour in UTC at each DST change.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    ds = np.datetime64(start, "us") + t.astype("timedelta64[h]")
    if zone:
        from analytics.forecast.localclock import wall_clock

        local = wall_clock(ds, zone)
        hours = ((local - np.datetime64(start, "us")) // np.timedelta64(1, "h")).astype(np.int64)
    else:
        hours = t
    hour = hours % 24
    day = (hours // 24) % 7
    diurnal = 0.25 + np.clip(np.sin((hour - 6) / 16 * np.pi), 0, None)
    weekly = np.where(day >= 5, 0.6, 1.0)
    mean = level * diurnal * weekly
    y = rng.poisson(mean).astype(float) if counts else mean * (1 + rng.normal(0, noise, n))
    return ds, np.maximum(y, 0.0)
