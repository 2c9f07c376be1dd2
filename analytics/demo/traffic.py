"""Ordinary traffic of the demo world, generated vectorised (numpy draws, Polars frames).

Per line and day, each channel (voice out/in, sms out/in, mms, data, voip, video) has a
Poisson count whose mean is the profile's weekday rate x the line's activity x the
weekend/holiday shape x the home region's growth trend x the event multiplier; counts
are expanded with ``np.repeat`` (no Python loop per record) and each record gets a
local hour from its channel's hour-of-day curve, a cell, a counterpart, a disposition,
a duration and bytes.

Output grain: one row per record, columns ``start_at`` (UTC), ``msisdn``,
``other_party``, ``service``, ``direction``, ``duration_s``, ``cell_id``,
``disposition``, ``bytes_up``, ``bytes_down``, ``is_roaming``,
``destination_country``, ``plan_id``, ``imsi``, ``imei``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import polars as pl

from analytics.demo.world import CHANNELS, PROFILES, REGIONS

LONDON = ZoneInfo("Europe/London")
SERVICE = np.array(["voice", "voice", "sms", "sms", "mms", "data", "voip", "video"])
DIRECTION = np.array(["out", "in", "out", "in", "out", "out", "out", "out"])
DISPOSITIONS = np.array(["answered", "no_answer", "busy", "failed", "dropped"])
DISPOSITION_P = np.array([0.80, 0.10, 0.04, 0.03, 0.03])
# international destinations of outgoing calls: (country, dialling code, weight)
# fmt: off
INTL = [("IE", 353, 12), ("FR", 33, 8), ("ES", 34, 8), ("PL", 48, 10), ("IN", 91, 14), ("PK", 92, 10),
        ("NG", 234, 6), ("US", 1, 12), ("DE", 49, 6), ("IT", 39, 5), ("RO", 40, 5), ("PH", 63, 4)]
# roaming destinations: (country, MCC-MNC of the visited network)
ROAM = [("ES", "21401"), ("FR", "20801"), ("IT", "22210"), ("PT", "26806"), ("GR", "20205"),
        ("US", "310260"), ("DE", "26201"), ("NL", "20408"), ("IE", "27201"), ("TR", "28601")]
APNS = ["internet", "mobile.web"]
# fmt: on
VOLUME = 0.4  # scales every profile rate: about 3 records per line per day on average
AWAY_SHARE = 0.015
MAX_CALL_S = 1800  # honest calls are capped (a long tail would look like a usage spike)
CAP_VOICE_OUT_S = 45 * 60  # an ordinary line's outgoing voice per UTC day at most
CAP_DATA_BYTES = 1_500_000_000  # ... and its data, voip and video bytes  # share of line-days spent in another region (records 09:00-19:00 local)


RECORD_COLUMNS = [
    "start_at",
    "msisdn",
    "other_party",
    "service",
    "direction",
    "duration_s",
    "cell_id",
    "disposition",
    "bytes_up",
    "bytes_down",
    "is_roaming",
    "destination_country",
    "plan_id",
    "imsi",
    "imei",
]
CATEGORICAL = {
    "msisdn",
    "service",
    "direction",
    "cell_id",
    "disposition",
    "destination_country",
    "plan_id",
    "imsi",
    "imei",
}


def _curve(points: dict[int, float]) -> np.ndarray:
    """A 24-hour shape from a few anchor hours (linear in between), normalised."""
    hours = sorted(points)
    curve = np.interp(np.arange(24), hours, [points[h] for h in hours])
    return curve / curve.sum()


VOICE_WD = _curve({0: 0.4, 4: 0.15, 7: 2, 9: 7, 12: 8, 14: 7, 17: 8.5, 19: 5, 22: 2, 23: 0.8})
VOICE_WE = _curve({0: 0.6, 5: 0.2, 9: 3, 12: 6, 16: 6, 19: 5, 22: 2.5, 23: 1})
TEXT_WD = _curve({0: 1, 4: 0.2, 7: 2, 12: 5, 17: 6, 21: 8, 23: 3})
TEXT_WE = _curve({0: 2, 5: 0.3, 10: 4, 15: 6, 21: 8, 23: 4})
DATA_WD = _curve({0: 3, 4: 0.8, 7: 3, 12: 5, 17: 6, 21: 9, 23: 5})
DATA_WE = _curve({0: 4, 5: 1, 10: 5, 15: 7, 21: 9, 23: 6})
CURVES = np.stack(
    [
        [VOICE_WD, VOICE_WE],
        [VOICE_WD, VOICE_WE],
        [TEXT_WD, TEXT_WE],
        [TEXT_WD, TEXT_WE],
        [TEXT_WD, TEXT_WE],
        [DATA_WD, DATA_WE],
        [DATA_WD, DATA_WE],
        [DATA_WD, DATA_WE],
    ]
).cumsum(axis=2)  # channel x daytype x hour -> CDF


@dataclass(frozen=True)
class Calendar:
    """Per-day facts of the period (index 0 = start date)."""

    start: date
    days: int
    offpeak: np.ndarray  # weekend or bank holiday (England)
    utc_offset_s: np.ndarray  # Europe/London offset at local noon, seconds

    @classmethod
    def of(cls, start: date, days: int) -> Calendar:
        dates = [start + timedelta(days=i) for i in range(days)]
        bank = holidays.country_holidays("GB", subdiv="ENG", years=sorted({d.year for d in dates}))
        offpeak = np.array([d.weekday() >= 5 or d in bank for d in dates])
        offset = np.array(
            [int(datetime(d.year, d.month, d.day, 12, tzinfo=LONDON).utcoffset().total_seconds()) for d in dates]
        )
        return cls(start, days, offpeak, offset)


@dataclass(frozen=True)
class Situation:
    """Where each line is each day: ``roam`` (0 home, else ROAM index + 1), ``away``
    (-1 at home, else the region index it spends the day in) and ``boost`` (rate multiplier)."""

    roam: np.ndarray
    away: np.ndarray
    boost: np.ndarray


def daily_rates(subs: pl.DataFrame, cal: Calendar, sit: Situation) -> np.ndarray:
    """Mean records per line x day x channel (float32, shape N x D x C)."""
    prof = subs["profile_idx"].to_numpy()
    region = subs["region_idx"].to_numpy()
    base = (
        np.array([p.rates for p in PROFILES], dtype=np.float32)[prof] * (VOLUME * subs["activity"].to_numpy())[:, None]
    )
    weekend = np.array([[p.weekend] * 5 + [p.weekend_data] * 3 for p in PROFILES], dtype=np.float32)[prof]
    t = np.arange(cal.days, dtype=np.float32) / 120.0
    growth_v = 1 + np.array([r[6] for r in REGIONS], dtype=np.float32)[region][:, None] * t
    growth_d = 1 + np.array([r[7] for r in REGIONS], dtype=np.float32)[region][:, None] * t
    act = (subs["activation_date"].to_numpy() - np.datetime64(cal.start, "D")).astype(int)
    active = (np.arange(cal.days)[None, :] >= act[:, None]).astype(np.float32) * sit.boost
    roaming = sit.roam > 0
    rates = np.empty((len(subs), cal.days, len(CHANNELS)), dtype=np.float32)
    roam_mult = [0.5, 0.4, 0.7, 0.8, 0.5, 0.6, 0.8, 0.5]
    for c in range(len(CHANNELS)):
        shape = np.where(cal.offpeak[None, :], weekend[:, c : c + 1], 1.0)
        trend = growth_v if c < 5 else growth_d
        rates[:, :, c] = base[:, c : c + 1] * shape * trend * active * np.where(roaming, roam_mult[c], 1.0)
    return rates


def expand(rng: np.random.Generator, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson counts expanded to one entry per record: (line, day, channel)."""
    counts = rng.poisson(rates).astype(np.int32)
    flat = np.flatnonzero(counts)
    rep = np.repeat(flat, counts.ravel()[flat])
    n_days, n_chan = rates.shape[1], rates.shape[2]
    return (
        (rep // (n_days * n_chan)).astype(np.int32),
        ((rep // n_chan) % n_days).astype(np.int32),
        (rep % n_chan).astype(np.int8),
    )


def records(
    rng: np.random.Generator, subs: pl.DataFrame, cells: pl.DataFrame, cal: Calendar, sit: Situation
) -> pl.DataFrame:
    """Ordinary records of every line over the period (see module docstring for columns)."""
    sub, day, chan = expand(rng, daily_rates(subs, cal, sit))
    n = len(sub)
    prof = subs["profile_idx"].to_numpy()[sub]
    offpeak = cal.offpeak[day].astype(np.int8)
    u = rng.random(n)
    hour = np.empty(n, dtype=np.int32)
    for c in range(len(CHANNELS)):
        for k in (0, 1):
            m = (chan == c) & (offpeak == k)
            hour[m] = np.minimum(np.searchsorted(CURVES[c, k], u[m]), 23)
    away = sit.away[sub, day]
    roam = sit.roam[sub, day]
    hour = np.where(away >= 0, 9 + hour * 10 // 24, hour)
    local_s = day.astype(np.int64) * 86400 + hour * 3600 + rng.integers(0, 3600, n)
    utc_s = local_s - cal.utc_offset_s[day]

    # cell: home cells (60/28/12 %), a cell of the region visited, or a foreign / empty cell
    home = np.stack([subs[f"home_cell_{i}"].to_numpy() for i in range(3)], axis=1)[sub]
    cell = home[np.arange(n), rng.choice(3, size=n, p=[0.6, 0.28, 0.12])]
    if (away >= 0).any():
        # a visit is to one site (weighted by how busy it is) and its three sectors: cells
        # drawn anywhere in the region were up to ~55 km apart minutes apart (impossible travel)
        region_of_cell = cells["region"].to_numpy()
        weights = cells["busy_weight"].to_numpy()
        vis = np.flatnonzero(away >= 0)
        _, line_day = np.unique(sub[vis].astype(np.int64) * cal.days + day[vis], return_inverse=True)
        u_site = rng.random(int(line_day.max()) + 1)[line_day]  # one draw per visited line-day
        sector = rng.integers(0, 3, len(vis))
        for r, reg in enumerate(REGIONS):
            m = away[vis] == r
            if m.any():
                sites = np.flatnonzero(region_of_cell == reg[0])[::3]  # cells come site by site, A B C
                cum = np.cumsum(weights[sites]) / weights[sites].sum()
                pick = np.minimum(np.searchsorted(cum, u_site[m]), len(sites) - 1)
                cell[vis[m]] = sites[pick] + sector[m]

    # dispositions and durations
    is_call = chan <= 1
    disp = np.where(is_call, rng.choice(5, size=n, p=DISPOSITION_P), 0).astype(np.int8)
    disp = np.where((chan >= 2) & (chan <= 4) & (rng.random(n) < 0.004), 3, disp)
    call_mean = np.array([p.call_mean_s for p in PROFILES])[prof]
    talk = np.clip(rng.lognormal(np.log(call_mean) - 0.35, 0.8), 1, MAX_CALL_S).astype(np.int64)
    data_s = np.minimum(3600, np.maximum(1, rng.lognormal(6.5, 1.0, n))).astype(np.int64)
    app_s = np.maximum(1, rng.lognormal(5.3, 0.9, n)).astype(np.int64)
    duration = np.select([is_call, chan == 5, chan >= 6], [talk, data_s, app_s], 0)
    duration = np.where(disp == 4, (duration * rng.random(n)).astype(np.int64) + 1, duration)
    duration = np.where(is_call & ((disp == 1) | (disp == 2) | (disp == 3)), 0, duration)

    # bytes: data sessions lognormal around the profile's session size; voip / video per second
    session = np.array([p.session_mb for p in PROFILES])[prof] * 1e6
    down = np.select(
        [chan == 5, chan == 6, chan == 7],
        [
            np.minimum(rng.lognormal(np.log(session), 0.7), session * 6),
            duration * rng.uniform(6e3, 1.2e4, n),
            duration * rng.uniform(1e5, 2e5, n),
        ],
        0,
    ).astype(np.int64)
    up = np.select(
        [chan == 5, chan == 6, chan == 7],
        [down * rng.uniform(0.04, 0.15, n), down * rng.uniform(0.8, 1.0, n), down * rng.uniform(0.4, 0.7, n)],
        0,
    ).astype(np.int64)

    duration, up, down = _cap_daily(sub, utc_s, chan, duration, up, down, n_days=cal.days)

    # counterparts: a Zipf-like contact book (half of it other lines of the world), intl calls
    msisdn_num = subs["msisdn"].cast(pl.Int64).to_numpy()
    k = np.minimum(rng.geometric(0.12, n), 60)
    h = (sub.astype(np.int64) * 1_000_003 + k * 7919) % 1_000_000_007
    party = np.where(h % 2 == 0, msisdn_num[h % len(subs)], 447_000_000_000 + h % 1_000_000_000)
    intl_share = np.array([p.intl_share for p in PROFILES])[prof]
    intl = (chan == 0) & (roam == 0) & (rng.random(n) < intl_share)
    w = np.array([x[2] for x in INTL], dtype=float)
    dest = rng.choice(len(INTL), size=n, p=w / w.sum())
    codes = np.array([x[1] for x in INTL], dtype=np.int64)[dest]
    party = np.where(intl, codes * 1_000_000_000 + h % 1_000_000_000, party)
    voip_dir = (chan >= 6) & (rng.random(n) < 0.45)

    frame = pl.DataFrame(
        {
            "start_at": (np.datetime64(cal.start, "s") + utc_s.astype("timedelta64[s]")).astype("datetime64[us]"),
            "sub_idx": sub,
            "other_party": party,
            "service": pl.Series(SERVICE.tolist()).gather(chan),
            "direction": pl.Series(DIRECTION.tolist() + ["in"]).gather(np.where(voip_dir, len(DIRECTION), chan)),
            "duration_s": duration,
            "cell_idx": cell.astype(np.int32),
            "disposition": pl.Series(DISPOSITIONS.tolist()).gather(disp),
            "bytes_up": up,
            "bytes_down": down,
            "roam_idx": roam.astype(np.int16),
            "intl_country": pl.Series(["", *[x[0] for x in INTL]]).gather(np.where(intl, dest + 1, 0)),
            "apn": pl.Series(APNS).gather((h % 2).astype(np.int32)),
            "foreign_cell": rng.integers(10_000, 99_999, n) * (rng.random(n) < 0.6),
        }
    )
    return finish(frame, subs, cells)


def _cap_daily(
    sub: np.ndarray,
    utc_s: np.ndarray,
    chan: np.ndarray,
    duration: np.ndarray,
    up: np.ndarray,
    down: np.ndarray,
    *,
    n_days: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale down the rare ordinary line-days (UTC) above ``CAP_VOICE_OUT_S`` / ``CAP_DATA_BYTES``.

    Poisson counts of a light line occasionally stack up into a day that is a real outlier
    for that line; ordinary lines must not look like usage spikes, so such days are scaled.
    """
    key = sub.astype(np.int64) * (n_days + 2) + utc_s // 86400 + 1
    size = int(key.max()) + 1 if len(key) else 1
    voice = chan == 0
    total_s = np.bincount(key[voice], weights=duration[voice], minlength=size)
    f = np.minimum(1.0, CAP_VOICE_OUT_S / np.maximum(total_s, 1))[key]
    duration = np.where(voice & (f < 1) & (duration > 0), np.maximum(1, (duration * f).astype(np.int64)), duration)
    data = chan >= 5
    total_b = np.bincount(key[data], weights=(up + down)[data], minlength=size)
    f = np.minimum(1.0, CAP_DATA_BYTES / np.maximum(total_b, 1))[key]
    scaled = data & (f < 1)
    up = np.where(scaled, (up * f).astype(np.int64), up)
    down = np.where(scaled, (down * f).astype(np.int64), down)
    return duration, up, down


def finish(frame: pl.DataFrame, subs: pl.DataFrame, cells: pl.DataFrame) -> pl.DataFrame:
    """Turn generator indices into the record columns (shared by traffic and anomalies)."""
    roam_country = pl.Series(["", *[r[0] for r in ROAM]])
    roam_net = pl.Series(["", *[r[1] for r in ROAM]])
    roaming = pl.col("roam_idx") > 0
    outgoing_text_or_call = (pl.col("direction") == "out") & pl.col("service").is_in(["voice", "sms", "mms"])
    return (
        frame.lazy()
        .with_columns(
            msisdn=subs["msisdn"].gather(frame["sub_idx"]),
            plan_id=subs["plan_id"].gather(frame["sub_idx"]),
            imsi=subs["imsi"].gather(frame["sub_idx"]),
            imei=subs["imei"].gather(frame["sub_idx"]),
            cell_id=pl.when(roaming)
            .then(
                pl.when(pl.col("foreign_cell") > 0).then(
                    pl.concat_str(
                        roam_net.gather(frame["roam_idx"]), pl.lit("-"), pl.col("foreign_cell").cast(pl.String)
                    )
                )
            )
            .otherwise(cells["cell_id"].gather(frame["cell_idx"])),
            other_party=pl.when(pl.col("service") == "data")
            .then(pl.col("apn"))
            .otherwise(pl.col("other_party").cast(pl.String)),
            is_roaming=roaming,
            destination_country=pl.when(pl.col("intl_country") != "")
            .then(pl.col("intl_country"))
            .when(outgoing_text_or_call & roaming & (pl.col("other_party") % 3 == 0))
            .then(roam_country.gather(frame["roam_idx"]))
            .when(outgoing_text_or_call)
            .then(pl.lit("GB"))
            .otherwise(pl.lit("")),
        )
        .pipe(typed)
        .collect()
    )


def typed(records: pl.LazyFrame) -> pl.LazyFrame:
    """The record columns in order; low-cardinality text as Categorical (4 bytes a value:
    a 10-million-row world fits in a few GB)."""
    return records.select(
        pl.col("start_at").cast(pl.Datetime("us")),
        *[pl.col(c).cast(pl.Categorical) if c in CATEGORICAL else pl.col(c) for c in RECORD_COLUMNS[1:]],
    ).with_columns(pl.col("duration_s", "bytes_up", "bytes_down").cast(pl.Int64), pl.col("other_party").cast(pl.String))
