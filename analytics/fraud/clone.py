"""SIM clone detector.

Signature: one line on two handsets at once, its IMEI switching back and forth at least
``min_imei_switches`` times (a handset change is a single switch and stays), or moving
impossibly: at least ``min_violations`` consecutive located records (non-roaming, cell in
``cells``) at least ``min_km`` apart at more than ``max_speed_kmh`` (elapsed time from the
previous record's start, floored at one minute). Roaming records carry no position, so a
traveller abroad is never "too fast"; a domestic flight is one hop, below ``min_violations``.
Grain: one alert per line (key ``sim_clone:<msisdn>``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from analytics.fraud.alerts import run_detector_sql

TYPE = "sim_clone"

DEFAULTS: dict[str, Any] = {
    "min_imei_records": 3,  # an IMEI seen fewer times on the line is a glitch, not a handset
    "min_imei_switches": 4,
    "min_km": 50.0,
    "max_speed_kmh": 500.0,
    "min_violations": 3,
}


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: dict[str, Any], common: dict[str, Any]
) -> pl.DataFrame:
    params = {
        "since": since,
        "min_imei_records": int(opts["min_imei_records"]),
        "min_imei_switches": int(opts["min_imei_switches"]),
        "min_km": float(opts["min_km"]),
        "max_speed_kmh": float(opts["max_speed_kmh"]),
        "min_violations": int(opts["min_violations"]),
        "max_ids": int(common["max_evidence_ids"]),
    }
    return run_detector_sql(con, "fraud_clone", TYPE, params)
