"""SIM box (interconnect bypass) detector.

Signature: a line making many outgoing calls to many distinct numbers, with almost no
incoming calls, sms or data, from one or very few cells, often newly active. A call-centre
line also calls a lot from one place, but receives calls too: ``max_in_ratio`` keeps it out.
Grain of the result: one alert per line (key ``sim_box:<msisdn>``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from analytics.fraud.alerts import run_detector_sql

TYPE = "sim_box"

DEFAULTS: dict[str, Any] = {
    "min_calls": 100,  # outgoing voice calls in the examined window
    "min_contacts": 50,  # distinct numbers called
    "min_contact_ratio": 0.5,  # distinct numbers / outgoing calls
    "min_calls_per_day": 30.0,  # outgoing calls per day with outgoing calls
    "max_in_ratio": 0.05,  # incoming calls / outgoing calls
    "max_other_ratio": 0.05,  # (sms + mms + data sessions) / all records
    "max_cells": 2,  # distinct serving cells
    "new_line_days": 14,  # "newly active": first record >= this many days after the data starts
}


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: dict[str, Any], common: dict[str, Any]
) -> pl.DataFrame:
    params = {
        "since": since,
        "min_calls": int(opts["min_calls"]),
        "min_contacts": int(opts["min_contacts"]),
        "min_contact_ratio": float(opts["min_contact_ratio"]),
        "min_calls_per_day": float(opts["min_calls_per_day"]),
        "max_in_ratio": float(opts["max_in_ratio"]),
        "max_other_ratio": float(opts["max_other_ratio"]),
        "max_cells": int(opts["max_cells"]),
        "new_line_days": int(opts["new_line_days"]),
        "max_ids": int(common["max_evidence_ids"]),
    }
    return run_detector_sql(con, "fraud_simbox", TYPE, params)
