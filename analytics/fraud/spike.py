"""Usage spike detector (bill shock, account takeover).

Signature: a line's daily usage far above its own history. Per local day and metric
(``voice_min`` outgoing connected minutes, ``texts`` outgoing sms+mms, ``data_mb`` data/voip/
video volume), the baseline is the line's active days in the ``baseline_days`` before (at
least ``min_baseline_days``); robust z = (x - median) / max(1.4826 * MAD, floor_<metric>,
``rel_floor`` * median). A day is flagged when z >= ``z_threshold``, x >= ``min_ratio`` *
median and x >= ``min_<metric>``. Consecutive flagged days are one episode. A streamer's
heavy data every day is its own baseline, so it is not a spike.
Grain: one alert per episode (key ``usage_spike:<msisdn>:<first local day>``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from analytics.fraud.alerts import run_detector_sql

TYPE = "usage_spike"

DEFAULTS: dict[str, Any] = {
    "baseline_days": 28,
    "min_baseline_days": 7,
    "z_threshold": 6.0,
    "min_ratio": 4.0,
    "rel_floor": 0.1,
    "min_voice_min": 60.0,
    "min_texts": 50,
    "min_data_mb": 2000.0,
    "floor_voice_min": 5.0,
    "floor_texts": 3.0,
    "floor_data_mb": 50.0,
}


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: dict[str, Any], common: dict[str, Any]
) -> pl.DataFrame:
    params = {"since": since, "tz": common["timezone"], "max_ids": int(common["max_evidence_ids"])}
    for name in DEFAULTS:
        params[name] = int(opts[name]) if name in ("baseline_days", "min_baseline_days") else float(opts[name])
    return run_detector_sql(con, "fraud_spike", TYPE, params)
