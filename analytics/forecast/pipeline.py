"""A forecast run: series from the cubes -> changed series refit in parallel -> stored.

:func:`refresh` (warehouse path, frequencies, progress) is the entry point of every caller
(first start, ``demo``, ``forecast``, the Forecasts page, refresh after a load). It runs
three stages per frequency, so that no lock is held while series are fitted:

* read (:func:`plan_run`, a read-only connection): the long-format series (``series``),
  each hashed with the run's options, and which of them differ from the stored fit (all
  of them with ``full=True``);
* fit (:func:`analytics.forecast.workers.fit`): the changed series, in worker processes
  that never import the caller's ``__main__`` (issue 17: under Streamlit that was app.py);
* store (:func:`store_run`, :func:`store_capacity`, a short ``store.writer`` block): fits,
  forecasts and backtests (``persist``), then the capacity outlook (``capacity``).

``run_forecast(con, ...)`` runs the same stages on one writer connection the caller holds.
``payload(con, freq)`` builds the contract's JSON from what is stored.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from analytics import store
from analytics.config import settings
from analytics.forecast import capacity, combine, hierarchy, localclock, persist, prepare, series, workers
from analytics.forecast.engine import Job, Options, Result
from analytics.forecast.models import models_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastSettings:
    """``[forecast]`` of analytics.toml (docs/forecast.md). Horizons in days."""

    horizon_days: int = 28
    hourly_horizon_days: int = 7
    max_horizon_days: int = 180
    max_hourly_horizon_days: int = 14
    models_daily: tuple[str, ...] = ("seasonal_naive", "sf_ets", "sf_theta", "sf_mstl")
    models_hourly: tuple[str, ...] = ("seasonal_naive", "ets", "sf_ets", "sf_theta", "sf_mstl")
    combinations_daily: tuple[str, ...] = ("combo_mean2", "combo_mean3", "combo_median3")  # combine.COMBINATIONS
    combinations_hourly: tuple[str, ...] = ("combo_mean2", "combo_mean3", "combo_median3")
    backtest_windows: int = 3
    backtest_horizon_days: int = 14
    hourly_backtest_windows: int = 2
    hourly_backtest_horizon_hours: int = 168
    hourly_history_days: int = 56
    hourly_timezone: str = ""  # wall clock of hourly models; "" = the home country's zone (localclock)
    min_history_days: int = 28
    max_gap_share: float = 0.1
    max_gap_days: int = 7
    outlier_k: float = 4.0
    n_jobs: int = 2
    utilisation_threshold: float = 0.8
    blocking_threshold: float = 0.02
    capacity_ratio_days: int = 28
    capacity_model: str = "erlangs"
    hierarchy: bool = True  # coherent daily totals (cells -> regions -> national) after each daily run
    hierarchy_models_upper: tuple[str, ...] = ("seasonal_naive", "sf_ets", "sf_theta")  # national and regions
    hierarchy_models_cell: tuple[str, ...] = ("seasonal_naive",)  # the cells: 600 x 4 metrics (benchmarks/RESULTS.md)
    hierarchy_backtest_days: int = 14  # held-out days of the backtest that chooses the reconciliation
    hierarchy_refit_days: int = 7  # after a load: refit the totals once this many new complete local days arrived


def config() -> ForecastSettings:
    """``[forecast]`` of analytics.toml over the code defaults."""
    return settings().section("forecast", ForecastSettings)


def options_for(freq: str, cfg: ForecastSettings | None = None) -> Options:
    cfg = cfg or config()
    home = settings().home_country
    if freq == "hourly":
        return Options(
            freq="hourly",
            models=tuple(models_for("hourly", cfg.models_hourly)),
            windows=cfg.hourly_backtest_windows,
            backtest_horizon=cfg.hourly_backtest_horizon_hours,
            min_train=2 * 168 + 2,
            limits=prepare.Limits(
                min_length=15 * 24, max_gap_share=cfg.max_gap_share, max_gap_run=24 * cfg.max_gap_days
            ),
            outlier_k=cfg.outlier_k,
            home_country=home,
            zone=localclock.zone_for(
                configured=cfg.hourly_timezone or None, home_country=home, source_timezone=settings().timezone
            ),
            combinations=tuple(combine.validate(cfg.combinations_hourly)),
        )
    if freq != "daily":
        raise ValueError(f"freq must be daily or hourly, not {freq!r}")
    return Options(
        freq="daily",
        models=tuple(models_for("daily", cfg.models_daily)),
        windows=cfg.backtest_windows,
        backtest_horizon=cfg.backtest_horizon_days,
        min_train=28,
        limits=prepare.Limits(
            min_length=cfg.min_history_days,
            max_gap_share=cfg.max_gap_share,
            max_gap_run=cfg.max_gap_days,
        ),
        outlier_k=cfg.outlier_k,
        home_country=home,
        combinations=tuple(combine.validate(cfg.combinations_daily)),
    )


def horizon_steps(freq: str, horizon_days: int | None, cfg: ForecastSettings | None = None) -> int:
    """Steps to forecast; raises ValueError past the configured maximum."""
    cfg = cfg or config()
    key, limit = (
        ("hourly_horizon_days", "max_hourly_horizon_days") if freq == "hourly" else ("horizon_days", "max_horizon_days")
    )
    days = int(horizon_days if horizon_days is not None else getattr(cfg, key))
    if not 1 <= days <= getattr(cfg, limit):
        raise ValueError(f"--horizon-days must be between 1 and {getattr(cfg, limit)} for {freq} forecasts, not {days}")
    return days * 24 if freq == "hourly" else days


def jobs_from(frame: pl.DataFrame, *, horizon: int, options: Options) -> list[Job]:
    jobs = []
    for (uid,), part in frame.sort("unique_id", "ds").group_by(["unique_id"], maintain_order=True):
        jobs.append(
            Job(
                unique_id=uid,
                region=part["region"][0],
                metric=part["metric"][0],
                ds=part["ds"].to_numpy().astype("datetime64[us]"),
                y=part["y"].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(float),
                horizon=horizon,
                options=options,
            )
        )
    return jobs


@dataclass(frozen=True)
class Plan:
    """What one run of ``freq`` will do, read from a read-only connection (no writer lock)."""

    freq: str
    horizon: int
    options: Options
    salt: str  # the run's options, part of every series hash
    jobs: list[Job]  # every series
    todo: list[Job]  # those whose hash differs from the stored fit
    hashes: dict[str, str]
    cutoff: Any  # last step of the data (None without data)
    started: Any


def plan_run(
    con: duckdb.DuckDBPyConnection,
    *,
    freq: str,
    horizon_days: int | None = None,
    full: bool = False,
    cfg: ForecastSettings | None = None,
) -> Plan:
    """The series of ``freq`` and which of them changed since their stored fit (reads only)."""
    started = _now()
    cfg = cfg or config()
    horizon = horizon_steps(freq, horizon_days, cfg)
    options = options_for(freq, cfg)
    frame = (
        series.daily_series(con, timezone=settings().timezone)
        if freq == "daily"
        else series.hourly_series(con, history_days=cfg.hourly_history_days)
    )
    jobs = jobs_from(frame, horizon=horizon, options=options)
    salt = json.dumps({"horizon": horizon, "options": asdict(options)}, sort_keys=True, default=str)
    hashes = {j.unique_id: persist.series_hash(j.ds, j.y, salt=salt) for j in jobs}
    stored = {} if full or not persist.has_tables(con) else persist.stored_hashes(con, freq=freq)
    todo = [j for j in jobs if stored.get(j.unique_id) != hashes[j.unique_id]]
    log.info("forecast %s: %d series, %d changed, horizon %d steps", freq, len(jobs), len(todo), horizon)
    cutoff = frame["ds"].max() if not frame.is_empty() else None
    return Plan(
        freq=freq,
        horizon=horizon,
        options=options,
        salt=salt,
        jobs=jobs,
        todo=todo,
        hashes=hashes,
        cutoff=cutoff,
        started=started,
    )


def store_run(con: duckdb.DuckDBPyConnection, plan: Plan, results: list[Result], *, seconds: float) -> dict[str, Any]:
    """Store the fits of ``plan`` (a writer connection; one transaction); the run's row."""
    persist.ensure_forecast_schema(con)
    run = {
        "run_id": uuid.uuid4().hex,
        "freq": plan.freq,
        "horizon_steps": plan.horizon,
        "data_cutoff": plan.cutoff,
        "started_at": plan.started,
        "series_total": len(plan.jobs),
        "series_refit": len(plan.todo),
        "seconds": seconds,
        "options_json": plan.salt,
    }
    persist.save_results(
        con,
        results,
        freq=plan.freq,
        keep={j.unique_id for j in plan.jobs},
        hashes=plan.hashes,
        ds_index={j.unique_id: j.ds for j in plan.todo},
        run=run,
        backtest_horizon=plan.options.backtest_horizon,
    )
    return run


def store_capacity(con: duckdb.DuckDBPyConnection, cfg: ForecastSettings | None = None) -> int:
    """Recompute the capacity outlook from the stored forecasts (a writer connection); its rows."""
    cfg = cfg or config()
    persist.ensure_forecast_schema(con)
    outlook, daily = capacity.outlook(
        con,
        timezone=settings().timezone,
        utilisation=cfg.utilisation_threshold,
        blocking=cfg.blocking_threshold,
        ratio_days=cfg.capacity_ratio_days,
        capacity_model=cfg.capacity_model,
    )
    persist.save_capacity(con, outlook, daily)
    return outlook.height


def run_forecast(
    con: duckdb.DuckDBPyConnection,
    *,
    freq: str = "daily",
    horizon_days: int | None = None,
    full: bool = False,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Plan, fit and store one frequency on one writer connection that the caller holds
    throughout (tests, small warehouses). :func:`refresh` is the entry point that keeps the
    writer lock only for the writes."""
    t0 = time.perf_counter()
    cfg = config()
    plan = plan_run(con, freq=freq, horizon_days=horizon_days, full=full, cfg=cfg)
    results = workers.fit(plan.todo, n_jobs=int(n_jobs if n_jobs is not None else cfg.n_jobs))
    run = store_run(con, plan, results, seconds=time.perf_counter() - t0)
    store_capacity(con, cfg)
    if freq == "daily" and cfg.hierarchy:
        hierarchy.run(
            con,
            options=plan.options,
            horizon=plan.horizon,
            cfg=cfg,
            timezone=settings().timezone,
            n_jobs=int(n_jobs if n_jobs is not None else cfg.n_jobs),
            full=full,
        )
    run["seconds"] = time.perf_counter() - t0
    return run


Progress = Callable[[float, str], None]  # (fraction done 0..1, message), as analytics.demo's on_progress


@dataclass(frozen=True)
class Refreshed:
    """What :func:`refresh` did: one run row per frequency, the capacity outlook's rows."""

    runs: dict[str, dict[str, Any]]
    capacity_rows: int
    seconds: float
    totals_refit: bool = False  # the coherent totals were refit (else: unchanged, off, or not yet due)

    @property
    def series_total(self) -> int:
        return sum(r["series_total"] for r in self.runs.values())

    @property
    def series_refit(self) -> int:
        return sum(r["series_refit"] for r in self.runs.values())


@contextmanager
def _one_refresh_at_a_time(warehouse: Path) -> Iterator[None]:
    """Refreshes of one warehouse queue on ``<warehouse>.forecast.lock`` (not the writers'
    lock: loads and readers go on). The second one then finds the first one's hashes and
    refits nothing it already did, and an older plan never overwrites a newer one."""
    with store.file_lock(Path(f"{warehouse}.forecast.lock")):
        yield


def refresh(
    warehouse: str | Path,
    *,
    freqs: tuple[str, ...] = ("daily", "hourly"),
    progress: Progress | None = None,
    horizon_days: int | None = None,
    full: bool = False,
    n_jobs: int | None = None,
    cluster: str | None = None,
    totals: bool = True,
    totals_when_due: bool = False,
) -> Refreshed:
    """Bring the stored forecasts of ``freqs`` and the capacity outlook up to date with the warehouse.

    Per frequency: **read** the series and the stored hashes on a read-only connection
    (``store.reader``: waits for a running load to commit, holds no writer lock), **fit**
    the changed series in worker processes that never import the caller's ``__main__``
    (:mod:`analytics.forecast.workers`; nothing is locked meanwhile), **store** them under
    ``store.writer`` (seconds). The capacity outlook is recomputed in the last write.
    Unchanged series are skipped (their input hash), so a refresh after a load refits only
    the series the load changed. Used by the first start, ``demo``, ``forecast`` and the
    Forecasts page; safe to call from the Streamlit server process. ``cluster``: fit one
    task per series on that Dask cluster (``forecast --cluster``, docs/scale.md).
    ``totals_when_due`` (the refresh after a load): refit the coherent totals only when
    ``hierarchy.Plan.due`` (``hierarchy_refit_days`` new complete days, or new options), not
    on every change of the data; the callers that ask for forecasts refit them when changed.
    """
    say = progress or (lambda fraction, message: None)
    warehouse = Path(warehouse)
    cfg = config()
    jobs = int(n_jobs if n_jobs is not None else cfg.n_jobs)
    t0 = time.perf_counter()
    runs: dict[str, dict[str, Any]] = {}
    rows = 0
    totals_refit = False
    share = 1.0 / max(len(freqs), 1)
    with _one_refresh_at_a_time(warehouse):
        for i, freq in enumerate(freqs):
            base = i * share
            say(base, f"{freq}: reading the series")
            t_freq = time.perf_counter()
            with store.reader(warehouse) as con:
                plan = plan_run(con, freq=freq, horizon_days=horizon_days, full=full, cfg=cfg)
            say(base + 0.05 * share, f"{freq}: {len(plan.todo)} of {len(plan.jobs)} series changed; fitting them")

            def fitted(done: int, total: int, message: str, *, base: float = base, freq: str = freq) -> None:
                say(
                    base + share * (0.05 + 0.9 * done / max(total, 1)),
                    f"{freq}: {done} of {total} series fitted ({message})",
                )

            results = workers.fit(plan.todo, n_jobs=jobs, progress=fitted, cluster=cluster)
            say(base + share * (0.05 + 0.9), f"{freq}: storing the forecasts")
            with store.writer(warehouse) as con:
                runs[freq] = store_run(con, plan, results, seconds=time.perf_counter() - t_freq)
                if i == len(freqs) - 1:
                    rows = store_capacity(con, cfg)
            if freq == "daily":
                daily = plan
        if totals and cfg.hierarchy and "daily" in runs:  # last: every frequency is stored before it
            totals_refit = _refresh_hierarchy(
                warehouse, daily, cfg=cfg, full=full, n_jobs=jobs, say=say, at=0.99, when_due=totals_when_due
            )
        seconds = time.perf_counter() - t0
    say(1.0, f"forecasts up to date: {sum(r['series_refit'] for r in runs.values())} series refit in {seconds:,.0f} s")
    return Refreshed(runs=runs, capacity_rows=rows, seconds=seconds, totals_refit=totals_refit)


def refresh_totals(
    warehouse: str | Path,
    *,
    progress: Progress | None = None,
    horizon_days: int | None = None,
    full: bool = False,
    n_jobs: int | None = None,
) -> bool:
    """Only the coherent totals (:mod:`analytics.forecast.hierarchy`), from the stored daily
    options: what :func:`refresh` does last, for a caller that stored each frequency on its
    own first (the app's job, so the first start does not wait for the totals). False when
    ``[forecast] hierarchy`` is off."""
    cfg = config()
    if not cfg.hierarchy:
        return False
    warehouse = Path(warehouse)
    with _one_refresh_at_a_time(warehouse):
        with store.reader(warehouse) as con:
            plan = plan_run(con, freq="daily", horizon_days=horizon_days, full=full, cfg=cfg)
        _refresh_hierarchy(
            warehouse,
            plan,
            cfg=cfg,
            full=full,
            say=progress or (lambda fraction, message: None),
            n_jobs=int(n_jobs if n_jobs is not None else cfg.n_jobs),
            at=0.0,
        )
    return True


def _refresh_hierarchy(
    warehouse: Path,
    plan: Plan,
    *,
    cfg: ForecastSettings,
    full: bool,
    n_jobs: int,
    say: Progress,
    at: float,
    when_due: bool = False,
) -> bool:
    """The coherent totals (:mod:`analytics.forecast.hierarchy`) in the same three stages: read,
    fit (no lock), store; skipped when the cells' daily values and options did not change, and
    with ``when_due`` also until a refit is due (``hierarchy.Plan.due``). True when refit."""
    with store.reader(warehouse) as con:
        hplan = hierarchy.plan(
            con, options=plan.options, horizon=plan.horizon, cfg=cfg, timezone=settings().timezone, full=full
        )
    if not hplan.changed or hplan.nodes.is_empty():
        return False
    if when_due and not hplan.due:
        log.info(
            "coherent totals kept: %s new complete day(s) since their run, a refit is due at %d",
            hplan.stale_days,
            hplan.refit_days,
        )
        return False
    say(at, f"coherent totals: {len(hplan.jobs)} series of cells, regions and the national total")
    values, choice = hierarchy.fit(hplan, n_jobs=n_jobs)
    with store.writer(warehouse) as con:
        hierarchy.save(con, values, choice)
    return True


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
        regions.append(
            {
                "region": fit["region"],
                "metric": fit["metric"],
                "model": fit["model"],
                "mase": fit["mase"],
                "reason": fit["reason"],
                "smape": fit["smape"],
                "coverage_80": fit["coverage_80"],
                "forecast": [
                    {
                        "ds": r["ds"].strftime(fmt),
                        "yhat": r["yhat"],
                        "yhat_lower": r["yhat_lower"],
                        "yhat_upper": r["yhat_upper"],
                        "yhat_lower_95": r["yhat_lower_95"],
                        "yhat_upper_95": r["yhat_upper_95"],
                    }
                    for r in part.iter_rows(named=True)
                ],
            }
        )
    return {"freq": freq, "regions": regions}
