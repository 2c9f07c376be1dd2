"""Forecast combinations as candidates of the per-series selection (as in the M4 competition).

A combination ``combo_<how><k>`` is the ``how`` (mean or median) of the ``k`` single models with
the lowest mean backtest MASE of the series (its *members*; only models that fit every cut-off).
Point forecasts and each band bound are combined step by step (the bands are the members' bands
averaged quantile by quantile), then calibrated from the combination's own backtest errors like
any model (``calibrate``). Its backtest rows are built from the members' forecasts at the same
cut-offs (no refit), so a combination costs nothing in the backtest and ``k`` final fits when
chosen. A combination with fewer than ``k`` usable members is not offered.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analytics.forecast import backtest
from analytics.forecast.models import Forecast

COMBINATIONS: dict[str, tuple[str, int]] = {
    "combo_mean2": ("mean", 2),
    "combo_mean3": ("mean", 3),
    "combo_median3": ("median", 3),
}


def validate(names: list[str] | tuple[str, ...]) -> list[str]:
    unknown = [n for n in names if n not in COMBINATIONS]
    if unknown:
        raise ValueError(f"unknown forecast combinations: {', '.join(unknown)}; known: {', '.join(COMBINATIONS)}")
    return list(names)


def combine(forecasts: list[Forecast], *, how: str, meta: dict | None = None) -> Forecast:
    """The step-wise mean or median of ``forecasts`` (point and every band bound)."""
    reduce = np.mean if how == "mean" else np.median

    def at(attr: str) -> np.ndarray:
        return reduce(np.vstack([np.asarray(getattr(f, attr), dtype=float) for f in forecasts]), axis=0)

    return Forecast(at("mean"), at("lo80"), at("hi80"), at("lo95"), at("hi95"), meta or {})


def ranking(rows: list[dict]) -> list[str]:
    """Single models that fit every cut-off, best (lowest mean MASE) first; ties keep row order."""
    by_model: dict[str, list[dict]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    ok = {
        name: float(np.mean([r["mase"] for r in rs]))
        for name, rs in by_model.items()
        if all(r["error"] is None and r.get("forecast") is not None and np.isfinite(r["mase"]) for r in rs)
    }
    return sorted(ok, key=lambda name: ok[name])


def backtest_rows(
    rows: list[dict], *, names: list[str], actual_at: Callable[[int], np.ndarray], scale_at: Callable[[int], float]
) -> list[dict]:
    """Backtest rows of each combination in ``names`` from the single models' ``rows`` (same cut-offs)."""
    order = ranking(rows)
    cuts = sorted({r["cutoff_index"] for r in rows})
    by_key = {(r["model"], r["cutoff_index"]): r for r in rows}
    out: list[dict] = []
    for name in names:
        how, k = COMBINATIONS[name]
        if len(order) < k:
            continue
        members = order[:k]
        earlier: list[dict[str, np.ndarray]] = []
        for cut in cuts:
            raw = combine(
                [by_key[(m, cut)]["forecast"] for m in members], how=how, meta={"members": members, "how": how}
            )
            row = backtest.score(name, cut, raw, actual=actual_at(cut), scale=scale_at(cut), earlier=earlier)
            earlier.append(row["band_scores"])
            row["seconds"] = sum(by_key[(m, cut)]["seconds"] for m in members)
            row["members"] = members
            out.append(row)
    return out


def members_of(rows: list[dict], name: str) -> list[str]:
    for row in rows:
        if row["model"] == name:
            return list(row["members"])
    raise KeyError(name)
