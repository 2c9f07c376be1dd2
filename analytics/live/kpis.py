"""Live KPIs over sliding windows, with their expected bands.

Output grain of :func:`live_kpis`: one row per window x level x region x cell x KPI
(``level`` is ``network``, ``region`` or ``cell``; ``region``/``cell_id`` are null above
their level). Windows end at ``as_of``: the newest record time by default (the clock of
the data, so a replayed or delayed feed is judged on its own time), or a given instant.

KPI definitions (voice KPIs use outgoing voice records, the calls a subscriber
attempted; a *connected* call is one whose disposition is ``answered`` or ``dropped``,
since a dropped call was answered first, as in ITU-T E.411/E.425):

* ``call_attempts``: outgoing voice records.
* ``asr``: answer-seizure ratio, connected / attempts.
* ``ner``: network effectiveness ratio, (connected + no_answer + busy) / attempts: the
  attempts that reached the far end; only ``failed`` counts as a network failure.
* ``acd_s``: average call duration, mean ``duration_s`` of connected calls.
* ``dropped_call_rate``: dropped / connected.
* ``sms``: sms and mms records, both directions.
* ``data_mb``: (bytes_up + bytes_down) / 1e6 of data, voip and video records.
* ``active_subscribers``: distinct msisdn with any record in the window.

Ratios are null when their denominator is 0 (no calls: nothing to judge).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from analytics import store
from analytics.config import settings, with_options

log = logging.getLogger(__name__)

WINDOWS: dict[str, int] = {"15m": 900, "1h": 3600, "1d": 86400}
KPIS: tuple[str, ...] = (
    "call_attempts",
    "asr",
    "ner",
    "acd_s",
    "dropped_call_rate",
    "sms",
    "data_mb",
    "active_subscribers",
)
RATIO_KPIS: frozenset[str] = frozenset({"asr", "ner", "dropped_call_rate"})
COUNT_COLUMNS = (
    "records",
    "attempts",
    "connected",
    "reached_unanswered",
    "failed",
    "dropped",
    "connected_s",
    "sms",
    "data_sessions",
    "data_bytes",
    "active_subscribers",
)


@dataclass(frozen=True)
class LiveSettings:
    """``[live]`` of analytics.toml (docs/live.md): the live KPIs, their bands and the alert
    rule (analytics/live/alerts.py)."""

    windows: dict[str, int] = field(default_factory=lambda: dict(WINDOWS))  # name -> seconds ([live.windows])
    history_weeks: int = 4  # previous weeks the band looks at
    min_history_weeks: int = 2  # fewer usable weeks: no band
    band_k: float = 3.0  # band = median +- band_k * 1.4826 * MAD
    ratio_floor: float = 0.05  # minimum band half-width of ratio KPIs
    relative_floor: float = 0.2  # minimum half-width of other KPIs, as a share of the median
    data_relative_floor: float = 0.5  # the same for data volume (a few big sessions move it)
    min_attempts: int = 10  # voice ratios on fewer attempts are not judged
    min_count: float = 5.0  # Poisson floors assume at least this many events (a quiet night is not an anomaly)
    clock: str = "data"  # "data": windows end at the newest record; "wall": at now (UTC)
    landing_dir: str = "data/landing"  # the folder `watch` and the feeder use by default
    page_refresh_s: float = 10.0  # the Live monitor's refresh period
    timezone: str = ""  # the band's wall clock; "" = [source] timezone
    # the alert rule (analytics/live/alerts.py)
    alert_window: str = "15m"
    alert_kpis: tuple[str, ...] = KPIS
    hold_s: float = 300.0  # outside the band this long (record time) before an alert
    webhook_url: str = ""  # POST JSON per raised/resolved alert ("" = off)
    alert_log: str = ""  # append one JSON line per event ("" = off)
    webhook_timeout_s: float = 5.0


def options(overrides: Mapping[str, Any] | None = None) -> LiveSettings:
    """The ``[live]`` options of analytics.toml over the code defaults (then ``overrides``)."""
    opts = with_options(settings().section("live", LiveSettings), overrides)
    return opts if opts.timezone else replace(opts, timezone=settings().timezone)


def _div(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def kpi_exprs() -> dict[str, pl.Expr]:
    """Each KPI as an expression over the aggregate columns of live_window_aggregates.sql."""
    return {
        "call_attempts": pl.col("attempts").cast(pl.Float64),
        "asr": _div("connected", "attempts"),
        "ner": pl.when(pl.col("attempts") > 0)
        .then((pl.col("connected") + pl.col("reached_unanswered")) / pl.col("attempts"))
        .otherwise(None),
        "acd_s": _div("connected_s", "connected"),
        "dropped_call_rate": _div("dropped", "connected"),
        "sms": pl.col("sms").cast(pl.Float64),
        "data_mb": pl.col("data_bytes").cast(pl.Float64) / 1e6,
        "active_subscribers": pl.col("active_subscribers").cast(pl.Float64),
    }


def to_long(aggregates: pl.LazyFrame, *, keys: Sequence[str]) -> pl.LazyFrame:
    """Aggregates (one row per key) -> one row per key x KPI with ``value`` and ``attempts``."""
    exprs = kpi_exprs()
    return (
        aggregates.with_columns(**{f"kpi__{name}": e for name, e in exprs.items()})
        .unpivot(
            index=[*keys, "attempts", "connected", "data_sessions"],
            on=[f"kpi__{name}" for name in exprs],
            variable_name="kpi",
            value_name="value",
        )
        .with_columns(pl.col("kpi").str.strip_prefix("kpi__"))
    )


def newest_record_at(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    return store.fetch(con, "@live_newest_record").item()


def resolve_as_of(con: duckdb.DuckDBPyConnection, as_of: dt.datetime | None, *, clock: str) -> dt.datetime | None:
    if as_of is not None:
        return as_of.astimezone(dt.UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
    if clock == "wall":
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    return newest_record_at(con)


def week_ends(as_of: dt.datetime, *, weeks: int, timezone: str) -> list[dt.datetime]:
    """``as_of`` and the same local wall-clock instant 1..weeks weeks before, as naive UTC.

    Weeks are counted on the local clock (``[source] timezone``): across a DST change the
    history window keeps the same local hour-of-week, 1 hour apart in UTC.
    """
    local = as_of.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone))
    return [
        (local.replace(tzinfo=None) - dt.timedelta(weeks=k))
        .replace(tzinfo=local.tzinfo)
        .astimezone(dt.UTC)
        .replace(tzinfo=None)
        if k
        else as_of
        for k in range(weeks + 1)
    ]


def window_aggregates(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.datetime,
    windows: Mapping[str, int],
    weeks: int,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Counts per window x week_offset x level x region x cell, zero-filled.

    Every key seen in any window or week gets a row for every window and every usable
    week (the current one always, past ones when loaded: see live_coverage.sql), so a
    region that went silent shows zeros instead of disappearing.
    """
    ends = week_ends(as_of, weeks=weeks, timezone=timezone)
    params = {"window_names": list(windows), "window_s": [int(s) for s in windows.values()], "week_ends": ends}
    span = {"from_at": min(ends) - dt.timedelta(seconds=max(params["window_s"])), "to_at": max(ends)}
    agg = store.fetch(con, "@live_window_aggregates", {**params, **span})
    cov = store.fetch(con, "@live_coverage", params)
    usable = (
        cov.lazy()
        .filter(
            (pl.col("week_offset") == 0) | (pl.col("has_records") & (pl.col("first_record_at") <= pl.col("start_at")))
        )
        .select("window_name", pl.col("week_offset").cast(pl.Int32))
    )
    key_cols = ["level", "region", "cell_id"]
    keys = agg.lazy().select(key_cols).unique()
    grid = keys.join(usable, how="cross")
    return (
        grid.join(
            agg.lazy().with_columns(pl.col("week_offset").cast(pl.Int32)),
            on=["window_name", "week_offset", *key_cols],
            how="left",
            nulls_equal=True,
        )
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in COUNT_COLUMNS)
        .sort("level", "region", "cell_id", "window_name", "week_offset", nulls_last=False)
        .collect()
    )


def live_kpis(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.datetime | None = None,
    levels: Sequence[str] = ("network", "region"),
    overrides: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Current KPI values with their expected band and status.

    Columns: as_of_at, window_name, level, region, cell_id, kpi, value, attempts,
    expected, band_lower, band_upper, history_weeks, band_source, status
    (``ok`` | ``low`` | ``high`` | ``no_band`` | ``no_data``). Empty (same schema) when
    the warehouse holds no records.
    """
    from analytics.live.bands import apply_bands  # bands builds on this module's frames

    opts = options(overrides)
    when = resolve_as_of(con, as_of, clock=opts.clock)
    if when is None:
        return apply_bands(pl.DataFrame(), as_of=None, opts=opts)
    agg = window_aggregates(con, as_of=when, windows=opts.windows, weeks=opts.history_weeks, timezone=opts.timezone)
    agg = agg.filter(pl.col("level").is_in(list(levels)))
    long = to_long(agg.lazy(), keys=["window_name", "week_offset", "level", "region", "cell_id"]).collect()
    return apply_bands(long, as_of=when, opts=opts, con=con)


def kpi_series(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.datetime | None = None,
    span_s: int = 6 * 3600,
    bucket_s: int = 300,
) -> pl.DataFrame:
    """KPI time series for sparklines: one row per bucket x level x region x KPI."""
    opts = options()
    when = resolve_as_of(con, as_of, clock=opts.clock)
    schema = {
        "bucket_end_at": pl.Datetime("us"),
        "level": pl.String,
        "region": pl.String,
        "kpi": pl.String,
        "value": pl.Float64,
    }
    if when is None:
        return pl.DataFrame(schema=schema)
    agg = store.fetch(con, "@live_series", {"as_of": when, "span_s": int(span_s), "bucket_s": int(bucket_s)})
    if agg.is_empty():
        return pl.DataFrame(schema=schema)
    long = to_long(agg.lazy(), keys=["bucket_end_at", "level", "region"]).collect()
    return long.select(
        pl.col("bucket_end_at").cast(pl.Datetime("us")), "level", "region", "kpi", pl.col("value").cast(pl.Float64)
    ).sort("level", "region", "kpi", "bucket_end_at")
