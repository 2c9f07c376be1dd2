"""Split-conformal calibration of the 80 % / 95 % bands from a model's own backtest errors.

A model's bands follow its own error model (ETS: Gaussian errors of constant variance,
seasonal states taken as known), which held-out traffic need not obey: on the demo
world's hourly counts the analytic ETS bands covered only ~67 % of held-out hours at 80 %.
So every band is rescaled by what earlier held-out data say about it:

* **score** of a held-out value = its distance from the point forecast in units of the
  band's half-width on that side (``(y - mean) / (hi - mean)`` above the mean,
  ``(mean - y) / (mean - lo)`` below). The value lies inside the band iff score <= 1, and
  inside the band with half-widths multiplied by ``c`` iff score <= ``c``.
* **factor** ``c`` for a level = the ``ceil((n + 1) * level)``-th smallest of ``n``
  calibration scores (the split-conformal rank; the largest score when ``n`` is too small
  for that rank), clipped to [``MIN_FACTOR``, ``MAX_FACTOR``]. When errors are
  exchangeable about ``level`` of new values fall inside the rescaled band. Scores are
  relative to the model's own half-widths, so bands keep their growth with the horizon
  and their asymmetry (Prophet); only their scale is corrected.
* **no peeking**: in the rolling-origin backtest, a cut-off's bands are calibrated on the
  scores of the *earlier* cut-offs only; the earliest cut-off has none, so it calibrates
  and its coverage is not reported. The published forecast's bands use the scores of all
  cut-offs of the chosen model.

Grain of the scores: one value per held-out step per backtest cut-off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from analytics.forecast.models import Forecast

LEVELS = (0.8, 0.95)
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0


@dataclass(frozen=True)
class Calibration:
    """Multipliers of a model's 80 % and 95 % half-widths, from ``points`` held-out scores."""

    factor_80: float = 1.0
    factor_95: float = 1.0
    points: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return {"factor_80": round(self.factor_80, 4), "factor_95": round(self.factor_95, 4), "points": self.points}


NONE = Calibration()


def _side_scores(actual: np.ndarray, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    above = actual >= mean
    dist = np.where(above, actual - mean, mean - actual)
    half = np.where(above, hi - mean, mean - lo)
    half = np.where(np.isfinite(half), half, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(half > 0, dist / np.where(half > 0, half, 1.0), np.where(dist <= 1e-12, 0.0, np.inf))
    return score


def scores(actual: np.ndarray, fc: Forecast) -> dict[str, np.ndarray]:
    """Scores of ``actual`` against the model's raw (untidied) bands: {"80": ..., "95": ...}."""
    actual = np.asarray(actual, dtype=float)
    mean = np.asarray(fc.mean, dtype=float)
    return {
        "80": _side_scores(actual, mean, np.asarray(fc.lo80, dtype=float), np.asarray(fc.hi80, dtype=float)),
        "95": _side_scores(actual, mean, np.asarray(fc.lo95, dtype=float), np.asarray(fc.hi95, dtype=float)),
    }


def factor(values: np.ndarray, *, level: float) -> float:
    """The split-conformal multiplier for ``level`` from calibration scores (1.0 without any)."""
    values = np.sort(np.asarray(values, dtype=float))
    n = len(values)
    if n == 0:
        return 1.0
    rank = min(math.ceil((n + 1) * level), n)
    return float(np.clip(values[rank - 1], MIN_FACTOR, MAX_FACTOR))


def fit(score_sets: Iterable[dict[str, np.ndarray]]) -> Calibration:
    """Pool the scores of several cut-offs into one calibration."""
    sets = list(score_sets)
    if not sets:
        return NONE
    s80 = np.concatenate([s["80"] for s in sets])
    s95 = np.concatenate([s["95"] for s in sets])
    return Calibration(factor(s80, level=LEVELS[0]), factor(s95, level=LEVELS[1]), len(s80))


def apply(fc: Forecast, cal: Calibration) -> Forecast:
    """``fc`` with each half-width multiplied by the calibration's factor (the mean is kept)."""
    if cal.points == 0:
        return fc
    mean = np.asarray(fc.mean, dtype=float)

    def widen(bound: np.ndarray, c: float) -> np.ndarray:
        return mean + c * (np.asarray(bound, dtype=float) - mean)

    return Forecast(
        mean,
        widen(fc.lo80, cal.factor_80),
        widen(fc.hi80, cal.factor_80),
        widen(fc.lo95, cal.factor_95),
        widen(fc.hi95, cal.factor_95),
        {**fc.meta, "calibration": cal.as_dict()},
    )
