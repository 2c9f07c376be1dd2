"""Registry of named forecasting models behind one signature.

Every model is a callable ``fn(y, *, ds, horizon, spec) -> Forecast`` where ``y`` is a
clean (gap-free, outlier-clipped) float array, ``ds`` the matching timestamps and
``spec`` the series' frequency and seasons. It returns the point forecast and the
80 % / 95 % prediction bands for the next ``horizon`` steps. A model that cannot fit
raises; the caller then uses ``seasonal_naive`` (the baseline and the fallback).

Names are unique; ``MODELS`` maps each name to its callable and the frequencies it
is offered for (``FREQS``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics.forecast import sfmodels

log = logging.getLogger(__name__)

Z80 = 1.2815515655446004
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Spec:
    """What a model needs to know about a series besides its values."""

    freq: str  # daily | hourly
    season: int  # the primary season in steps (7 daily, 168 or 24 hourly)
    seasons: tuple[int, ...]  # all seasons (MSTL)
    home_country: str = "GB"


@dataclass
class Forecast:
    mean: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


ModelFn = Callable[..., Forecast]


def _bands(mean: np.ndarray, sigma: np.ndarray, meta: dict[str, Any] | None = None) -> Forecast:
    sigma = np.nan_to_num(np.asarray(sigma, dtype=float), nan=0.0)
    return Forecast(mean, mean - Z80 * sigma, mean + Z80 * sigma, mean - Z95 * sigma, mean + Z95 * sigma, meta or {})


def seasonal_naive(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """Repeat the last season; naive (last value) when shorter than one season.

    Bands: residual RMS of the in-sample seasonal differences, growing with the
    number of seasons ahead (sigma_h = sigma * sqrt(k + 1), Hyndman & Athanasopoulos 5.5).
    """
    n = len(y)
    m = spec.season if n > spec.season else 1
    if n == 0:
        raise ValueError("empty series")
    steps = np.arange(horizon)
    mean = y[n - m + (steps % m)].astype(float)
    resid = y[m:] - y[:-m] if n > m else np.array([])
    sigma = float(np.sqrt(np.mean(resid**2))) if len(resid) >= 2 else 0.0
    k = steps // m
    return _bands(mean, sigma * np.sqrt(k + 1), {"season": m})


SEASONAL_MEAN_SEASONS = 4


def seasonal_mean(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """The mean of the last ``SEASONAL_MEAN_SEASONS`` (4) seasons, phase by phase (every step
    of the horizon: the mean of the same weekday / hour of the week over the last 4 weeks).

    Seasonal naive repeats one noisy week; averaging four weeks divides the noise's variance
    by four at the cost of a lag of 1.5 weeks behind a trend or a level shift, which the
    backtest weighs. Fewer seasons when the series is shorter. Bands: residual RMS of the same
    rule in-sample, growing like seasonal naive's with the seasons ahead.
    """
    n = len(y)
    if n == 0:
        raise ValueError("empty series")
    m = spec.season if n > spec.season else 1
    k = max(1, min(SEASONAL_MEAN_SEASONS, n // m))
    y = np.asarray(y, dtype=float)
    last = y[n - k * m :].reshape(k, m).mean(axis=0)
    steps = np.arange(horizon)
    mean = last[steps % m]
    if n > k * m:  # in-sample: each step against the mean of the same phase in the k seasons before it
        fitted = np.mean([y[(k - j) * m : n - j * m] for j in range(1, k + 1)], axis=0)
        resid = y[k * m :] - fitted
    else:
        resid = np.array([])
    sigma = float(np.sqrt(np.mean(resid**2))) if len(resid) >= 2 else 0.0
    return _bands(mean, sigma * np.sqrt(1 + steps // m), {"season": m, "seasons_averaged": k})


CALENDAR_WEEKS = 12


def _holidays(ds: np.ndarray, country: str) -> np.ndarray:
    from analytics.forecast.engine import holiday_mask  # noqa: PLC0415 - engine imports this module

    return holiday_mask(ds, country)


def calendar_trend(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:
    """Log-linear regression on the last ``CALENDAR_WEEKS`` (12) weeks: a linear trend plus one
    level per weekday, a home-country public holiday counting as a Sunday (daily only).

    Traffic follows the working week: people call less at weekends and on bank holidays, and a
    holiday looks like a Sunday, not like the weekday it falls on (which a seasonal model
    repeats from its last week). The weekday levels are estimated from 12 weeks at once, where
    ETS's seasonal states follow each week's noise, and the trend is multiplicative (log
    scale), as growth scales the whole week. Bands: the in-sample residual sd on the log scale
    with the trend's extrapolation variance, mapped back (lognormal quantiles).
    """
    if spec.freq != "daily":
        raise ValueError("calendar_trend is a daily model")
    n = len(y)
    take = min(n, 7 * CALENDAR_WEEKS)
    if take < 21:
        raise ValueError(f"calendar_trend needs 21 days, has {take}")
    y = np.asarray(y[-take:], dtype=float)
    if np.any(y < 0):
        raise ValueError("calendar_trend needs non-negative values")
    past = np.asarray(ds[-take:]).astype("datetime64[D]")
    future = past[-1] + np.arange(1, horizon + 1).astype("timedelta64[D]")
    days = np.concatenate([past, future])
    weekday = (days.astype("int64") + 3) % 7  # 0 = Monday
    weekday = np.where(_holidays(days, spec.home_country), 6, weekday)
    t = np.arange(take + horizon, dtype=float) / 7.0
    x = np.column_stack([np.ones_like(t), t, *[(weekday == d).astype(float) for d in range(1, 7)]])
    shift = max(1.0, 0.01 * float(np.mean(y)))  # log of counts near 0
    z = np.log(y + shift)
    beta, *_ = np.linalg.lstsq(x[:take], z, rcond=None)
    resid = z - x[:take] @ beta
    dof = max(take - x.shape[1], 1)
    s2 = float(resid @ resid) / dof
    xtx_inv = np.linalg.pinv(x[:take].T @ x[:take])
    xf = x[take:]
    var = s2 * (1 + np.einsum("ij,jk,ik->i", xf, xtx_inv, xf))
    mu = xf @ beta
    sd = np.sqrt(var)
    mean = np.exp(mu + var / 2) - shift
    return Forecast(
        mean,
        np.exp(mu - Z80 * sd) - shift,
        np.exp(mu + Z80 * sd) - shift,
        np.exp(mu - Z95 * sd) - shift,
        np.exp(mu + Z95 * sd) - shift,
        {"form": "log-linear trend + weekday (holiday = Sunday)", "weeks": take / 7},
    )


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence statsmodels/prophet convergence chatter inside a fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _ets_frame(y: np.ndarray, horizon: int, *, season: int | None, alpha: float):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    model = ETSModel(
        pd.Series(y, dtype=float),
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add" if season else None,
        seasonal_periods=season,
        initialization_method="heuristic" if season else "estimated",
    )
    res = model.fit(disp=False)
    n = len(y)
    frame = res.get_prediction(start=n, end=n + horizon - 1).summary_frame(alpha=alpha)
    return res, frame


def ets(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """Holt-Winters as a state-space ETS(A,Ad,A) model (statsmodels ETSModel).

    Additive error, damped additive trend, additive season of ``spec.season`` steps
    (168 hourly: the weekly season also holds the daily one). Heuristic initial
    states keep a 168-step season fast. Analytic prediction intervals.
    """
    with _quiet():
        if len(y) < 2 * spec.season + 2:
            raise ValueError(f"ets needs two full seasons ({2 * spec.season} steps)")
        res, f80 = _ets_frame(y, horizon, season=spec.season, alpha=0.2)
        f95 = res.get_prediction(start=len(y), end=len(y) + horizon - 1).summary_frame(alpha=0.05)
    meta = {"aic": float(res.aic), "season": spec.season, "form": "ETS(A,Ad,A)"}
    return Forecast(
        f80["mean"].to_numpy(),
        f80["pi_lower"].to_numpy(),
        f80["pi_upper"].to_numpy(),
        f95["pi_lower"].to_numpy(),
        f95["pi_upper"].to_numpy(),
        meta,
    )


SARIMA_ORDER = (1, 0, 1)
SARIMA_SEASONAL = (0, 1, 1)
SARIMA_MAXITER = 15


def sarima(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """SARIMA(1,0,1)(0,1,1)[m] with drift: fixed small orders, no order search.

    State-space SARIMAX without stationarity/invertibility constraints and a bounded
    L-BFGS budget (15 iterations): ~0.1 s per fit, where the constrained default or an
    auto-ARIMA search takes seconds to minutes. Analytic bands.
    """
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    m = spec.season
    if len(y) < 3 * m:
        raise ValueError(f"sarima needs three seasons ({3 * m} steps)")
    with _quiet():
        res = SARIMAX(
            np.asarray(y, dtype=float),
            order=SARIMA_ORDER,
            seasonal_order=(*SARIMA_SEASONAL, m),
            trend="c",
            enforce_stationarity=False,
            enforce_invertibility=False,
        ).fit(disp=False, maxiter=SARIMA_MAXITER, method="lbfgs")
        fc = res.get_forecast(horizon)
        ci80 = np.asarray(fc.conf_int(alpha=0.2))
        ci95 = np.asarray(fc.conf_int(alpha=0.05))
    mean = np.asarray(fc.predicted_mean)
    if not np.all(np.isfinite(mean)):
        raise ValueError("sarima diverged")
    meta = {"order": list(SARIMA_ORDER), "seasonal_order": [*SARIMA_SEASONAL, m], "trend": "c", "aic": float(res.aic)}
    return Forecast(mean, ci80[:, 0], ci80[:, 1], ci95[:, 0], ci95[:, 1], meta)


def mstl(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """MSTL with every season in ``spec.seasons`` (24 and 168 hourly).

    The seasonal components repeat their last cycle; the seasonally adjusted series
    (trend + remainder) is forecast by a damped-trend ETS, whose analytic intervals
    are the bands.
    """
    from statsmodels.tsa.seasonal import MSTL

    periods = tuple(p for p in spec.seasons if len(y) >= 2 * p)
    if not periods:
        raise ValueError(f"mstl needs two cycles of {min(spec.seasons)} steps")
    with _quiet():
        res = MSTL(np.asarray(y, dtype=float), periods=periods if len(periods) > 1 else periods[0]).fit()
        seasonal = np.asarray(res.seasonal).reshape(len(y), -1)
        adjusted = np.asarray(y, dtype=float) - seasonal.sum(axis=1)
        fit, f80 = _ets_frame(adjusted, horizon, season=None, alpha=0.2)
        f95 = fit.get_prediction(start=len(y), end=len(y) + horizon - 1).summary_frame(alpha=0.05)
    steps = np.arange(horizon)
    future = np.zeros(horizon)
    for j, p in enumerate(periods):
        future += seasonal[len(y) - p + (steps % p), j]
    return Forecast(
        f80["mean"].to_numpy() + future,
        f80["pi_lower"].to_numpy() + future,
        f80["pi_upper"].to_numpy() + future,
        f95["pi_lower"].to_numpy() + future,
        f95["pi_upper"].to_numpy() + future,
        {"periods": list(periods)},
    )


def prophet(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:
    """Prophet with the home country's holidays; bands from its predictive samples."""
    try:
        from prophet import Prophet
    except ImportError as exc:  # pragma: no cover - prophet is in requirements.txt
        raise ImportError("prophet is not installed: pip install -r requirements.txt") from exc
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    hist = pd.DataFrame({"ds": pd.to_datetime(ds), "y": np.asarray(y, dtype=float)})
    days = (hist["ds"].iloc[-1] - hist["ds"].iloc[0]).days
    model = Prophet(
        weekly_seasonality=True,
        daily_seasonality=spec.freq == "hourly",
        yearly_seasonality=days >= 730,
        uncertainty_samples=300,
        interval_width=0.8,
    )
    model.add_country_holidays(country_name=spec.home_country)
    with _quiet():
        model.fit(hist)
        step = "h" if spec.freq == "hourly" else "D"
        future = pd.DataFrame({"ds": pd.date_range(hist["ds"].iloc[-1], periods=horizon + 1, freq=step)[1:]})
        mean = model.predict(future)["yhat"].to_numpy()
        samples = model.predictive_samples(future)["yhat"]
    q = np.quantile(samples, [0.025, 0.1, 0.9, 0.975], axis=1)
    return Forecast(mean, q[1], q[2], q[0], q[3], {"holidays": spec.home_country, "yearly": days >= 730})


def _from_sf(out: dict[str, np.ndarray], meta: dict[str, Any]) -> Forecast:
    return Forecast(
        out["mean"], out["lo-80"], out["hi-80"], out["lo-95"], out["hi-95"], {"engine": "statsforecast", **meta}
    )


def sf_ets(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """statsforecast AutoETS, season 7 (daily) / 24 (hourly: its ETS has no 168-step season)."""
    m = spec.season if spec.season <= sfmodels.ETS_MAX_SEASON else min(spec.seasons)
    return _from_sf(sfmodels.auto_ets(y, horizon=horizon, season=m), {"form": "AutoETS", "season": m})


def sf_theta(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """statsforecast AutoTheta, season 7 / 168."""
    return _from_sf(
        sfmodels.auto_theta(y, horizon=horizon, season=spec.season), {"form": "AutoTheta", "season": spec.season}
    )


def sf_arima(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """statsforecast AutoARIMA (stepwise search), season 7 / 24."""
    return _from_sf(sfmodels.auto_arima(y, horizon=horizon, season=spec.season), {"form": "AutoARIMA"})


def sf_mstl(y: np.ndarray, *, ds: np.ndarray, horizon: int, spec: Spec) -> Forecast:  # noqa: ARG001
    """statsforecast MSTL over every season in ``spec.seasons``, AutoETS (no season) on the trend."""
    return _from_sf(
        sfmodels.mstl(y, horizon=horizon, seasons=spec.seasons), {"form": "MSTL+AutoETS", "periods": list(spec.seasons)}
    )


# name -> (callable, frequencies it is offered for)
MODELS: dict[str, tuple[ModelFn, tuple[str, ...]]] = {
    "seasonal_naive": (seasonal_naive, ("daily", "hourly")),
    "seasonal_mean": (seasonal_mean, ("daily", "hourly")),
    "calendar_trend": (calendar_trend, ("daily",)),
    "ets": (ets, ("daily", "hourly")),
    "sarima": (sarima, ("daily",)),
    "mstl": (mstl, ("hourly",)),
    "prophet": (prophet, ("daily", "hourly")),
    "sf_ets": (sf_ets, ("daily", "hourly")),
    "sf_theta": (sf_theta, ("daily", "hourly")),
    "sf_arima": (sf_arima, ("daily", "hourly")),
    "sf_mstl": (sf_mstl, ("daily", "hourly")),
}
FALLBACK = "seasonal_naive"


def models_for(freq: str, names: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """The registered models offered for ``freq`` (restricted to ``names`` if given)."""
    unknown = [n for n in names or () if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown forecast models: {', '.join(unknown)}; known: {', '.join(MODELS)}")
    chosen = [n for n in (names or MODELS) if freq in MODELS[n][1]]
    return [FALLBACK, *[n for n in chosen if n != FALLBACK]]
