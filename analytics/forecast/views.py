"""Read-only views of the stored forecasts for the Forecasts page (connection first, no fitting).

* ``fits(con, freq)``: one row per stored series (chosen model, reason, scores).
* ``chart(con, freq, unique_id, history_days=...)``: (history, forecast) of one series;
  history: one row per step ``ds, y`` from the cubes; forecast: one row per future step.
* ``backtests(con, freq, unique_id)``: one row per model (MASE, sMAPE, coverage).
* ``coverage(con, freq)``: one row per chosen model over all series.
* ``capacity(con, level)``: one row per region or cell, soonest exhaustion first.
* ``cell_outlook(con)``: one row per cell with its place (``cells.cell_outlook``; the page
  ranks the cells to act on from it with ``cells.rank_cells_to_act``).
* ``coherent(con)`` / ``coherent_check(con)`` / ``coherent_choice(con)``: the stored daily
  hierarchy (``hierarchy``): one row per metric per node per day; per parent per day its
  forecast beside its children's sum; per metric per reconciliation method its backtest.
* ``coherent_age(con)``: when the stored hierarchy was computed and how many days of data it trails.
* ``coherent_history(con, node_id, metric)``: one node's observed days ``ds, y``.
* ``recentre(forecast, coherent)``: a region's stored forecast with the coherent ``yhat``.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from analytics.config import settings
from analytics.forecast import cells, hierarchy, persist, series


def fits(con: duckdb.DuckDBPyConnection, freq: str) -> pl.DataFrame:
    return persist.read_series(con, freq).drop("model_meta", "run_id", strict=False)


def chart(
    con: duckdb.DuckDBPyConnection, freq: str, unique_id: str, *, history_days: int = 90
) -> tuple[pl.DataFrame, pl.DataFrame]:
    values = persist.read_values(con, freq).filter(pl.col("unique_id") == unique_id)
    frame = (
        series.daily_series(con, timezone=settings().timezone)
        if freq == "daily"
        else series.hourly_series(con, history_days=history_days)
    )
    hist = frame.filter(pl.col("unique_id") == unique_id).select("ds", "y")
    if hist.height:
        since = hist["ds"].max() - dt.timedelta(days=history_days)
        hist = hist.filter(pl.col("ds") > since)
    return hist, values.select("ds", "model", "yhat", "yhat_lower", "yhat_upper", "yhat_lower_95", "yhat_upper_95")


def backtests(con: duckdb.DuckDBPyConnection, freq: str, unique_id: str) -> pl.DataFrame:
    return persist.read_backtests(con, freq, unique_id)


def coverage(con: duckdb.DuckDBPyConnection, freq: str) -> pl.DataFrame:
    return persist.read_coverage(con, freq)


def capacity(con: duckdb.DuckDBPyConnection, level: str) -> pl.DataFrame:
    return persist.read_capacity(con).filter(pl.col("level") == level).drop("level")


def cell_outlook(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return cells.cell_outlook(con)


def runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return persist.read_runs(con).drop("options_json", strict=False)


def coherent(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return hierarchy.read_values(con)


def coherent_check(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return hierarchy.read_check(con)


def coherent_choice(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return hierarchy.read_choice(con).drop("input_hash", strict=False)


def coherent_age(con: duckdb.DuckDBPyConnection) -> dict | None:
    return hierarchy.age(con, timezone=settings().timezone)


def coherent_history(
    con: duckdb.DuckDBPyConnection, node_id: str, metric: str, *, history_days: int = 90
) -> pl.DataFrame:
    return hierarchy.history(con, node_id=node_id, metric=metric, timezone=settings().timezone, days=history_days)


def recentre(forecast: pl.DataFrame, coherent: pl.DataFrame) -> pl.DataFrame:
    """``forecast`` (one region's stored daily forecast) with the coherent ``yhat`` of its node
    (``coherent``: ``ds, yhat``); its own point forecast kept as ``yhat_base`` and its bands
    moved by the same amount (the bands are not reconciled). Days without a coherent value keep
    the stored forecast."""
    bands = ("yhat_lower", "yhat_upper", "yhat_lower_95", "yhat_upper_95")
    shift = pl.col("_coherent").fill_null(pl.col("yhat")) - pl.col("yhat")
    return (
        forecast.join(coherent.select("ds", _coherent="yhat"), on="ds", how="left")
        .with_columns(yhat_base=pl.col("yhat"), **{b: pl.col(b) + shift for b in bands})
        .with_columns(yhat=pl.col("_coherent").fill_null(pl.col("yhat")))
        .drop("_coherent")
    )
