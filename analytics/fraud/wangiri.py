"""Wangiri ("one ring and cut") detector.

Signature: one foreign number ringing at least ``min_targets`` distinct subscribers in a
wave (its incoming calls with gaps <= ``wave_gap_minutes``), nearly all unanswered or of
zero duration (share >= ``min_unanswered_share``, 90th percentile duration <= ``max_ring_s``),
then call-backs to it within ``callback_hours`` (they raise the score). In records the
foreign number is the ``other_party`` of ``direction = in`` calls; the alert's ``msisdn``
is that number. A number is foreign when, without a leading ``+``/``00``, it has >= 8 digits,
is not in national format (single leading 0) and does not start with a home calling code
(``home_codes``; by default the code of ``[source] home_country``).
Grain: one alert per foreign number (key ``wangiri:<number>``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from analytics.fraud.alerts import run_detector_sql

if TYPE_CHECKING:
    from analytics.fraud.engine import FraudOptions

log = logging.getLogger(__name__)

TYPE = "wangiri"
# an alert depends only on the records whose other_party is its number (the rings and the
# call-backs): on a cluster the shares are made by this number, not by subscriber
SHARE_BY = r"regexp_replace(other_party, '^(\+|00)', '')"

CALLING_CODES = {
    "GB": ["44"], "US": ["1"], "CA": ["1"], "FR": ["33"], "DE": ["49"], "ES": ["34"], "IT": ["39"],
    "NL": ["31"], "BE": ["32"], "IE": ["353"], "PT": ["351"], "CH": ["41"], "AT": ["43"], "SE": ["46"],
    "NO": ["47"], "DK": ["45"], "FI": ["358"], "PL": ["48"], "IN": ["91"], "ZA": ["27"], "NG": ["234"],
    "KE": ["254"], "AU": ["61"], "NZ": ["64"], "BR": ["55"], "MX": ["52"], "JP": ["81"], "SG": ["65"],
}  # fmt: skip


@dataclass(frozen=True)
class WangiriSettings:
    """``[fraud.wangiri]`` of analytics.toml."""

    home_codes: tuple[str | int, ...] = ()  # empty: the calling code(s) of [source] home_country
    wave_gap_minutes: int = 60
    min_targets: int = 10
    min_unanswered_share: float = 0.8
    max_ring_s: float = 3.0
    callback_hours: int = 72


def home_codes(opts: WangiriSettings, home_country: str) -> list[str]:
    codes = [str(c).lstrip("+") for c in opts.home_codes]
    if not codes:
        codes = CALLING_CODES.get(home_country.upper(), [])
        if not codes:
            log.warning("no calling code known for home country %s: set [fraud.wangiri] home_codes", home_country)
    return codes


def detect(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime | None, opts: WangiriSettings, common: FraudOptions
) -> pl.DataFrame:
    params = {
        "since": since,
        "home_codes": home_codes(opts, common.home_country),
        "wave_gap_minutes": opts.wave_gap_minutes,
        "min_targets": opts.min_targets,
        "min_unanswered_share": opts.min_unanswered_share,
        "max_ring_s": opts.max_ring_s,
        "callback_hours": opts.callback_hours,
        "max_ids": common.max_evidence_ids,
    }
    return run_detector_sql(con, "fraud_wangiri", TYPE, params)
