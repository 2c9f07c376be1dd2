"""Hourly series modelled on the subscribers' local wall clock, published in UTC hours.

People call by their local clock, so a UTC hourly series shifts its daily profile by an
hour at every daylight-saving change: a 168-hour seasonal model trained across the
change repeats the profile an hour off for weeks (on the demo world the last backtest
week, 25-31 Oct 2026, followed the end of BST and the ETS bands covered only ~45-60 % of
its hours). So hourly models see the series on a regular grid of local wall-clock hours:

* ``to_local``: one row per local wall-clock hour from the first to the last observed
  one; the value is the mean of the UTC hours that show that local time (two in the
  autumn's repeated hour: a per-hour rate), NaN for the spring's skipped hour (filled
  like any gap) and for gaps.
* ``from_local``: each future UTC hour takes the forecast of the local hour it shows
  (the autumn's repeated hour takes the same value twice).

``zone_for``: ``[forecast] hourly_timezone`` if set, else the home country's first zone
in the system's ``zone1970.tab`` / ``zone.tab``, else the source timezone.
"""

from __future__ import annotations

import logging
import zoneinfo
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

log = logging.getLogger(__name__)

HOUR = np.timedelta64(1, "h")


@lru_cache(maxsize=16)
def country_zone(country: str) -> str | None:
    """The first zone the tz database lists for an ISO country code, or None."""
    for base in zoneinfo.TZPATH:
        for name in ("zone1970.tab", "zone.tab"):
            path = Path(base) / name
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                parts = line.split("\t")
                if len(parts) >= 3 and not line.startswith("#") and country.upper() in parts[0].split(","):
                    return parts[2]
    return None


def zone_for(*, configured: str | None, home_country: str, source_timezone: str) -> str:
    """The hourly models' zone; an unknown configured zone is logged and replaced by UTC."""
    zone = configured or country_zone(home_country) or source_timezone
    try:
        wall_clock(np.array(["2026-01-01T00"], dtype="datetime64[us]"), zone)  # polars' own tz database converts
    except Exception:  # noqa: BLE001 - polars raises ComputeError / InvalidOperationError by version
        log.warning("unknown time zone %r for hourly forecasts ([forecast] hourly_timezone); using UTC hours", zone)
        return "UTC"
    return zone


def wall_clock(ds_utc: np.ndarray, zone: str) -> np.ndarray:
    """Naive UTC hours -> naive local wall-clock hours (datetime64[us])."""
    s = pl.Series("ds", ds_utc.astype("datetime64[us]"))
    local = s.dt.replace_time_zone("UTC").dt.convert_time_zone(zone).dt.replace_time_zone(None)
    return local.to_numpy().astype("datetime64[us]")


def to_local(ds_utc: np.ndarray, y: np.ndarray, zone: str) -> tuple[np.ndarray, np.ndarray]:
    """(regular local hours, values): see the module docstring."""
    if len(ds_utc) == 0 or zone == "UTC":
        return ds_utc, np.asarray(y, dtype=float)
    local = wall_clock(ds_utc, zone)
    idx = ((local - local[0]) // HOUR).astype(np.int64)
    size = int(idx.max()) + 1
    y = np.asarray(y, dtype=float)
    seen = ~np.isnan(y)
    sums = np.bincount(idx[seen], weights=y[seen], minlength=size)
    counts = np.bincount(idx[seen], minlength=size)
    values = np.divide(sums, counts, out=np.full(size, np.nan), where=counts > 0)
    return local[0] + HOUR * np.arange(size), values


def future_index(last_utc: np.datetime64, last_local: np.datetime64, *, horizon: int, zone: str) -> np.ndarray:
    """For the ``horizon`` UTC hours after ``last_utc``: their step on the local grid after ``last_local`` (0-based)."""
    future = (last_utc + HOUR * np.arange(1, horizon + 1)).astype("datetime64[us]")
    local = future if zone == "UTC" else wall_clock(future, zone)
    return ((local - last_local) // HOUR).astype(np.int64) - 1


def from_local(values: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """Pick each UTC hour's value from the local-grid forecast."""
    return {k: np.asarray(v)[index] for k, v in values.items()}
