"""The static side of the demo world: regions, cells, tariff plans and subscribers.

Tables built here (all deterministic for a given seed):

* ``cells``: one row per cell (``cell_id, region, lat, lon, site_id, technology``);
  ``capacity_erlangs`` is added later by :mod:`analytics.demo.traffic`, sized from the
  generated busy hour so that a few cells run close to capacity.
* ``plans``: one row per tariff plan, the columns of ``plans.csv`` in cdr-extract v1.
* ``subscribers``: one row per line (``msisdn, plan_id, activation_date`` plus the
  generator's own columns: profile, home region/cells, activity, imsi, imei).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from analytics.ingest.reference import SPECS

HOME_COUNTRY = "GB"
CURRENCY = "GBP"

# name, code, centre lat, centre lon, radius km, subscriber weight, growth over the period
# (voice-ish services, data services). The Highlands & Islands are the quiet region.
# fmt: off
REGIONS: list[tuple[str, str, float, float, float, float, float, float]] = [
    ("London", "LON", 51.507, -0.128, 18, 0.18, 0.04, 0.22),
    ("South East", "SEA", 51.28, -0.75, 35, 0.13, 0.03, 0.16),
    ("South West", "SWE", 50.95, -3.1, 40, 0.08, -0.01, 0.10),
    ("East of England", "EAS", 52.25, 0.35, 35, 0.09, 0.02, 0.14),
    ("West Midlands", "WMI", 52.48, -1.95, 25, 0.09, 0.00, 0.12),
    ("East Midlands", "EMI", 52.92, -1.2, 28, 0.07, 0.01, 0.11),
    ("Yorkshire", "YOR", 53.75, -1.45, 30, 0.08, -0.02, 0.08),
    ("North West", "NWE", 53.5, -2.4, 28, 0.10, 0.01, 0.12),
    ("North East", "NEA", 54.93, -1.65, 22, 0.04, 1.00, 1.40),
    ("Wales", "WAL", 51.9, -3.5, 35, 0.05, 0.00, 0.09),
    ("Scotland Central", "SCO", 55.88, -3.9, 30, 0.08, 0.02, 0.13),
    ("Highlands and Islands", "HIG", 57.45, -4.6, 45, 0.012, 0.00, 0.03),
]
# fmt: on
QUIET_REGION = "Highlands and Islands"
# A new town and a business park filling up: voice +100 %, data +140 % per 120 days, and cells
# sized so that its busy hour reaches capacity soon after the data ends (generate._capacity).
GROWTH_REGION = "North East"
QUIET_ACTIVITY = 0.45  # its lines are also less active than elsewhere

# plan_id, name, monthly_fee, incl_voice_min, incl_sms, incl_data_mb, voice_per_min, sms_each,
# data_per_mb, intl_voice_per_min, roaming_voice_per_min, roaming_data_per_mb
# fmt: off
PLANS: list[tuple] = [
    ("PAYG", "Pay As You Go", "0.00", 0, 0, 0, "0.30", "0.15", "0.05", "1.50", "1.20", "0.10"),
    ("ESS5", "Essentials 5GB", "10.00", 250, 250, 5000, "0.25", "0.12", "0.02", "1.20", "0.90", "0.05"),
    ("TALK", "Talk and Text", "14.00", 2000, 5000, 2000, "0.20", "0.10", "0.02", "1.00", "0.90", "0.05"),
    ("DATA30", "Data 30GB", "18.00", 600, 1000, 30000, "0.20", "0.10", "0.01", "1.00", "0.80", "0.04"),
    ("BIZ", "Business Pro", "28.00", 3000, 3000, 20000, "0.12", "0.08", "0.01", "0.40", "0.50", "0.02"),
    ("UNL", "Unlimited Max", "35.00", 50000, 50000, 500000, "0.10", "0.05", "0.01", "0.80", "0.50", "0.02"),
]
# fmt: on
PLAN_IDS = [p[0] for p in PLANS]
PLAN_COLUMNS = list(SPECS["plans"].required)  # plans.csv columns of the contract

# Channels: the (service, direction) kinds a profile produces, with its daily mean on a weekday.
CHANNELS = ["voice_out", "voice_in", "sms_out", "sms_in", "mms_out", "data", "voip", "video"]


@dataclass(frozen=True)
class Profile:
    name: str
    share: float
    rates: tuple[float, ...]  # weekday daily mean per channel, in CHANNELS order
    weekend: float  # weekend/holiday multiplier on voice and sms
    weekend_data: float  # ... and on data, voip, video
    call_mean_s: float  # mean connected seconds of a call
    session_mb: float  # median MB of a data session
    intl_share: float  # share of outgoing calls that are international
    right_plans: tuple[str, ...]  # sensible plans for this usage
    wrong_plan: str  # the plan a mis-sold line of this profile sits on


# fmt: off
PROFILES: list[Profile] = [
    Profile("light_voice", 0.20, (0.7, 0.8, 0.2, 0.3, 0.0, 0.6, 0.0, 0.0), 0.8, 1.0, 110, 4, 0.02, ("PAYG", "ESS5"), "UNL"),
    Profile("mainstream", 0.26, (1.2, 1.1, 0.9, 1.0, 0.03, 1.6, 0.1, 0.05), 0.85, 1.15, 150, 12, 0.03, ("ESS5",), "BIZ"),
    Profile("heavy_voice", 0.09, (4.5, 4.0, 0.6, 0.7, 0.0, 0.8, 0.0, 0.0), 0.7, 1.0, 300, 6, 0.05, ("TALK",), "PAYG"),
    Profile("texter", 0.10, (0.4, 0.5, 5.0, 5.0, 0.2, 1.0, 0.1, 0.0), 1.1, 1.1, 90, 5, 0.01, ("TALK",), "ESS5"),
    Profile("streamer", 0.10, (0.5, 0.6, 0.5, 0.6, 0.0, 4.5, 0.3, 0.9), 0.9, 1.3, 180, 90, 0.02, ("DATA30", "UNL"), "ESS5"),
    Profile("business", 0.10, (4.0, 3.5, 1.2, 1.2, 0.0, 2.0, 0.4, 0.2), 0.25, 0.5, 240, 15, 0.08, ("BIZ",), "PAYG"),
    Profile("traveller", 0.05, (1.6, 1.5, 0.8, 0.8, 0.02, 2.0, 0.3, 0.1), 0.9, 1.0, 200, 20, 0.12, ("BIZ", "UNL"), "ESS5"),
    Profile("youth", 0.10, (0.5, 0.6, 2.5, 2.6, 0.2, 3.0, 0.6, 0.4), 1.2, 1.3, 120, 40, 0.01, ("DATA30",), "TALK"),
]
# fmt: on
PROFILE_NAMES = [p.name for p in PROFILES]
WRONG_PLAN_SHARE = 0.06
MAX_HOME_SPREAD_KM = 12.0


def plans_frame() -> pl.DataFrame:
    """The tariff plans (grain: one row per plan), columns and order of ``plans.csv``."""
    return pl.DataFrame([list(p) for p in PLANS], schema=PLAN_COLUMNS, orient="row")


def regions_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [r[:8] for r in REGIONS],
        schema=["region", "code", "lat", "lon", "radius_km", "weight", "growth_voice", "growth_data"],
        orient="row",
    )


def build_cells(rng: np.random.Generator) -> pl.DataFrame:
    """Sites scattered around each region's centre, three sectors (cells) per site.

    Grain: one row per cell. ``busy_weight`` (not exported) skews subscribers towards a
    few urban cells so that those cells are the busy ones.
    """
    rows = []
    for name, code, lat0, lon0, radius, weight, _, _ in REGIONS:
        sites = max(4, int(round(weight * 110)))
        dist = radius * np.sqrt(rng.random(sites)) * np.where(rng.random(sites) < 0.6, 0.35, 1.0)
        bearing = rng.random(sites) * 2 * np.pi
        lats = lat0 + dist * np.cos(bearing) / 111.0
        lons = lon0 + dist * np.sin(bearing) / (111.0 * np.cos(np.radians(lat0)))
        busy = rng.pareto(1.6, sites) + 1.0
        for i in range(sites):
            tech = rng.choice(["4G", "5G", "3G"], p=[0.6, 0.3, 0.1])
            for sector in "ABC":
                rows.append(
                    (
                        f"{code}{i + 1:03d}{sector}",
                        name,
                        round(float(lats[i]), 5),
                        round(float(lons[i]), 5),
                        f"{code}-S{i + 1:03d}",
                        str(tech),
                        float(busy[i]) * rng.uniform(0.7, 1.3),
                    )
                )
    return pl.DataFrame(
        rows, schema=["cell_id", "region", "lat", "lon", "site_id", "technology", "busy_weight"], orient="row"
    )


def _numbers(rng: np.random.Generator, prefix: str, n: int, digits: int) -> np.ndarray:
    """``n`` distinct numbers ``prefix + digits`` as strings (vectorised)."""
    vals = rng.choice(10**digits, size=n, replace=False) if n < 10**digits // 4 else rng.permutation(10**digits)[:n]
    return np.char.add(prefix, np.char.zfill(vals.astype(str), digits))


def build_subscribers(rng: np.random.Generator, cells: pl.DataFrame, *, n: int, start: date, days: int) -> pl.DataFrame:
    """The ordinary subscriber base (grain: one row per line).

    Each line has a profile, a personal activity multiplier, a home region with a home
    cell and its two nearest neighbours, a plan (the right one, or for about 6 % of lines
    a deliberately wrong one), an IMSI, an IMEI and an activation date (most lines are
    older than the period; some activate during it).
    """
    shares = np.array([p.share for p in PROFILES])
    prof = rng.choice(len(PROFILES), size=n, p=shares / shares.sum())
    weights = np.array([r[5] for r in REGIONS])
    region = rng.choice(len(REGIONS), size=n, p=weights / weights.sum())
    region_names = np.array([r[0] for r in REGIONS])

    cell_region = cells["region"].to_numpy()
    busy = cells["busy_weight"].to_numpy()
    lat = cells["lat"].to_numpy()
    lon = cells["lon"].to_numpy()
    home = np.empty((n, 3), dtype=np.int32)
    for r, name in enumerate(region_names):
        idx = np.flatnonzero(cell_region == name)
        members = np.flatnonzero(region == r)
        p = busy[idx] / busy[idx].sum()
        first = idx[rng.choice(len(idx), size=len(members), p=p)]
        # two nearest other cells of the same region (not the same site) for each cell
        d = (lat[idx][:, None] - lat[idx][None, :]) ** 2 + ((lon[idx][:, None] - lon[idx][None, :]) * 0.6) ** 2
        same_site = (np.arange(len(idx))[:, None] // 3) == (np.arange(len(idx))[None, :] // 3)
        d = np.where(same_site, np.inf, d)
        order = np.argsort(d, axis=1)[:, :2]
        # nearest other sites, unless they are far (sparse rural region): then the home site's
        # other sectors, so an honest line never hops between distant cells minutes apart
        far = np.take_along_axis(d, order, axis=1) > (MAX_HOME_SPREAD_KM / 111.0) ** 2
        sectors = (np.arange(len(idx)) // 3 * 3)[:, None] + (
            ((np.arange(len(idx)) % 3)[:, None] + np.array([1, 2])) % 3
        )
        near = idx[np.where(far, sectors, order)]
        pos = np.searchsorted(idx, first)
        home[members, 0] = first
        home[members, 1:] = near[pos]

    activity = rng.lognormal(0.0, 0.35, n) * np.where(region_names[region] == QUIET_REGION, QUIET_ACTIVITY, 1.0)
    wrong = rng.random(n) < WRONG_PLAN_SHARE
    right_idx = rng.random(n)
    plan = np.empty(n, dtype=object)
    for k, p in enumerate(PROFILES):
        members = prof == k
        choice = np.array(p.right_plans, dtype=object)[(right_idx[members] * len(p.right_plans)).astype(int)]
        plan[members] = np.where(wrong[members], p.wrong_plan, choice)
    # 8 % of lines activate during the period; the rest up to 6 years before it
    new = rng.random(n) < 0.08
    act_offset = np.where(new, rng.integers(1, max(2, days - 10), n), -rng.integers(30, 2200, n))
    msisdn = _numbers(rng, "4477", n, 8)
    return pl.DataFrame(
        {
            "msisdn": msisdn,
            "plan_id": plan.astype(str),
            "activation_date": pl.Series(np.datetime64(start, "D") + act_offset.astype("timedelta64[D]")),
            "profile": np.array(PROFILE_NAMES)[prof],
            "profile_idx": prof.astype(np.int16),
            "region": region_names[region],
            "region_idx": region.astype(np.int16),
            "home_cell_0": home[:, 0],
            "home_cell_1": home[:, 1],
            "home_cell_2": home[:, 2],
            "activity": activity,
            "wrong_plan": wrong,
            "imsi": _numbers(rng, "23415", n, 10),
            "imei": _numbers(rng, "35", n, 13),
        }
    )
