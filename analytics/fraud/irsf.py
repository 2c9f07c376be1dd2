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
from typing import Any

import duckdb
import polars as pl

from analytics.fraud.alerts import run_detector_sql

TYPE = "irsf"

# Destinations that industry hot lists (CFCA, GSMA FF) name most often for IRSF.
HIGH_RISK_COUNTRIES = [
    "CU", "SO", "LV", "LT", "GM", "GN", "SL", "LR", "ER", "TD", "KM", "ST", "MV", "PG", "NR", "TV",
    "CK", "NU", "TK", "SB", "VU", "WF", "SH", "IO", "TL", "KI", "FM", "MH", "PW", "GL", "BY", "AZ",
]  # fmt: skip

DEFAULTS: dict[str, Any] = {
    "countries": HIGH_RISK_COUNTRIES,
    "burst_gap_minutes": 120,
    "min_calls": 5,  # calls in the burst
    "min_minutes": 60,  # connected minutes in the burst
    "baseline_days": 30,
    "unusual_factor": 10.0,
    "night_start_hour": 0,
    "night_end_hour": 6,
}


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: dict[str, Any], common: dict[str, Any]
) -> pl.DataFrame:
    params = {
        "since": since,
        "countries": [str(c).upper() for c in opts["countries"]],
        "burst_gap_minutes": int(opts["burst_gap_minutes"]),
        "min_calls": int(opts["min_calls"]),
        "min_minutes": float(opts["min_minutes"]),
        "baseline_days": int(opts["baseline_days"]),
        "unusual_factor": float(opts["unusual_factor"]),
        "night_start_hour": int(opts["night_start_hour"]),
        "night_end_hour": int(opts["night_end_hour"]),
        "tz": common["timezone"],
        "max_ids": int(common["max_evidence_ids"]),
    }
    return run_detector_sql(con, "fraud_irsf", TYPE, params)
