"""Forecast tables in DuckDB (analytics/sql/forecast_schema.sql) and their reads.

Grains: ``forecast_runs`` one row per run; ``forecast_series`` one row per frequency
per series (its input hash, chosen model, reason, scores, metadata); ``forecast_values``
one row per series per future step; ``forecast_backtests`` one row per series per
model per cut-off; ``capacity_outlook`` one row per region/cell; ``capacity_daily`` one
row per region/cell per forecast day.

Incremental recompute: a series is refit only when the hash of its input (values,
steps, horizon and options) differs from the stored one (:func:`series_hash`).
Readers return empty frames (with their columns) when no run has stored anything yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import polars as pl

from analytics import store

if TYPE_CHECKING:  # the pages read stored forecasts without importing the model stack (pandas, statsmodels)
    from analytics.forecast.engine import Result

log = logging.getLogger(__name__)

TABLES = (
    "forecast_runs",
    "forecast_series",
    "forecast_values",
    "forecast_backtests",
    "capacity_outlook",
    "capacity_daily",
)


def ensure_forecast_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(store.sql("forecast_schema"))


def series_hash(ds: np.ndarray, y: np.ndarray, *, salt: str) -> str:
    h = hashlib.sha256(salt.encode())
    h.update(np.ascontiguousarray(ds.astype("datetime64[us]").view("int64")).tobytes())
    h.update(np.nan_to_num(np.ascontiguousarray(y, dtype=float), nan=-1.0e300).tobytes())
    return h.hexdigest()


def stored_hashes(con: duckdb.DuckDBPyConnection, *, freq: str) -> dict[str, str]:
    rows = store.fetch(con, "@forecast_stored_hashes", {"freq": freq})
    return dict(zip(rows["unique_id"].to_list(), rows["series_hash"].to_list(), strict=True))


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.is_empty():
        return
    con.register("_forecast_rows", frame)
    try:
        con.execute(f"insert into {table} by name select * from _forecast_rows")  # table: module constant
    finally:
        try:
            con.unregister("_forecast_rows")
        except duckdb.Error:  # an aborted transaction: keep the original error
            pass


def _frames(
    results: Iterable[Result],
    *,
    hashes: dict[str, str],
    ds_index: dict[str, np.ndarray],
    run_id: str,
    backtest_horizon: int,
    now: dt.datetime,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    series, values, backtests = [], [], []
    for r in results:
        chosen = r.scores.get(r.model, {})
        steps = ds_index[r.unique_id]
        series.append(
            {
                "freq": r.freq,
                "unique_id": r.unique_id,
                "region": r.region,
                "metric": r.metric,
                "series_hash": hashes[r.unique_id],
                "data_cutoff": steps[-1].astype("datetime64[us]").item() if len(steps) else None,
                "n_obs": r.n_obs,
                "n_missing": r.n_missing,
                "n_clipped": r.n_clipped,
                "model": r.model,
                "reason": r.reason,
                "mase": _finite(chosen.get("mase")),
                "smape": _finite(chosen.get("smape")),
                "coverage_80": _finite(chosen.get("coverage_80")),
                "coverage_95": _finite(chosen.get("coverage_95")),
                "horizon_steps": len(r.ds),
                "model_meta": json.dumps({**r.meta, "scores": r.scores}, default=str, allow_nan=True),
                "run_id": run_id,
                "fitted_at": now,
                "seconds": r.seconds,
            }
        )
        values.append(
            pl.DataFrame(
                {
                    "freq": r.freq,
                    "unique_id": r.unique_id,
                    "region": r.region,
                    "metric": r.metric,
                    "ds": r.ds.astype("datetime64[us]"),
                    "model": r.model,
                    **{k: np.asarray(v, dtype=float) for k, v in r.forecast.items()},
                }
            )
        )
        for row in r.backtest_rows:
            backtests.append(
                {
                    "freq": r.freq,
                    "unique_id": r.unique_id,
                    "region": r.region,
                    "metric": r.metric,
                    "model": row["model"],
                    "cutoff_at": steps[row["cutoff_index"]].astype("datetime64[us]").item(),
                    "window_steps": backtest_horizon,
                    **{k: _finite(row.get(k)) for k in ("mase", "smape", "mae", "coverage_80", "coverage_95")},
                    "seconds": row["seconds"],
                    "error": row["error"],
                }
            )
    bt_schema = {
        "cutoff_at": pl.Datetime("us"),
        "error": pl.String,
        **{k: pl.Float64 for k in ("mase", "smape", "mae", "coverage_80", "coverage_95")},
    }
    return (
        pl.DataFrame(
            series,
            schema_overrides={
                "data_cutoff": pl.Datetime("us"),
                "reason": pl.String,
                **{k: pl.Float64 for k in ("mase", "smape", "coverage_80", "coverage_95")},
            },
        ),
        pl.concat(values) if values else pl.DataFrame(),
        pl.DataFrame(backtests, schema_overrides=bt_schema),
    )


def save_results(
    con: duckdb.DuckDBPyConnection,
    results: list[Result],
    *,
    freq: str,
    keep: set[str],
    hashes: dict[str, str],
    ds_index: dict[str, np.ndarray],
    run: dict,
    backtest_horizon: int,
) -> None:
    """Replace the refit series' rows, drop series that no longer exist, record the run (one transaction)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    series, values, backtests = _frames(
        results, hashes=hashes, ds_index=ds_index, run_id=run["run_id"], backtest_horizon=backtest_horizon, now=now
    )
    refit = [r.unique_id for r in results]
    con.execute("begin")
    for table in ("forecast_series", "forecast_values", "forecast_backtests"):
        con.execute(
            f"delete from {table} where freq = ? and (list_contains(?, unique_id) or not list_contains(?, unique_id))",
            [freq, refit, sorted(keep)],
        )
    _insert(con, "forecast_series", series)
    _insert(con, "forecast_values", values)
    _insert(con, "forecast_backtests", backtests)
    _insert(con, "forecast_runs", pl.DataFrame([{**run, "finished_at": now}]))
    con.execute("commit")


def save_capacity(con: duckdb.DuckDBPyConnection, outlook: pl.DataFrame, daily: pl.DataFrame) -> None:
    con.execute("begin")
    con.execute("delete from capacity_outlook")
    con.execute("delete from capacity_daily")
    _insert(con, "capacity_outlook", outlook)
    _insert(con, "capacity_daily", daily)
    con.execute("commit")


def has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    n = store.scalar(
        con, "select count(*) from duckdb_tables() where table_name in ('forecast_series', 'capacity_outlook')"
    )
    return bool(n == 2)


def _read(con: duckdb.DuckDBPyConnection, name: str, table: str, params: dict | None = None) -> pl.DataFrame:
    if has_tables(con):
        return store.fetch(con, f"@{name}", params or {})
    scratch = duckdb.connect(":memory:")  # no run yet: an empty frame with the table's columns
    try:
        ensure_forecast_schema(scratch)
        return store.fetch(scratch, f"select * from {table} limit 0")
    finally:
        scratch.close()


def read_series(con: duckdb.DuckDBPyConnection, freq: str) -> pl.DataFrame:
    """One row per stored series of ``freq`` (chosen model, reason, scores)."""
    return _read(con, "forecast_read_series", "forecast_series", {"freq": freq})


def read_values(con: duckdb.DuckDBPyConnection, freq: str) -> pl.DataFrame:
    """One row per stored series per future step."""
    return _read(con, "forecast_read_values", "forecast_values", {"freq": freq})


def read_backtests(con: duckdb.DuckDBPyConnection, freq: str, unique_id: str) -> pl.DataFrame:
    """One row per model: mean backtest scores of one series."""
    if not has_tables(con):
        return pl.DataFrame(
            schema={
                "model": pl.String,
                "windows": pl.Int64,
                "mase": pl.Float64,
                "smape": pl.Float64,
                "mae": pl.Float64,
                "coverage_80": pl.Float64,
                "coverage_95": pl.Float64,
            }
        )
    return store.fetch(con, "@forecast_read_backtests", {"freq": freq, "unique_id": unique_id})


def read_coverage(con: duckdb.DuckDBPyConnection, freq: str) -> pl.DataFrame:
    """One row per chosen model: its series count and mean backtest scores (coverage report)."""
    if not has_tables(con):
        return pl.DataFrame(
            schema={
                "model": pl.String,
                "series": pl.Int64,
                "mase": pl.Float64,
                "smape": pl.Float64,
                "coverage_80": pl.Float64,
                "coverage_95": pl.Float64,
            }
        )
    return store.fetch(con, "@forecast_read_coverage", {"freq": freq})


def read_capacity(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per region and cell, soonest exhaustion first."""
    return _read(con, "forecast_read_capacity", "capacity_outlook")


def read_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return _read(con, "forecast_read_runs", "forecast_runs")
