"""International Revenue Share Fraud (IRSF) detector.

Signature: a burst (calls of one line with gaps <= ``burst_gap_minutes``) of outgoing voice
calls to high-risk international destinations (``countries``, ISO 3166-1 alpha-2 of
``destination_country``), long in total, often at night (local hours
``night_start_hour``..``night_end_hour``), and unusual for the line: the burst's minutes are
at least ``unusual_factor`` times the line's average daily high-risk minutes over the
``baseline_days`` before it. Grain: one alert per burst (key ``irsf:<msisdn>:<local day>``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from analytics.fraud.alerts import run_detector_sql

if TYPE_CHECKING:
    from analytics.fraud.engine import FraudOptions

TYPE = "irsf"

# Destinations that industry hot lists (CFCA, GSMA FF) name most often for IRSF.
HIGH_RISK_COUNTRIES = [
    "CU", "SO", "LV", "LT", "GM", "GN", "SL", "LR", "ER", "TD", "KM", "ST", "MV", "PG", "NR", "TV",
    "CK", "NU", "TK", "SB", "VU", "WF", "SH", "IO", "TL", "KI", "FM", "MH", "PW", "GL", "BY", "AZ",
]  # fmt: skip


@dataclass(frozen=True)
class IrsfSettings:
    """``[fraud.irsf]`` of analytics.toml."""

    countries: tuple[str, ...] = tuple(HIGH_RISK_COUNTRIES)
    burst_gap_minutes: int = 120
    min_calls: int = 5  # calls in the burst
    min_minutes: float = 60.0  # connected minutes in the burst
    baseline_days: int = 30
    unusual_factor: float = 10.0
    night_start_hour: int = 0
    night_end_hour: int = 6


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: IrsfSettings, common: FraudOptions
) -> pl.DataFrame:
    params = {
        "since": since,
        "countries": [str(c).upper() for c in opts.countries],
        "burst_gap_minutes": opts.burst_gap_minutes,
        "min_calls": opts.min_calls,
        "min_minutes": opts.min_minutes,
        "baseline_days": opts.baseline_days,
        "unusual_factor": opts.unusual_factor,
        "night_start_hour": opts.night_start_hour,
        "night_end_hour": opts.night_end_hour,
        "tz": common.timezone,
        "max_ids": common.max_evidence_ids,
    }
    return run_detector_sql(con, "fraud_irsf", TYPE, params)
