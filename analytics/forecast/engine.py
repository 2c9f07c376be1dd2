"""Series from raw values to their chosen model, backtest scores and forecast.

``run_batch(jobs)`` is the unit of work (picklable, one shard of series per worker task;
``run_job(job)`` is a batch of one): per series check -> fill gaps -> rolling-origin backtest of every offered model (spikes clipped
in each training part) -> choose by mean MASE -> refit the winner on the whole
(clipped) series -> forecast ``horizon`` steps with 80 % / 95 % bands, rescaled by the
split-conformal calibration from the winner's backtest errors (``calibrate``). A series that
fails a check, or whose chosen model fails the final fit, gets ``seasonal_naive`` and
the reason; nothing here raises for a bad series.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from analytics.forecast import backtest, bulk, calibrate, combine, localclock, prepare
from analytics.forecast.models import FALLBACK, MODELS, Forecast, Spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """How one frequency is forecast (built from ``[forecast]`` in analytics.toml)."""

    freq: str
    models: tuple[str, ...]
    windows: int
    backtest_horizon: int  # steps per backtest window
    min_train: int  # training steps needed at the earliest cut-off
    limits: prepare.Limits
    outlier_k: float = 4.0
    home_country: str = "GB"
    zone: str = "UTC"  # hourly: the wall clock the models see (localclock); ds stay UTC
    combinations: tuple[str, ...] = ()  # combo_* candidates (combine.COMBINATIONS) besides the single models


@dataclass(frozen=True)
class Job:
    unique_id: str
    region: str
    metric: str
    ds: np.ndarray  # datetime64[us], regular steps
    y: np.ndarray  # float, NaN = missing
    horizon: int
    options: Options


@dataclass
class Result:
    unique_id: str
    region: str
    metric: str
    freq: str
    model: str
    reason: str | None
    n_obs: int
    n_missing: int
    n_clipped: int
    scores: dict[str, dict]
    backtest_rows: list[dict]
    ds: np.ndarray
    forecast: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    seconds: float = 0.0


def spec_for(options: Options, n: int) -> Spec:
    if options.freq == "hourly":
        season = 168 if n >= 2 * 168 + 2 else 24
        return Spec("hourly", season, (24, 168), options.home_country)
    return Spec("daily", 7, (7,), options.home_country)


@lru_cache(maxsize=8)
def _holiday_dates(country: str, years: tuple[int, ...]) -> frozenset[dt.date]:
    try:
        import holidays

        return frozenset(holidays.country_holidays(country, years=list(years)).keys())
    except Exception:  # unknown country code: no protection, but say so
        log.warning("no holiday calendar for %r; spikes on holidays will be clipped", country)
        return frozenset()


def holiday_mask(ds: np.ndarray, country: str) -> np.ndarray:
    days = ds.astype("datetime64[D]")
    if len(days) == 0:
        return np.zeros(0, dtype=bool)
    years = tuple(range(int(str(days[0])[:4]), int(str(days[-1])[:4]) + 2))
    hol = np.array(sorted(_holiday_dates(country, years)), dtype="datetime64[D]")
    return np.isin(days, hol)


def future_ds(last: np.datetime64, *, freq: str, horizon: int) -> np.ndarray:
    step = np.timedelta64(1, "h") if freq == "hourly" else np.timedelta64(1, "D")
    return (last + step * np.arange(1, horizon + 1)).astype("datetime64[us]")


def _model_clock(job: Job) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ds, y, index): the series on the clock the models see and, per published step, its model step.

    Hourly series are modelled on the local wall clock (``localclock``); daily ones as they are.
    """
    opts = job.options
    if opts.freq != "hourly" or opts.zone == "UTC" or len(job.y) == 0:
        return job.ds, job.y, np.arange(job.horizon)
    ds, y = localclock.to_local(job.ds, job.y, opts.zone)
    index = localclock.future_index(job.ds[-1], ds[-1], horizon=job.horizon, zone=opts.zone)
    return ds, y, np.maximum(index, 0)


@dataclass
class _Prepared:
    """One job up to its model fits: the series on the model clock, its checks and cut-offs."""

    job: Job
    ds: np.ndarray
    steps: np.ndarray
    horizon: int
    spec: Spec
    reason: str | None
    y: np.ndarray  # gaps filled (zeros for no data)
    windows: int
    candidates: list[str]
    cuts: list[int]  # backtest cut-offs, earliest first
    trains: dict[int, np.ndarray]  # cut -> training part, spikes clipped on that part only
    y_fit: np.ndarray
    n_clipped: int
    seconds: float = 0.0


def _prepare(job: Job) -> _Prepared:
    t0 = time.perf_counter()
    opts = job.options
    ds, y_in, steps = _model_clock(job)
    horizon = int(steps.max()) + 1 if len(steps) else job.horizon
    n = len(y_in)
    spec = spec_for(opts, n)
    reason = prepare.check_series(y_in, limits=opts.limits)
    y = prepare.fill_gaps(y_in, season=spec.season) if n else y_in
    if reason == "no data":
        y = np.zeros(n)
    protect = holiday_mask(ds, opts.home_country)
    windows = backtest.usable_windows(n, windows=opts.windows, horizon=opts.backtest_horizon, min_train=opts.min_train)
    if reason is None and windows == 0:
        reason = f"too short for a backtest: {n} steps (< {opts.min_train + opts.backtest_horizon})"
    candidates = list(opts.models) if reason is None else [FALLBACK]
    backtested = windows and (reason is None or reason.startswith(("gaps", "too short")))
    cuts = backtest.cutoffs(n, windows=windows, horizon=opts.backtest_horizon) if backtested else []
    trains = {
        cut: prepare.clip_outliers(y[:cut], season=spec.season, k=opts.outlier_k, protect=protect[:cut])[0]
        for cut in cuts
    }
    y_fit, n_clipped = prepare.clip_outliers(y, season=spec.season, k=opts.outlier_k, protect=protect) if n else (y, 0)
    return _Prepared(
        job, ds, steps, horizon, spec, reason, y, windows, candidates, cuts, trains, y_fit, n_clipped,
        time.perf_counter() - t0,
    )  # fmt: skip


def _final_models(best: str, rows: list[dict]) -> list[str]:
    return combine.members_of(rows, best) if best in combine.COMBINATIONS else [best]


def _assemble(name: str, rows: list[dict], fits: list[Forecast]) -> Forecast:
    """The final forecast of ``name`` from the final fits of :func:`_final_models` (a
    combination: its members combined)."""
    if name not in combine.COMBINATIONS:
        return fits[0]
    how = combine.COMBINATIONS[name][0]
    members = _final_models(name, rows)
    return combine.combine(fits, how=how, meta={"members": members, "how": how, "member_meta": [f.meta for f in fits]})


def _fit(name: str, rows: list[dict], y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:
    """The final fit of a single model, or of a combination's members (combined); raises the fit's error."""
    outcomes = bulk.fit([bulk.Request(m, "final", y, ds, horizon, spec) for m in _final_models(name, rows)])
    for out in outcomes:
        if out.error is not None:
            raise out.error
    return _assemble(name, rows, [o.forecast for o in outcomes])


def run_batch(jobs: list[Job]) -> list[Result]:
    """The results of ``jobs`` (in order), each exactly as one series on its own: check -> fill
    gaps -> rolling-origin backtest of every offered model (spikes clipped in each training part)
    -> choose by mean MASE -> refit the winner on the whole (clipped) series -> calibrated bands.

    The fits are asked for in two rounds over the whole batch (``bulk.fit``: every backtest
    cut-off of every series and model, then the winners' final fits), so that a statsforecast
    model is ONE vectorised call over all series instead of one per series and cut-off, and a
    training part shared by two jobs (the hierarchy's forecast and backtest jobs) is fit once."""
    prepared = [_prepare(job) for job in jobs]
    requests: list[bulk.Request] = []
    where: list[tuple[int, int, str]] = []
    for i, p in enumerate(prepared):
        for cut in p.cuts:
            for name in p.candidates:
                key = f"{p.job.unique_id}|{cut}"
                requests.append(
                    bulk.Request(name, key, p.trains[cut], p.ds[:cut], p.job.options.backtest_horizon, p.spec)
                )
                where.append((i, cut, name))
    fitted: list[dict[tuple[int, str], bulk.Outcome]] = [{} for _ in prepared]
    for (i, cut, name), out in zip(where, bulk.fit(requests), strict=True):
        fitted[i][(cut, name)] = out
    chosen: list[tuple[str, dict, list[dict]]] = []
    finals: list[bulk.Request] = []
    final_where: list[tuple[int, str]] = []
    for i, p in enumerate(prepared):
        t0 = time.perf_counter()
        opts = p.job.options
        rows = backtest.score_rows(
            p.y,
            cuts=p.cuts,
            models=p.candidates,
            horizon=opts.backtest_horizon,
            season=p.spec.season,
            fitted=lambda cut, name, done=fitted[i]: done[(cut, name)],
        )
        if rows and p.reason is None and opts.combinations:
            bh, y, season = opts.backtest_horizon, p.y, p.spec.season
            rows += combine.backtest_rows(
                rows,
                names=list(opts.combinations),
                actual_at=lambda cut, y=y, bh=bh: y[cut : cut + bh],
                scale_at=lambda cut, y=y, season=season: backtest.mase_scale(y[:cut], season=season),
            )
        for row in rows:
            row.pop("forecast", None)  # kept for the combinations only: not sent back or stored
        best, scores = backtest.choose(rows, fallback=FALLBACK) if rows else (FALLBACK, {})
        chosen.append((best, scores, rows))
        for name in _final_models(best, rows):
            finals.append(bulk.Request(name, f"{p.job.unique_id}|final", p.y_fit, p.ds, p.horizon, p.spec))
            final_where.append((i, name))
        p.seconds += time.perf_counter() - t0
    final_fits: list[dict[str, bulk.Outcome]] = [{} for _ in prepared]
    for (i, name), out in zip(final_where, bulk.fit(finals), strict=True):
        final_fits[i][name] = out
    return [_result(p, *chosen[i], final_fits[i], fitted[i]) for i, p in enumerate(prepared)]


def _result(
    p: _Prepared,
    best: str,
    scores: dict,
    rows: list[dict],
    finals: dict[str, bulk.Outcome],
    fitted: dict[tuple[int, str], bulk.Outcome],
) -> Result:
    t0 = time.perf_counter()
    job, opts, reason = p.job, p.job.options, p.reason
    try:
        fits = []
        for name in _final_models(best, rows):
            if finals[name].error is not None:
                raise finals[name].error
            fits.append(finals[name].forecast)
        fit = _assemble(best, rows, fits)
        cal = backtest.calibration_for(rows, best)
        fc = backtest.tidy(calibrate.apply(fit, cal))
    except Exception as exc:
        log.warning("%s: %s failed the final fit (%s); using %s", job.unique_id, best, exc, FALLBACK)
        reason = f"{best} failed: {type(exc).__name__}: {exc}"[:300]
        best = FALLBACK
        cal = backtest.calibration_for(rows, FALLBACK)
        n = len(p.y)
        fallback = MODELS[FALLBACK][0](p.y_fit if n else np.zeros(1), ds=p.ds, horizon=p.horizon, spec=p.spec)
        fc = backtest.tidy(calibrate.apply(fallback, cal))
    last = job.ds[-1] if len(job.ds) else np.datetime64("1970-01-01T00:00:00", "us")
    bands = {
        "yhat": fc.mean,
        "yhat_lower": fc.lo80,
        "yhat_upper": fc.hi80,
        "yhat_lower_95": fc.lo95,
        "yhat_upper_95": fc.hi95,
    }
    fit_seconds = sum(o.seconds for o in fitted.values()) + sum(o.seconds for o in finals.values())
    return Result(
        unique_id=job.unique_id,
        region=job.region,
        metric=job.metric,
        freq=opts.freq,
        model=best,
        reason=reason,
        n_obs=len(job.y),
        n_missing=int(np.isnan(job.y).sum()),
        n_clipped=p.n_clipped,
        scores=scores,
        backtest_rows=rows,
        ds=future_ds(last, freq=opts.freq, horizon=job.horizon),
        forecast=localclock.from_local(bands, p.steps),
        meta={
            "spec": {
                "season": p.spec.season,
                "seasons": list(p.spec.seasons),
                "clock": opts.zone if opts.freq == "hourly" else "local day",
            },
            "model": fc.meta,
            "windows": p.windows,
            "calibration": cal.as_dict(),
        },
        seconds=p.seconds + fit_seconds + time.perf_counter() - t0,
    )


def run_job(job: Job) -> Result:
    """One series (a cluster task, tests): :func:`run_batch` of that series alone."""
    return run_batch([job])[0]
