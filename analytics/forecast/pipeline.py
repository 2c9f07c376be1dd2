"""A forecast run: series from the cubes -> changed series refit in parallel -> stored.

``run_forecast(con, freq=..., horizon_days=...)`` needs a writer connection. It reads
the long-format series (``series``), hashes each one with the run's options, refits
only those whose hash differs from the stored fit (all of them with ``full=True``),
stores fits, forecasts and backtests (``persist``) and recomputes the capacity outlook
(``capacity``). ``payload(con, freq)`` builds the contract's JSON from what is stored.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from typing import Any

import duckdb
import numpy as np
import polars as pl

from analytics.config import settings
from analytics.forecast import capacity, localclock, persist, prepare, series
from analytics.forecast.engine import Job, Options, Result, run_job
from analytics.forecast.models import models_for

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "horizon_days": 28,
    "hourly_horizon_days": 7,
    "max_horizon_days": 180,
    "max_hourly_horizon_days": 14,
    "models_daily": ["seasonal_naive", "ets", "sarima", "prophet"],
    "models_hourly": ["seasonal_naive", "ets", "mstl"],
    "backtest_windows": 3,
    "backtest_horizon_days": 14,
    "hourly_backtest_windows": 2,
    "hourly_backtest_horizon_hours": 168,
    "hourly_history_days": 56,
    "hourly_timezone": "",  # wall clock of hourly models; "" = the home country's zone (localclock)
    "min_history_days": 28,
    "max_gap_share": 0.1,
    "max_gap_days": 7,
    "outlier_k": 4.0,
    "n_jobs": 2,
    "utilisation_threshold": 0.8,
    "blocking_threshold": 0.02,
    "capacity_ratio_days": 28,
    "capacity_model": "erlangs",
}


def config() -> dict[str, Any]:
    """``[forecast]`` of analytics.toml over the code defaults."""
    return settings().section("forecast", defaults=DEFAULTS)


def options_for(freq: str, cfg: dict[str, Any] | None = None) -> Options:
    cfg = cfg or config()
    home = settings().home_country
    if freq == "hourly":
        return Options(
            freq="hourly", models=tuple(models_for("hourly", cfg["models_hourly"])),
            windows=int(cfg["hourly_backtest_windows"]), backtest_horizon=int(cfg["hourly_backtest_horizon_hours"]),
            min_train=2 * 168 + 2,
            limits=prepare.Limits(min_length=15 * 24, max_gap_share=float(cfg["max_gap_share"]),
                                  max_gap_run=24 * int(cfg["max_gap_days"])),
            outlier_k=float(cfg["outlier_k"]), home_country=home,
            zone=localclock.zone_for(configured=cfg.get("hourly_timezone") or None, home_country=home,
                                     source_timezone=settings().timezone),
        )
    if freq != "daily":
        raise ValueError(f"freq must be daily or hourly, not {freq!r}")
    return Options(
        freq="daily", models=tuple(models_for("daily", cfg["models_daily"])),
        windows=int(cfg["backtest_windows"]), backtest_horizon=int(cfg["backtest_horizon_days"]),
        min_train=28,
        limits=prepare.Limits(min_length=int(cfg["min_history_days"]), max_gap_share=float(cfg["max_gap_share"]),
                              max_gap_run=int(cfg["max_gap_days"])),
        outlier_k=float(cfg["outlier_k"]), home_country=home,
    )


def horizon_steps(freq: str, horizon_days: int | None, cfg: dict[str, Any] | None = None) -> int:
    """Steps to forecast; raises ValueError past the configured maximum."""
    cfg = cfg or config()
    key, limit = ("hourly_horizon_days", "max_hourly_horizon_days") if freq == "hourly" else ("horizon_days", "max_horizon_days")
    days = int(horizon_days if horizon_days is not None else cfg[key])
    if not 1 <= days <= int(cfg[limit]):
        raise ValueError(f"--horizon-days must be between 1 and {cfg[limit]} for {freq} forecasts, not {days}")
    return days * 24 if freq == "hourly" else days


def jobs_from(frame: pl.DataFrame, *, horizon: int, options: Options) -> list[Job]:
    jobs = []
    for (uid,), part in frame.sort("unique_id", "ds").group_by(["unique_id"], maintain_order=True):
        jobs.append(Job(
            unique_id=uid, region=part["region"][0], metric=part["metric"][0],
            ds=part["ds"].to_numpy().astype("datetime64[us]"),
            y=part["y"].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(float),
            horizon=horizon, options=options,
        ))
    return jobs


def _map(jobs: list[Job], *, n_jobs: int) -> list[Result]:
    if n_jobs <= 1 or len(jobs) < 4:
        return [run_job(j) for j in jobs]
    # forkserver: workers do not inherit the parent's DuckDB/Polars threads (fork is unsafe with them).
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
        return list(pool.map(run_job, jobs, chunksize=1))


def run_forecast(
    con: duckdb.DuckDBPyConnection, *, freq: str = "daily", horizon_days: int | None = None, full: bool = False,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Refit the changed series of ``freq``, store everything, refresh the capacity outlook."""
    t0 = time.perf_counter()
    started = _now()
    cfg = config()
    horizon = horizon_steps(freq, horizon_days, cfg)
    options = options_for(freq, cfg)
    persist.ensure_forecast_schema(con)
    tz = settings().timezone
    frame = (
        series.daily_series(con, timezone=tz) if freq == "daily"
        else series.hourly_series(con, history_days=int(cfg["hourly_history_days"]))
    )
    jobs = jobs_from(frame, horizon=horizon, options=options)
    salt = json.dumps({"horizon": horizon, "options": asdict(options)}, sort_keys=True, default=str)
    hashes = {j.unique_id: persist.series_hash(j.ds, j.y, salt=salt) for j in jobs}
    stored = {} if full else persist.stored_hashes(con, freq=freq)
    todo = [j for j in jobs if stored.get(j.unique_id) != hashes[j.unique_id]]
    log.info("forecast %s: %d series, %d changed, horizon %d steps", freq, len(jobs), len(todo), horizon)
    results = _map(todo, n_jobs=int(n_jobs if n_jobs is not None else cfg["n_jobs"]))
    cutoff = frame["ds"].max() if not frame.is_empty() else None
    run = {
        "run_id": uuid.uuid4().hex, "freq": freq, "horizon_steps": horizon, "data_cutoff": cutoff,
        "started_at": started, "series_total": len(jobs), "series_refit": len(todo),
        "seconds": time.perf_counter() - t0, "options_json": salt,
    }
    persist.save_results(
        con, results, freq=freq, keep={j.unique_id for j in jobs}, hashes=hashes,
        ds_index={j.unique_id: j.ds for j in todo}, run=run, backtest_horizon=options.backtest_horizon,
    )
    outlook, daily = capacity.outlook(
        con, timezone=tz, utilisation=float(cfg["utilisation_threshold"]),
        blocking=float(cfg["blocking_threshold"]), ratio_days=int(cfg["capacity_ratio_days"]),
        capacity_model=str(cfg["capacity_model"]),
    )
    persist.save_capacity(con, outlook, daily)
    run["seconds"] = time.perf_counter() - t0
    return run


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def payload(con: duckdb.DuckDBPyConnection, *, freq: str) -> dict[str, Any]:
    """The contract's JSON: ``regions`` = [{region, metric, model, mase, forecast: [{ds, yhat, yhat_lower, yhat_upper}]}]."""
    fits = persist.read_series(con, freq).filter(pl.col("metric").is_in(series.METRICS))
    values = persist.read_values(con, freq).filter(pl.col("metric").is_in(series.METRICS))
    by_uid = {uid: part for (uid,), part in values.group_by(["unique_id"])}
    fmt = "%Y-%m-%dT%H:%M:%SZ" if freq == "hourly" else "%Y-%m-%d"
    regions = []
    for fit in fits.iter_rows(named=True):
        part = by_uid.get(fit["unique_id"], values.clear()).sort("ds")
        regions.append({
            "region": fit["region"], "metric": fit["metric"], "model": fit["model"], "mase": fit["mase"],
            "reason": fit["reason"], "smape": fit["smape"], "coverage_80": fit["coverage_80"],
            "forecast": [
                {"ds": r["ds"].strftime(fmt), "yhat": r["yhat"], "yhat_lower": r["yhat_lower"], "yhat_upper": r["yhat_upper"],
                 "yhat_lower_95": r["yhat_lower_95"], "yhat_upper_95": r["yhat_upper_95"]}
                for r in part.iter_rows(named=True)
            ],
        })
    return {"freq": freq, "regions": regions}
