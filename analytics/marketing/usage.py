"""Usage indicators of our own, per subscriber, and the month-over-month churn signal.

Grain of :func:`usage_indicators`: one row per ``msisdn`` with any record in the window
(a local calendar month, or the whole period). Definitions (``marketing_usage.sql``):

* ``records``: the subscriber's records of every service; ``usage_active_days``: distinct
  local dates with any record (bandicoot's ``active_days`` counts calls and texts only).
* ``voice_minutes``: connected minutes (``duration_s / 60``, unrounded) of voice records of
  both directions, as ``summary`` defines them; ``voice_out_minutes``: outgoing only.
* ``sms``: sms and mms records of both directions; ``data_mb``: ``(bytes_up + bytes_down)
  / 1e6`` of data, voip and video records.
* ``roaming_share``: share of the records made while roaming.
* ``international_share``: share of outgoing voice/sms/mms records whose
  ``destination_country`` is not the home country (0 without such records).
* ``spend``: the billed usage charges (sum of ``charge``; a null charge counts 0).

:func:`churn_signals`: ``usage_change`` = records this month / records last month - 1
(null without records last month); ``churn_risk`` = usage fell by at least
``churn_drop`` (``[marketing] churn_drop``, default 30 %) month over month.
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import polars as pl

from analytics import store
from analytics.calendar import month_bounds, shift_month
from analytics.config import settings
from analytics.marketing.indicators import clock_params, conform, local_clock
from analytics.marketing.settings import MarketingSettings

log = logging.getLogger(__name__)

USAGE_SCHEMA = pl.Schema(
    {
        "msisdn": pl.String,
        "records": pl.Int64,
        "usage_active_days": pl.Int64,
        "voice_minutes": pl.Float64,
        "voice_out_minutes": pl.Float64,
        "sms": pl.Int64,
        "data_mb": pl.Float64,
        "roaming_share": pl.Float64,
        "international_share": pl.Float64,
        "spend": pl.Decimal(18, 4),
    }
)
CHURN_SCHEMA = pl.Schema({"msisdn": pl.String, "usage_change": pl.Float64, "churn_risk": pl.Boolean})


def usage_indicators(
    con: duckdb.DuckDBPyConnection,
    *,
    month: dt.date | None = None,
    timezone: str | None = None,
    home_country: str | None = None,
) -> pl.DataFrame:
    tz = timezone or settings().timezone
    home = (home_country or settings().home_country).upper()
    start_at, end_at = month_bounds(month, tz) if month else (None, None)
    clock = clock_params(local_clock(start_at, end_at, timezone=tz))
    # one month: the active days as a bit set of its days (marketing_usage_month.sql)
    name = "marketing_usage_month" if month else "marketing_usage"
    df = store.fetch(con, f"@{name}", clock | {"start_at": start_at, "end_at": end_at, "home": home})
    return conform(df, USAGE_SCHEMA)


def churn_signals(
    current: pl.DataFrame,
    previous: pl.DataFrame,
    *,
    churn_drop: float = MarketingSettings.churn_drop,
) -> pl.DataFrame:
    """Usage change of ``current``'s subscribers against ``previous`` (usage frames)."""
    prev = previous.select("msisdn", pl.col("records").alias("_prev"))
    out = (
        current.select("msisdn", "records")
        .join(prev, on="msisdn", how="left")
        .with_columns(pl.when(pl.col("_prev") > 0).then(pl.col("records") / pl.col("_prev") - 1).alias("usage_change"))
        .with_columns((pl.col("usage_change") <= -churn_drop).fill_null(False).alias("churn_risk"))
    )
    return conform(out, CHURN_SCHEMA)


def month_usage(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    timezone: str | None = None,
    home_country: str | None = None,
    churn_drop: float = MarketingSettings.churn_drop,
) -> pl.DataFrame:
    """Usage indicators of ``month`` with the churn signal against the month before."""
    kw = {"timezone": timezone, "home_country": home_country}
    current = usage_indicators(con, month=month, **kw)
    previous = usage_indicators(con, month=shift_month(month, -1), **kw)
    churn = churn_signals(current, previous, churn_drop=churn_drop)
    return current.join(churn, on="msisdn", how="left")
