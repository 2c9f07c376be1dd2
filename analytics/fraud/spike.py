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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from analytics.config import as_dict
from analytics.fraud.alerts import run_detector_sql

if TYPE_CHECKING:
    from analytics.fraud.engine import FraudOptions

TYPE = "usage_spike"


@dataclass(frozen=True)
class SpikeSettings:
    """``[fraud.usage_spike]`` of analytics.toml."""

    baseline_days: int = 28
    min_baseline_days: int = 7  # calendar days since the line's first record; fewer: peer level
    own_quantile: float = 0.9
    peer_quantile: float = 0.95
    min_peer_lines: int = 20
    min_ratio: float = 4.0
    min_burst_days: int = 2
    # single-day floors: one day this big (and elevated) alerts on its own
    min_voice_min: float = 180.0
    min_texts: float = 150.0
    min_data_mb: float = 8000.0
    # per-day floors of an elevated day (a run of min_burst_days such days alerts)
    burst_voice_min: float = 60.0
    burst_texts: float = 50.0
    burst_data_mb: float = 4000.0
    # noise floors under a level (a line that never texts is not 'infinitely' above it)
    floor_voice_min: float = 5.0
    floor_texts: float = 3.0
    floor_data_mb: float = 50.0


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: SpikeSettings, common: FraudOptions
) -> pl.DataFrame:
    params = {"since": since, "tz": common.timezone, "max_ids": common.max_evidence_ids}
    params.update(as_dict(opts))  # the field types: integers where the SQL counts days or lines
    return run_detector_sql(con, "fraud_spike", TYPE, params)
