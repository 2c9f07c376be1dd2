"""Expected bands of the live KPIs: the same window, same hour-of-week, previous weeks.

For a KPI in window ``w`` ending at ``T``, the history is the same KPI over the windows
ending at ``T - 1 week``, ``T - 2 weeks``, ... ``T - history_weeks`` (weeks the warehouse
holds no data for are left out, see live_coverage.sql). With at least
``min_history_weeks`` values:

* ``expected`` = median of the history,
* half-width = max(``band_k`` x 1.4826 x MAD, floor), MAD being the median absolute
  deviation (x 1.4826 makes it a standard-deviation estimate under normal noise),
* floor: the sampling noise of the *current* window, so that a quiet region is not
  judged on a handful of calls: ratios max(``ratio_floor``, ``band_k`` x
  sqrt(p(1-p)/n), ``band_k`` / n) with p = expected and n = attempts (connected calls
  for the dropped-call rate); the last term is the "rule of three": a history median of
  exactly 0 or 1 (no dropped call, no failed call: usual on small windows) makes
  p(1-p) = 0, yet a rate never seen in n trials is only known to be below ~3/n, so one
  or two events in n are noise, not a breach; counts max(``relative_floor`` x median, ``band_k`` x
  sqrt(max(median, ``min_count``))) (Poisson); ACD max(``relative_floor`` x median,
  ``band_k`` x median / sqrt(connected)); data volume max(``data_relative_floor`` x
  median, ``band_k`` x sqrt(2 max(sessions, history's median sessions, ``min_count``)) x
  mean session size, the current window's or, without a session, the history's). The floor also keeps a perfectly regular
  history from giving a zero-width band that any noise would break.
* band = [max(0, expected - half), expected + half], ratios capped at 1.

Voice ratios (ASR, NER, dropped-call rate) computed on fewer than ``min_attempts``
attempts are neither used as history nor judged (status ``low_volume``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb
import polars as pl

from analytics import store
from analytics.live.kpis import RATIO_KPIS, LiveSettings

COUNT_KPIS = frozenset({"call_attempts", "sms", "active_subscribers"})
MAD_SCALE = 1.4826
KEYS = ["window_name", "level", "region", "cell_id", "kpi"]
OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "as_of_at": pl.Datetime("us"),
    "window_name": pl.String,
    "level": pl.String,
    "region": pl.String,
    "cell_id": pl.String,
    "kpi": pl.String,
    "value": pl.Float64,
    "attempts": pl.Int64,
    "expected": pl.Float64,
    "band_lower": pl.Float64,
    "band_upper": pl.Float64,
    "history_weeks": pl.Int64,
    "band_source": pl.String,
    "status": pl.String,
}


def _judged(opts: LiveSettings) -> pl.Expr:
    """Rows whose value may be judged: ratios need enough attempts."""
    return ~pl.col("kpi").is_in(list(RATIO_KPIS)) | (pl.col("attempts") >= opts.min_attempts)


def history_bands(long: pl.LazyFrame, *, opts: LiveSettings) -> pl.LazyFrame:
    """One row per window x level x region x cell x KPI: expected, MAD, history_weeks."""
    hist = long.filter((pl.col("week_offset") >= 1) & pl.col("value").is_not_null() & _judged(opts))
    return (
        hist.group_by(KEYS)
        .agg(
            pl.col("value").median().alias("expected"),
            pl.col("value").alias("_values"),
            pl.len().cast(pl.Int64).alias("history_weeks"),
            pl.col("data_sessions").median().cast(pl.Float64).alias("_sessions"),
        )
        .with_columns(
            _mad=pl.col("_values").list.eval((pl.element() - pl.element().median()).abs()).list.median(),
            band_source=pl.lit("history"),
        )
        .filter(pl.col("history_weeks") >= opts.min_history_weeks)
        .drop("_values")
    )


def half_width(opts: LiveSettings) -> pl.Expr:
    """max(k x 1.4826 x MAD, the KPI's floor); the floor covers the sampling noise of the
    current window (binomial and at least band_k / n for ratios, Poisson for counts with at least ``min_count``
    events, mean/sqrt(n) for ACD, compound Poisson for data volume)."""
    k = opts.band_k
    rel = opts.relative_floor
    med = pl.col("expected").abs()
    p = pl.col("expected").clip(0.0, 1.0)
    denom = pl.when(pl.col("kpi") == "dropped_call_rate").then(pl.col("connected")).otherwise(pl.col("attempts"))
    trials = denom.clip(1, None)
    binomial = k * (p * (1 - p) / trials).sqrt()
    rule_of_three = k / trials  # p(1-p) is 0 at a median of 0 or 1: k events in n are still noise
    min_count = opts.min_count
    # data volume = sessions x size: compound Poisson, sd ~ sqrt(2 n) x mean size (exponential
    # sizes), n and size those of the current window or, when it has fewer sessions, of the
    # history's median (a window without a session has no size of its own: 0 sessions where
    # history has 1-2 is Poisson noise, not a loss of 100 % of the data)
    n = pl.col("data_sessions").cast(pl.Float64)
    n_hist = pl.col("_sessions").fill_null(0.0)
    mean_size = (
        pl.when(n > 0).then(pl.col("value") / n).when(n_hist > 0).then(pl.col("expected").abs() / n_hist).otherwise(0.0)
    )
    data_noise = k * (2 * pl.max_horizontal(n, n_hist, pl.lit(min_count))).sqrt() * mean_size
    floor = (
        pl.when(pl.col("kpi").is_in(list(RATIO_KPIS)))
        .then(pl.max_horizontal(pl.lit(opts.ratio_floor), binomial, rule_of_three))
        .when(pl.col("kpi").is_in(list(COUNT_KPIS)))
        .then(pl.max_horizontal(rel * med, k * pl.max_horizontal(med, pl.lit(min_count)).sqrt()))
        .when(pl.col("kpi") == "acd_s")
        .then(pl.max_horizontal(rel * med, k * med / pl.col("connected").clip(1, None).sqrt()))
        .otherwise(pl.max_horizontal(opts.data_relative_floor * med, data_noise))
    )
    return pl.max_horizontal(k * MAD_SCALE * pl.col("_mad"), floor)


FORECAST_METRICS = {"sms": ("sms", 1.0), "data_gb": ("data_mb", 1000.0)}  # forecast metric -> KPI, unit factor
FORECAST_COLUMNS = {
    "window_name": pl.String,
    "level": pl.String,
    "region": pl.String,
    "kpi": pl.String,
    "f_expected": pl.Float64,
    "f_lower": pl.Float64,
    "f_upper": pl.Float64,
}


def forecast_bands(con: duckdb.DuckDBPyConnection, *, as_of: dt.datetime, windows: Mapping[str, int]) -> pl.DataFrame:
    """Region-level bands of ``sms`` and ``data_mb`` from the hourly forecast, when it covers
    the whole window: each hour's yhat and 95 % band weighted by its overlap with the window."""

    if not store.has_table(con, "forecast_values"):
        return pl.DataFrame(schema=FORECAST_COLUMNS)
    longest = max(int(s) for s in windows.values())
    hours = store.fetch(
        con, "@live_forecast_hours", {"from_at": as_of - dt.timedelta(seconds=longest + 3600), "to_at": as_of}
    )
    if hours.is_empty():
        return pl.DataFrame(schema=FORECAST_COLUMNS)
    win = pl.DataFrame({"window_name": list(windows), "window_s": [int(s) for s in windows.values()]})
    end = pl.lit(as_of, dtype=pl.Datetime("us"))
    start = end - pl.duration(seconds=pl.col("window_s"))
    hour_end = pl.col("ds") + pl.duration(hours=1)
    overlap_s = (
        pl.min_horizontal(hour_end, end) - pl.max_horizontal(pl.col("ds"), start)
    ).dt.total_microseconds() / 1e6
    factor = pl.col("metric").replace_strict({m: f for m, (_, f) in FORECAST_METRICS.items()}, return_dtype=pl.Float64)
    return (
        hours.lazy()
        .join(win.lazy(), how="cross")
        .with_columns(w=(overlap_s.clip(0, None) / 3600.0), covered=overlap_s.clip(0, None))
        .group_by("window_name", "window_s", "region", "metric")
        .agg(
            covered=pl.col("covered").sum(),
            f_expected=(pl.col("yhat") * pl.col("w") * factor).sum(),
            f_lower=(pl.col("yhat_lower_95") * pl.col("w") * factor).sum(),
            f_upper=(pl.col("yhat_upper_95") * pl.col("w") * factor).sum(),
        )
        .filter(pl.col("covered") >= pl.col("window_s") - 1e-6)
        .with_columns(
            level=pl.lit("region"),
            kpi=pl.col("metric").replace_strict({m: k for m, (k, _) in FORECAST_METRICS.items()}),
        )
        .select([pl.col(c).cast(t) for c, t in FORECAST_COLUMNS.items()])
        .collect()
    )


def apply_bands(
    long: pl.DataFrame,
    *,
    as_of: dt.datetime | None,
    opts: LiveSettings,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pl.DataFrame:
    """Current values (week_offset 0) joined to their band, with a status per row.

    With ``con`` and an hourly forecast covering the window, region-level ``sms`` and
    ``data_mb`` take the forecast's band instead (``band_source = forecast``), widened to
    at least the noise floor around its expected value."""
    if long.is_empty():
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    lf = long.lazy()
    bands = history_bands(lf, opts=opts)
    status = (
        pl.when(pl.col("value").is_null())
        .then(pl.lit("no_data"))
        .when(~_judged(opts))
        .then(pl.lit("low_volume"))
        .when(pl.col("expected").is_null())
        .then(pl.lit("no_band"))
        .when(pl.col("value") < pl.col("band_lower"))
        .then(pl.lit("low"))
        .when(pl.col("value") > pl.col("band_upper"))
        .then(pl.lit("high"))
        .otherwise(pl.lit("ok"))
    )
    fc = forecast_bands(con, as_of=as_of, windows=opts.windows) if con is not None and as_of is not None else None
    if fc is None:
        fc = pl.DataFrame(schema=FORECAST_COLUMNS)
    has_fc = pl.col("f_expected").is_not_null()
    half = half_width(opts)
    upper = pl.col("expected") + half
    return (
        lf.filter(pl.col("week_offset") == 0)
        .join(bands, on=KEYS, how="left", nulls_equal=True)
        .join(fc.lazy(), on=["window_name", "level", "region", "kpi"], how="left", nulls_equal=True)
        .with_columns(
            expected=pl.coalesce("f_expected", "expected"),
            _mad=pl.when(has_fc).then(0.0).otherwise(pl.col("_mad")),
            band_source=pl.when(has_fc).then(pl.lit("forecast")).otherwise(pl.col("band_source")),
        )
        .with_columns(  # *_horizontal skip nulls: keep "no band" null explicitly
            band_lower=pl.when(has_fc)
            .then(pl.max_horizontal(pl.min_horizontal(pl.col("f_lower"), pl.col("expected") - half), 0.0))
            .when(pl.col("expected").is_not_null())
            .then(pl.max_horizontal(pl.col("expected") - half, 0.0)),
            band_upper=pl.when(has_fc)
            .then(pl.max_horizontal(pl.col("f_upper"), upper))
            .when(pl.col("expected").is_null())
            .then(None)
            .when(pl.col("kpi").is_in(list(RATIO_KPIS)))
            .then(pl.min_horizontal(upper, 1.0))
            .otherwise(upper),
        )
        .with_columns(
            as_of_at=pl.lit(as_of, dtype=pl.Datetime("us")),
            history_weeks=pl.col("history_weeks").fill_null(0),
            status=status,
        )
        .select([pl.col(c).cast(t) for c, t in OUTPUT_SCHEMA.items()])
        .sort("window_name", "level", "region", "cell_id", "kpi", nulls_last=False)
        .collect()
    )
