"""Rolling-origin backtests and the accuracy measures used to choose a model.

For ``windows`` cut-offs stepping back ``horizon`` steps at a time from the end of
the series, each model is fit on the data before the cut-off (spikes clipped on that
training part only) and scored on the next ``horizon`` raw values:

* MASE: MAE / in-sample MAE of the seasonal naive forecast on the raw training part
  (season ``m``; lag 1 when the training part is shorter than two seasons);
* sMAPE: mean of ``200 |y - f| / (|y| + |f|)`` in percent (a 0/0 step counts 0);
* coverage_80 / coverage_95: share of held-out values inside the 80 % / 95 % bands after
  split-conformal calibration on the earlier cut-offs (``calibrate``); null for the
  earliest cut-off, which only calibrates. ``coverage_80_raw`` / ``coverage_95_raw``: the
  same for the model's own (uncalibrated) bands, every cut-off;
* MAE, and the seconds the fit + predict took.

Output grain: one row per model per cut-off (``BACKTEST_SCHEMA``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from analytics.forecast import bulk, calibrate
from analytics.forecast.models import Forecast, Spec

log = logging.getLogger(__name__)

BACKTEST_COLUMNS = (
    "model",
    "cutoff_index",
    "mase",
    "smape",
    "mae",
    "coverage_80",
    "coverage_95",
    "seconds",
    "error",
)
SCORE_KEYS = ("mase", "smape", "mae", "coverage_80", "coverage_95", "coverage_80_raw", "coverage_95_raw")


def mase_scale(train: np.ndarray, *, season: int) -> float:
    m = season if len(train) > 2 * season else 1
    if len(train) <= m:
        return float("nan")
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def mase(actual: np.ndarray, pred: np.ndarray, *, scale: float) -> float:
    mae = float(np.mean(np.abs(actual - pred)))
    if not np.isfinite(scale) or scale <= 0:
        return 0.0 if mae == 0 else float("inf")
    return mae / scale


def smape(actual: np.ndarray, pred: np.ndarray) -> float:
    denom = np.abs(actual) + np.abs(pred)
    ratio = np.divide(2 * np.abs(actual - pred), denom, out=np.zeros_like(denom, dtype=float), where=denom > 0)
    return float(100 * np.mean(ratio))


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    return float(np.mean((actual >= lo) & (actual <= hi)))


def tidy(fc: Forecast) -> Forecast:
    """Traffic is never negative and the bands nest: lo95 <= lo80 <= mean <= hi80 <= hi95.

    Raises ValueError on a non-finite point forecast (the caller falls back).
    """
    mean = np.asarray(fc.mean, dtype=float)
    if not np.all(np.isfinite(mean)):
        raise ValueError("non-finite forecast")
    mean = np.maximum(mean, 0.0)
    fc = Forecast(mean, *(np.where(np.isfinite(b), b, mean) for b in (fc.lo80, fc.hi80, fc.lo95, fc.hi95)), fc.meta)
    lo80 = np.maximum(np.minimum(fc.lo80, mean), 0.0)
    hi80 = np.maximum(fc.hi80, mean)
    lo95 = np.maximum(np.minimum(fc.lo95, lo80), 0.0)
    hi95 = np.maximum(fc.hi95, hi80)
    return Forecast(mean, lo80, hi80, lo95, hi95, fc.meta)


def usable_windows(n: int, *, windows: int, horizon: int, min_train: int) -> int:
    """How many of the requested cut-offs leave at least ``min_train`` training steps."""
    return max(0, min(windows, (n - min_train) // horizon))


def score(
    name: str,
    cut: int,
    raw: Forecast,
    *,
    actual: np.ndarray,
    scale: float,
    earlier: list[dict[str, np.ndarray]],
) -> dict:
    """One backtest row of ``name``'s raw forecast at cut-off ``cut``: accuracy, and band coverage after
    calibration on the ``earlier`` cut-offs' scores only. Keeps the raw forecast (``forecast``) for combinations."""
    fc = tidy(raw)
    cal = calibrate.fit(earlier)  # earlier cut-offs only: never this window
    calibrated = tidy(calibrate.apply(raw, cal))
    return {
        "model": name,
        "cutoff_index": cut,
        "error": None,
        "mase": mase(actual, fc.mean, scale=scale),
        "smape": smape(actual, fc.mean),
        "mae": float(np.mean(np.abs(actual - fc.mean))),
        "coverage_80": coverage(actual, calibrated.lo80, calibrated.hi80) if cal.points else None,
        "coverage_95": coverage(actual, calibrated.lo95, calibrated.hi95) if cal.points else None,
        "coverage_80_raw": coverage(actual, fc.lo80, fc.hi80),
        "coverage_95_raw": coverage(actual, fc.lo95, fc.hi95),
        "calibration": cal.as_dict(),
        "band_scores": calibrate.scores(actual, raw),
        "forecast": raw,
    }


def cutoffs(n: int, *, windows: int, horizon: int) -> list[int]:
    """The cut-offs of ``windows`` windows of ``horizon`` steps at the end of ``n`` steps, earliest first."""
    return [n - w * horizon for w in range(windows, 0, -1)]


def score_rows(
    y_raw: np.ndarray,
    *,
    cuts: list[int],
    models: list[str],
    horizon: int,
    season: int,
    fitted: Callable[[int, str], bulk.Outcome],
) -> list[dict]:
    """One row per cut-off per model from each fit's outcome (``fitted(cut, model)``), scored
    against the raw held-out values; a model that failed a window gets its error row."""
    rows: list[dict] = []
    earlier: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in models}  # band scores per model
    for cut in cuts:
        actual = y_raw[cut : cut + horizon]
        scale = mase_scale(y_raw[:cut], season=season)  # the standard MASE: raw training data
        for name in models:
            out = fitted(cut, name)
            try:
                if out.error is not None:
                    raise out.error
                row = score(name, cut, out.forecast, actual=actual, scale=scale, earlier=earlier[name])
                earlier[name].append(row["band_scores"])
            except Exception as exc:  # a model that cannot fit loses this window, the run goes on
                log.debug("backtest %s failed at %d: %s", name, cut, exc)
                row = {"model": name, "cutoff_index": cut, **{k: None for k in SCORE_KEYS}}
                row["error"] = f"{type(exc).__name__}: {exc}"[:300]
            row["seconds"] = out.seconds
            rows.append(row)
    return rows


def rolling_origin(
    y_raw: np.ndarray,
    ds: np.ndarray,
    *,
    spec: Spec,
    models: list[str],
    windows: int,
    horizon: int,
    clean: Callable[[np.ndarray, int], np.ndarray],
) -> list[dict]:
    """Backtest rows for every model and cut-off of one series (the engine does the same for a
    whole batch at once); a model failing a window gets its error."""
    cuts = cutoffs(len(y_raw), windows=windows, horizon=horizon)
    keys = [(cut, name) for cut in cuts for name in models]
    trains = {cut: clean(y_raw[:cut], cut) for cut in cuts}
    outcomes = bulk.fit([bulk.Request(name, str(cut), trains[cut], ds[:cut], horizon, spec) for cut, name in keys])
    by_key = dict(zip(keys, outcomes, strict=True))
    return score_rows(
        y_raw, cuts=cuts, models=models, horizon=horizon, season=spec.season, fitted=lambda c, m: by_key[(c, m)]
    )


def calibration_for(rows: list[dict], model: str) -> calibrate.Calibration:
    """The calibration of ``model``'s published bands: the scores of all its backtest cut-offs."""
    return calibrate.fit(r["band_scores"] for r in rows if r["model"] == model and r.get("band_scores") is not None)


def choose(rows: list[dict], *, fallback: str) -> tuple[str, dict[str, dict]]:
    """The model with the lowest mean MASE over all cut-offs (ties: the fallback), and each model's means."""
    by_model: dict[str, list[dict]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    scores: dict[str, dict] = {}
    for name, rs in by_model.items():
        ok = all(r["error"] is None for r in rs)

        def mean(key: str, rs: list[dict] = rs, ok: bool = ok) -> float | None:
            values = [r[key] for r in rs if r.get(key) is not None] if ok else []
            return float(np.mean(values)) if values else None  # coverage: calibrated cut-offs only

        scores[name] = {
            **{key: mean(key) for key in SCORE_KEYS},
            "seconds": float(np.mean([r["seconds"] for r in rs])),
            "windows": len(rs),
            "ok": ok,
        }
    best = fallback
    for name, s in scores.items():
        if s["ok"] and s["mase"] is not None and np.isfinite(s["mase"]):
            if scores.get(best, {}).get("mase") is None or s["mase"] < scores[best]["mase"]:
                best = name
    return best, scores
