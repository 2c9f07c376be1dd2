"""Nixtla statsforecast's compiled models (AutoETS, AutoTheta, MSTL, AutoARIMA) on numpy arrays.

The boundary to statsforecast is its model-level ``forecast(y=..., h=..., level=...)``, which
takes a float array and returns a dict of arrays (``mean``, ``lo-80``, ``hi-80``, ``lo-95``,
``hi-95``): no DataFrame crosses it, so our code runs the same under pandas 2 and 3 (statsforecast
2.1.1 itself needs pandas < 3). ``models.py`` wraps these functions into the registry.

statsforecast is optional: without it :func:`load` raises ImportError naming the install step,
the backtest records that error for the ``sf_*`` models and the other models carry the run.

Numba compiles each model on its first call in a process (seconds); ``NIXTLA_NUMBA_CACHE`` is
set before the import so that the compiled code is cached on disk and every later worker
process loads it instead of compiling again.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

import numpy as np

INSTALL = "statsforecast is not installed: pip install statsforecast==2.1.1 (needs pandas<3; see requirements.txt)"
LEVELS = [80, 95]
ETS_MAX_SEASON = 24  # statsforecast's ETS has no seasonal state past 24 steps: longer seasons go through MSTL


def load() -> ModuleType:
    """``statsforecast.models``, or ImportError with the install step."""
    os.environ.setdefault("NIXTLA_NUMBA_CACHE", "1")
    try:
        import statsforecast.models as sf_models
    except ImportError as exc:
        raise ImportError(INSTALL) from exc
    return sf_models


def _run(model, y: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.forecast(y=np.ascontiguousarray(y, dtype=float), h=horizon, level=LEVELS)
    mean = np.asarray(out["mean"], dtype=float)
    if not np.all(np.isfinite(mean)):
        raise ValueError(f"{type(model).__name__} gave a non-finite forecast")
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _need(y: np.ndarray, steps: int, what: str) -> None:
    if len(y) < steps:
        raise ValueError(f"{what} needs {steps} steps, has {len(y)}")


def auto_ets(y: np.ndarray, *, horizon: int, season: int) -> dict[str, np.ndarray]:
    """AutoETS (AICc over error/trend/season forms, damped trends included); season <= 24 steps."""
    m = season if season <= ETS_MAX_SEASON else 1
    _need(y, 2 * m + 2, "AutoETS")
    return _run(load().AutoETS(season_length=m), y, horizon)


def auto_theta(y: np.ndarray, *, horizon: int, season: int) -> dict[str, np.ndarray]:
    """AutoTheta (standard / optimised / dynamic theta, classical seasonal decomposition)."""
    _need(y, 2 * season + 2, "AutoTheta")
    return _run(load().AutoTheta(season_length=season), y, horizon)


def auto_arima(y: np.ndarray, *, horizon: int, season: int) -> dict[str, np.ndarray]:
    """AutoARIMA (stepwise Hyndman-Khandakar search); hourly series use the 24-hour season."""
    m = season if season <= ETS_MAX_SEASON else 24
    _need(y, 3 * m, "AutoARIMA")
    return _run(load().AutoARIMA(season_length=m), y, horizon)


def mstl(y: np.ndarray, *, horizon: int, seasons: tuple[int, ...]) -> dict[str, np.ndarray]:
    """MSTL over ``seasons`` (those with two full cycles) with a non-seasonal AutoETS on the trend."""
    periods = [p for p in seasons if len(y) >= 2 * p]
    if not periods:
        raise ValueError(f"MSTL needs two cycles of {min(seasons)} steps")
    sf = load()
    return _run(sf.MSTL(season_length=periods, trend_forecaster=sf.AutoETS(model="ZZN")), y, horizon)
