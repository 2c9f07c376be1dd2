"""Series checks and cleaning before any model sees the data.

* ``check_series`` returns the reason a series must take the fallback (seasonal
  naive) instead of the backtested model choice, or None: no traffic (all zeros),
  constant, too short, too gappy. The reason is stored and shown.
* ``fill_gaps`` fills the few missing steps of an accepted series with the value one
  season earlier (else the nearest earlier value, else the first observed one).
* ``clip_outliers`` tames one-off spikes (events) so that they do not distort a fit:
  each point is compared with the median of the same phase in the surrounding
  seasons (the 4 nearest same weekdays, e.g. 2 weeks before and 2 after, itself left out); points
  further than ``k`` robust standard deviations (1.4826 x MAD of the residuals
  relative to that median, as traffic noise grows with its level) are pulled back
  to that bound. Steps flagged in ``protect`` (home-country holidays) are left as
  they are and do not enter the medians. Only the training data is clipped; backtests score
  against the raw held-out values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Limits:
    min_length: int  # steps needed for anything but the naive fallback
    max_gap_share: float  # share of missing steps above which a series is "gappy"
    max_gap_run: int  # longest run of missing steps accepted


def check_series(y: np.ndarray, *, limits: Limits) -> str | None:
    """The fallback reason for ``y`` (float array, NaN = missing), or None when it is fit to model."""
    n = len(y)
    observed = y[~np.isnan(y)]
    if n == 0 or len(observed) == 0:
        return "no data"
    if np.all(observed == 0):
        return "no traffic (all zeros)"
    if np.all(observed == observed[0]):
        return "constant series"
    missing = int(np.isnan(y).sum())
    if missing / n > limits.max_gap_share:
        return f"gaps: {missing} of {n} steps missing (> {limits.max_gap_share:.0%})"
    run = _longest_nan_run(y)
    if run > limits.max_gap_run:
        return f"gaps: {run} consecutive steps missing (> {limits.max_gap_run})"
    if n < limits.min_length:
        return f"too short: {n} steps (< {limits.min_length})"
    return None


def _longest_nan_run(y: np.ndarray) -> int:
    best = cur = 0
    for missing in np.isnan(y):
        cur = cur + 1 if missing else 0
        best = max(best, cur)
    return best


def fill_gaps(y: np.ndarray, *, season: int) -> np.ndarray:
    """A copy of ``y`` with NaNs filled from one season earlier, else the last value."""
    out = np.array(y, dtype=float, copy=True)
    if not np.isnan(out).any():
        return out
    first = out[~np.isnan(out)][0] if (~np.isnan(out)).any() else 0.0
    for i in np.flatnonzero(np.isnan(out)):
        if i >= season and not np.isnan(out[i - season]):
            out[i] = out[i - season]
        elif i > 0 and not np.isnan(out[i - 1]):
            out[i] = out[i - 1]
        else:
            out[i] = first
    return out


def _phase_median(y: np.ndarray, *, season: int, neighbours: int = 4) -> np.ndarray:
    """Median of each point's ``neighbours`` nearest same-phase values (itself and NaNs left out).

    Nearest by distance in seasons, the earlier one first on a tie (offsets -1, +1, -2, +2, ...);
    a point without any other value keeps its own. Vectorised over every point and phase: the
    series as a (cycles x season) grid, one column of candidates per offset.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n == 0:
        return y.copy()
    season = max(1, min(season, n))
    cycles = -(-n // season)
    grid = np.full(cycles * season, np.nan)
    grid[:n] = y
    grid = grid.reshape(cycles, season)
    reach = np.arange(1, cycles)
    offsets = np.column_stack([-reach, reach]).ravel()  # -1, +1, -2, +2, ...: nearest first, earlier on ties
    rows = np.arange(cycles)[:, None] + offsets[None, :]  # (cycles, candidates)
    inside = (rows >= 0) & (rows < cycles)
    values = grid[np.clip(rows, 0, cycles - 1)]  # (cycles, candidates, season)
    valid = inside[:, :, None] & ~np.isnan(values)
    taken = valid & (np.cumsum(valid, axis=1) <= neighbours)
    if not len(offsets):
        return grid.ravel()[:n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: the point keeps its own value below
        med = np.nanmedian(np.where(taken, values, np.nan), axis=1)
    med = np.where(taken.any(axis=1), med, grid)
    return med.ravel()[:n]


def clip_outliers(
    y: np.ndarray, *, season: int, k: float = 4.0, protect: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """A copy of ``y`` with spikes clipped to ``median +- k * robust sd``; returns (y, n_clipped)."""
    y = np.asarray(y, dtype=float)
    if len(y) < 3 * season or k <= 0:
        return y.copy(), 0
    reference = y if protect is None else np.where(protect, np.nan, y)  # holidays do not set the baseline
    base = _phase_median(reference, season=season)
    base = np.where(np.isnan(base), y, base)
    positive = y[y > 0]
    floor = 0.05 * float(np.median(positive)) if len(positive) else 1.0
    denom = np.maximum(base, floor)  # traffic noise scales with its level: compare relative residuals
    rel = (y - base) / denom
    scale = 1.4826 * float(np.median(np.abs(rel - np.median(rel))))
    if scale <= 0:
        return y.copy(), 0
    lo, hi = base - k * scale * denom, base + k * scale * denom
    out = np.clip(y, lo, hi)
    if protect is not None:
        out = np.where(protect, y, out)
    return out, int(np.count_nonzero(out != y))
