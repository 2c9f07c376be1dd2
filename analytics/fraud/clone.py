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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from analytics.fraud.alerts import run_detector_sql

if TYPE_CHECKING:
    from analytics.fraud.engine import FraudOptions

TYPE = "sim_clone"


@dataclass(frozen=True)
class CloneSettings:
    """``[fraud.sim_clone]`` of analytics.toml."""

    min_imei_records: int = 3  # an IMEI seen fewer times on the line is a glitch, not a handset
    min_imei_switches: int = 4
    min_km: float = 50.0
    max_speed_kmh: float = 500.0
    min_violations: int = 3


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: CloneSettings, common: FraudOptions
) -> pl.DataFrame:
    params = {
        "since": since,
        "min_imei_records": opts.min_imei_records,
        "min_imei_switches": opts.min_imei_switches,
        "min_km": opts.min_km,
        "max_speed_kmh": opts.max_speed_kmh,
        "min_violations": opts.min_violations,
        "max_ids": common.max_evidence_ids,
    }
    return run_detector_sql(con, "fraud_clone", TYPE, params)
