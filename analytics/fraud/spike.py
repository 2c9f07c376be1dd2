"""Usage spike detector (bill shock, account takeover, a stolen or resold line's data).

Signature: a line's daily usage far above what it usually does, or (for a line with too
little history) what its peer group usually does. Per local day and metric (``voice_min``
outgoing connected minutes, ``texts`` outgoing sms+mms, ``data_mb`` data/voip/video volume):

* own level: the line's usual high day, the k-th largest of its calendar days (no records =
  0) in the ``baseline_days`` before, k = ceil((1 - ``own_quantile``) * days); a light line
  active twice a week has a baseline (days without records are zeros, not missing);
* peer level (fewer than ``min_baseline_days`` days since the line's first record): the
  ``peer_quantile`` of the active line-days of lines on the same plan (all lines when the
  plan has fewer than ``min_peer_lines``);
* a day is elevated when x >= ``burst_<metric>`` and x >= ``min_ratio`` * max(level,
  ``floor_<metric>``); consecutive elevated days are an episode, which alerts when it lasts
  ``min_burst_days`` or more, or when one day reaches the single-day floor ``min_<metric>``
  (so a one-off 2-4 GB download is no alert, two days of tens of GB are).

A steady heavy user's heavy days are its own baseline. Grain: one alert per episode (key
``usage_spike:<msisdn>:<first local day>``).
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
    "min_baseline_days": 7,  # calendar days since the line's first record; fewer: peer level
    "own_quantile": 0.9,
    "peer_quantile": 0.95,
    "min_peer_lines": 20,
    "min_ratio": 4.0,
    "min_burst_days": 2,
    # single-day floors: one day this big (and elevated) alerts on its own
    "min_voice_min": 180.0,
    "min_texts": 150,
    "min_data_mb": 8000.0,
    # per-day floors of an elevated day (a run of min_burst_days such days alerts)
    "burst_voice_min": 60.0,
    "burst_texts": 50,
    "burst_data_mb": 4000.0,
    # noise floors under a level (a line that never texts is not 'infinitely' above it)
    "floor_voice_min": 5.0,
    "floor_texts": 3.0,
    "floor_data_mb": 50.0,
}
INTEGER_OPTIONS = ("baseline_days", "min_baseline_days", "min_peer_lines", "min_burst_days")


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: dict[str, Any], common: dict[str, Any]
) -> pl.DataFrame:
    params = {"since": since, "tz": common["timezone"], "max_ids": int(common["max_evidence_ids"])}
    for name in DEFAULTS:
        params[name] = int(opts[name]) if name in INTEGER_OPTIONS else float(opts[name])
    return run_detector_sql(con, "fraud_spike", TYPE, params)
