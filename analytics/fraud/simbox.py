"""SIM box (interconnect bypass) detector.

Signature: a line making many outgoing calls to many distinct numbers, with almost no
incoming calls, sms or data, from one or very few cells, often newly active. A call-centre
line also calls a lot from one place, but receives calls too: ``max_in_ratio`` keeps it out.
Grain of the result: one alert per line (key ``sim_box:<msisdn>``).
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

TYPE = "sim_box"


@dataclass(frozen=True)
class SimBoxSettings:
    """``[fraud.sim_box]`` of analytics.toml."""

    min_calls: int = 100  # outgoing voice calls in the examined window
    min_contacts: int = 50  # distinct numbers called
    min_contact_ratio: float = 0.5  # distinct numbers / outgoing calls
    min_calls_per_day: float = 30.0  # outgoing calls per day with outgoing calls
    max_in_ratio: float = 0.05  # incoming calls / outgoing calls
    max_other_ratio: float = 0.05  # (sms + mms + data sessions) / all records
    max_cells: int = 2  # distinct serving cells
    new_line_days: int = 14  # "newly active": first record >= this many days after the data starts


def detect(
    con: duckdb.DuckDBPyConnection,
    *,
    since: dt.datetime | None,
    opts: SimBoxSettings,
    common: FraudOptions,
    data_first_at: dt.datetime | None = None,
) -> pl.DataFrame:
    """SIM box alerts over ``con``'s records at/after ``since``. "Newly active" compares a
    line's first record with ``data_first_at``, the first record of all the data (None:
    ``con``'s own first record; a share of the subscribers on a cluster is given the
    warehouse's)."""
    params = {
        "since": since,
        "data_first_at": data_first_at,
        "min_calls": opts.min_calls,
        "min_contacts": opts.min_contacts,
        "min_contact_ratio": opts.min_contact_ratio,
        "min_calls_per_day": opts.min_calls_per_day,
        "max_in_ratio": opts.max_in_ratio,
        "max_other_ratio": opts.max_other_ratio,
        "max_cells": opts.max_cells,
        "new_line_days": opts.new_line_days,
        "max_ids": common.max_evidence_ids,
    }
    return run_detector_sql(con, "fraud_simbox", TYPE, params)
