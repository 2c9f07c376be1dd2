"""Many model fits at once: every (model, training part) request of a batch of series.

The engine (``engine.run_batch``) asks for the forecasts of many requests: each is one model
on one training part (a backtest cut-off or the whole series) of one series. :func:`fit` answers
them all, by model:

* **statsforecast models** (``sf_*``): the requests of a model with the same parameters
  (season, MSTL periods) go into ONE long frame (``unique_id`` = request, integer ``ds``) and
  ONE ``StatsForecast(models=[...], freq=1, n_jobs=1).forecast(df, h, level=[80, 95])`` call,
  instead of one call per series and cut-off. The numbers are those of the model-level
  ``forecast(y=...)`` that ``sfmodels`` calls (the same compiled code per series), so a
  series gets the same forecast alone or in a batch. A request too short for its model gets
  that model's error (as ``sfmodels`` raises it) without entering the call; if the call itself
  fails, its requests are fit one by one so that only the failing ones lose.
* **every other model** (seasonal naive, statsmodels ETS/SARIMA/MSTL, Prophet): its registry
  callable per request; Prophet's sampling is seeded per request, so its bands do not depend
  on which process or batch fits it.
* **the same training part twice** (a series' backtest cut-off that is also the cut-off of
  another job of the batch, as the hierarchy's forecast and method-backtest jobs of a node
  share theirs) is fit once, for the longest horizon asked; the shorter requests take its
  first steps (a forecast's first steps do not depend on how far it goes, for every model but
  Prophet, whose requests are never shared).

Parallelism is one level up (``workers``: one batch per worker process), so no pool is
started here.
"""

from __future__ import annotations

import logging
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analytics.forecast import sfmodels
from analytics.forecast.models import MODELS, Forecast, Spec

log = logging.getLogger(__name__)

UNSHARED = frozenset({"prophet"})  # sampled bands: a request of its own, seeded by its key


@dataclass(frozen=True)
class Request:
    """One model on one training part of one series: ``key`` names it (``series|cut``)."""

    model: str
    key: str
    y: np.ndarray
    ds: np.ndarray
    horizon: int
    spec: Spec


@dataclass
class Outcome:
    forecast: Forecast | None
    error: Exception | None
    seconds: float  # this request's share of the time its model's fits took


def _sf_model(name: str, y_len: int, spec: Spec) -> tuple[tuple, Callable[[], object], dict]:
    """(parameters key, model factory, meta) of a statsforecast request, as ``models.sf_*`` build
    it; raises ValueError (the message ``sfmodels`` gives) when the series is too short for it."""
    sf = sfmodels.load()
    if name == "sf_ets":
        shown = spec.season if spec.season <= sfmodels.ETS_MAX_SEASON else min(spec.seasons)
        m = shown if shown <= sfmodels.ETS_MAX_SEASON else 1
        _need(y_len, 2 * m + 2, "AutoETS")
        return ("ets", m), lambda: sf.AutoETS(season_length=m, alias="m"), {"form": "AutoETS", "season": shown}
    if name == "sf_theta":
        _need(y_len, 2 * spec.season + 2, "AutoTheta")
        return (
            ("theta", spec.season),
            lambda: sf.AutoTheta(season_length=spec.season, alias="m"),
            {"form": "AutoTheta", "season": spec.season},
        )
    if name == "sf_arima":
        m = spec.season if spec.season <= sfmodels.ETS_MAX_SEASON else 24
        _need(y_len, 3 * m, "AutoARIMA")
        return ("arima", m), lambda: sf.AutoARIMA(season_length=m, alias="m"), {"form": "AutoARIMA"}
    if name == "sf_mstl":
        periods = [p for p in spec.seasons if y_len >= 2 * p]
        if not periods:
            raise ValueError(f"MSTL needs two cycles of {min(spec.seasons)} steps")
        return (
            ("mstl", tuple(periods)),
            lambda: sf.MSTL(season_length=periods, trend_forecaster=sf.AutoETS(model="ZZN"), alias="m"),
            {"form": "MSTL+AutoETS", "periods": list(spec.seasons)},
        )
    raise KeyError(name)


def _need(n: int, steps: int, what: str) -> None:
    if n < steps:
        raise ValueError(f"{what} needs {steps} steps, has {n}")


def is_bulk(name: str) -> bool:
    return name.startswith("sf_")


def _statsforecast(make: Callable[[], object], parts: list[np.ndarray], horizon: int) -> list[dict[str, np.ndarray]]:
    """ONE StatsForecast call over ``parts`` (one series each): per part its mean and 80 / 95 % bands."""
    import pandas as pd
    from statsforecast import StatsForecast

    lengths = np.array([len(p) for p in parts])
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(len(parts)), lengths),
            "ds": np.concatenate([np.arange(n) for n in lengths]),
            "y": np.concatenate([np.asarray(p, dtype=float) for p in parts]),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = StatsForecast(models=[make()], freq=1, n_jobs=1).forecast(
            df=frame, h=horizon, level=list(sfmodels.LEVELS)
        )
    out = out.sort_values(["unique_id", "ds"], kind="stable")
    columns = {"mean": "m", "lo-80": "m-lo-80", "hi-80": "m-hi-80", "lo-95": "m-lo-95", "hi-95": "m-hi-95"}
    arrays = {k: out[c].to_numpy(dtype=float).reshape(len(parts), horizon) for k, c in columns.items()}
    return [{k: v[i] for k, v in arrays.items()} for i in range(len(parts))]


def _from_sf(out: dict[str, np.ndarray], meta: dict) -> Forecast:
    if not np.all(np.isfinite(out["mean"])):
        raise ValueError(f"{meta['form'].split('+')[0]} gave a non-finite forecast")
    return Forecast(
        out["mean"], out["lo-80"], out["hi-80"], out["lo-95"], out["hi-95"], {"engine": "statsforecast", **meta}
    )


def _head(fc: Forecast, horizon: int) -> Forecast:
    return Forecast(
        fc.mean[:horizon], fc.lo80[:horizon], fc.hi80[:horizon], fc.lo95[:horizon], fc.hi95[:horizon], fc.meta
    )


def _one(req: Request) -> Forecast:
    if req.model in UNSHARED:
        np.random.seed(zlib.crc32(f"{req.key}|{req.model}".encode()))
    return MODELS[req.model][0](req.y, ds=req.ds, horizon=req.horizon, spec=req.spec)


def fit(requests: list[Request]) -> list[Outcome]:
    """The outcome of every request, in order (a model's failure is its request's ``error``)."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    # the same model on the same training part: fit once (for the longest horizon asked)
    shared: dict[tuple, list[int]] = {}
    for i, req in enumerate(requests):
        key = (
            (req.model, req.spec, req.y.tobytes(), req.ds[:1].tobytes(), req.ds[-1:].tobytes())
            if req.model not in UNSHARED
            else (i,)
        )
        shared.setdefault(key, []).append(i)
    unique = [(idx, max(requests[i].horizon for i in idx)) for idx in shared.values()]
    by_model: dict[str, list[tuple[list[int], int]]] = {}
    for idx, h in unique:
        by_model.setdefault(requests[idx[0]].model, []).append((idx, h))
    for model, items in by_model.items():
        t0 = time.perf_counter()
        results: list[Forecast | Exception] = (
            _fit_bulk(model, [requests[idx[0]] for idx, _ in items], [h for _, h in items])
            if is_bulk(model)
            else [_safe(lambda r=requests[idx[0]], h=h: _one(_with_horizon(r, h))) for idx, h in items]
        )
        share = (time.perf_counter() - t0) / max(sum(len(idx) for idx, _ in items), 1)
        for (idx, _), res in zip(items, results, strict=True):
            for i in idx:
                if isinstance(res, Exception):
                    outcomes[i] = Outcome(None, res, share)
                else:
                    outcomes[i] = Outcome(_head(res, requests[i].horizon), None, share)
    return [o for o in outcomes if o is not None]


def _with_horizon(req: Request, horizon: int) -> Request:
    return Request(req.model, req.key, req.y, req.ds, horizon, req.spec)


def _safe(call: Callable[[], Forecast]) -> Forecast | Exception:
    try:
        return call()
    except Exception as exc:  # a model that cannot fit this part: its error, the batch goes on
        return exc


def _fit_bulk(model: str, reqs: list[Request], horizons: list[int]) -> list[Forecast | Exception]:
    """statsforecast requests of one model: one call per parameter group (season, periods)."""
    out: list[Forecast | Exception | None] = [None] * len(reqs)
    groups: dict[tuple, tuple[Callable[[], object], dict, list[int]]] = {}
    for i, req in enumerate(reqs):
        try:
            params, make, meta = _sf_model(model, len(req.y), req.spec)
        except Exception as exc:  # too short for the model, or statsforecast missing
            out[i] = exc
            continue
        groups.setdefault(params, (make, meta, []))[2].append(i)
    for make, meta, idx in groups.values():
        horizon = max(horizons[i] for i in idx)
        try:
            fits = _statsforecast(make, [reqs[i].y for i in idx], horizon)
        except Exception as exc:  # one bad series must not sink the others: fit them one by one
            log.debug("statsforecast %s on %d series failed (%s); fitting one by one", model, len(idx), exc)
            for i in idx:
                out[i] = _safe(lambda r=reqs[i], h=horizon: _one(_with_horizon(r, h)))
            continue
        for i, fitted in zip(idx, fits, strict=True):
            out[i] = _safe(lambda fitted=fitted, meta=meta: _from_sf(fitted, meta))
    return [o if o is not None else ValueError("not fitted") for o in out]
