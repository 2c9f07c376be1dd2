"""The batch engine (issue 22 item 3): many series fit together, each exactly as on its own.

``engine.run_batch`` asks for every (model, training part) of a batch at once (``bulk.fit``): a
statsforecast model is one vectorised ``StatsForecast`` call over all series and cut-offs, and a
training part shared by two jobs is fit once. Spike clipping (``prepare._phase_median``) is
vectorised over every point and phase.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time

import numpy as np
import pytest

from analytics.forecast import bulk, combine, engine, pipeline, prepare, sfmodels, synthetic, workers
from analytics.forecast.models import Spec

needs_statsforecast = pytest.mark.skipif(importlib.util.find_spec("statsforecast") is None, reason=sfmodels.INSTALL)


def _phase_median_loop(y: np.ndarray, *, season: int, neighbours: int = 4) -> np.ndarray:
    """The per-point loop that ``_phase_median`` replaced (the reference of its rule)."""
    base = np.empty_like(y)
    for phase in range(min(season, len(y))):
        sub = y[phase::season]
        idx = np.arange(len(sub))
        med = np.empty(len(sub))
        for j in idx:
            others = idx[(idx != j) & ~np.isnan(sub)]
            near = others[np.argsort(np.abs(others - j), kind="stable")[:neighbours]]
            med[j] = np.median(sub[near]) if len(near) else sub[j]
        base[phase::season] = med
    return base


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_phase_median_keeps_the_rule_of_the_loop(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n, season = int(rng.integers(1, 130)), int(rng.integers(1, 30))
        y = rng.normal(100, 20, size=n)
        if rng.random() < 0.6:  # gaps, sometimes most of a phase
            y[rng.random(n) < rng.random()] = np.nan
        expected = _phase_median_loop(y, season=season)
        np.testing.assert_array_equal(prepare._phase_median(y, season=season), expected)


def test_phase_median_is_vectorised():
    """56 days of hours (168-hour season): the clipping of every backtest part of every hourly
    series. Both timed in the same process, so a loaded machine slows both alike."""
    y = np.random.default_rng(1).normal(50, 5, size=56 * 24)
    loop = min(_timed(lambda: _phase_median_loop(y, season=168)) for _ in range(2))
    vectorised = min(_timed(lambda: prepare._phase_median(y, season=168)) for _ in range(3))
    assert vectorised * 5 < loop, (vectorised, loop)


def _timed(call) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def _jobs() -> list[engine.Job]:
    options = dataclasses.replace(
        pipeline.options_for("daily"),
        models=("seasonal_naive", "sf_theta", "sf_mstl"),
        combinations=tuple(combine.COMBINATIONS),
    )
    jobs = []
    for s in range(5):
        ds, y = synthetic.daily(100, seed=s, trend=0.002 * s, noise=0.05, spikes=s % 2)
        jobs.append(engine.Job(f"R{s}/records", f"R{s}", "records", ds, y, 28, options))
    ds, y = synthetic.daily(100, seed=9)
    gappy = y.copy()
    gappy[::11] = np.nan
    jobs.append(engine.Job("G/records", "G", "records", ds, gappy, 28, options))
    jobs.append(engine.Job("C/records", "C", "records", ds, np.full(100, 5.0), 28, options))  # constant: fallback
    jobs.append(engine.Job("S/records", "S", "records", ds[:40], y[:40], 28, options))  # too short for a backtest
    # the hierarchy's pair: the same series cut 14 days early (its cut-offs are the first one's)
    jobs.append(engine.Job("bt|R0/records", "R0", "records", jobs[0].ds[:-14], jobs[0].y[:-14], 14, options))
    return jobs


def _same(a: engine.Result, b: engine.Result) -> None:
    assert (a.unique_id, a.model, a.reason, a.n_clipped) == (b.unique_id, b.model, b.reason, b.n_clipped)
    for key in a.forecast:
        np.testing.assert_allclose(a.forecast[key], b.forecast[key], rtol=1e-12, atol=1e-9)
    assert [(r["model"], r["cutoff_index"], r["error"]) for r in a.backtest_rows] == [
        (r["model"], r["cutoff_index"], r["error"]) for r in b.backtest_rows
    ]
    np.testing.assert_allclose(
        [r["mase"] if r["mase"] is not None else np.nan for r in a.backtest_rows],
        [r["mase"] if r["mase"] is not None else np.nan for r in b.backtest_rows],
        rtol=1e-12,
    )
    assert a.meta == b.meta


@pytest.mark.slow
@needs_statsforecast
def test_a_batch_gives_each_series_what_it_gets_alone():
    jobs = _jobs()
    together = engine.run_batch(jobs)
    assert [r.unique_id for r in together] == [j.unique_id for j in jobs]
    for job, result in zip(jobs, together, strict=True):
        _same(engine.run_job(job), result)
    by_id = {r.unique_id: r for r in together}
    assert by_id["C/records"].reason == "constant series" and by_id["C/records"].model == "seasonal_naive"
    assert by_id["S/records"].reason.startswith("too short for a backtest")
    assert {by_id[f"R{s}/records"].model for s in range(5)} - {"seasonal_naive"}  # the candidates are used


@pytest.mark.slow
@needs_statsforecast
def test_statsforecast_fits_the_whole_batch_in_one_call_per_model_and_round(monkeypatch):
    """Backtest round: one call per statsforecast model over every series and cut-off; final
    round: at most one more per model. Before, every series and cut-off was a call of its own."""
    from statsforecast import StatsForecast

    calls: list[int] = []
    real = StatsForecast.forecast

    def counted(self, *args, **kwargs):  # a spy: statsforecast still does the work
        calls.append(kwargs["df"]["unique_id"].nunique())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(StatsForecast, "forecast", counted)
    jobs = _jobs()
    engine.run_batch(jobs)
    assert 2 <= len(calls) <= 4, calls  # sf_theta and sf_mstl: one backtest call each, at most one final each
    series_cuts = sum(3 for j in jobs[:6])  # the 6 modelled series x 3 cut-offs (the pair's own are shared)
    assert max(calls) >= series_cuts - 6, calls


@pytest.mark.slow
def test_a_too_short_part_loses_only_its_own_request():
    spec = Spec("daily", 7, (7,))
    rng = np.random.default_rng(0)
    long_y = 100 + rng.normal(0, 5, 60)
    requests = [
        bulk.Request("sf_theta", "long", long_y, np.arange(60), 7, spec),
        bulk.Request("sf_theta", "short", long_y[:10], np.arange(10), 7, spec),
        bulk.Request("seasonal_naive", "naive", long_y, np.arange(60), 7, spec),
    ]
    long_fit, short_fit, naive = bulk.fit(requests)
    if long_fit.error is not None and "statsforecast is not installed" in str(long_fit.error):
        pytest.skip("statsforecast not installed")
    assert long_fit.error is None and len(long_fit.forecast.mean) == 7
    assert "AutoTheta needs 16 steps, has 10" in str(short_fit.error)
    assert naive.error is None and naive.forecast.mean.tolist() == long_y[-7:].tolist()


def test_shards_keep_pairs_together_and_cover_every_job():
    jobs = _jobs() * 7
    parts = workers.shards(jobs, n_jobs=2)
    assert [j for part in parts for j in part] == jobs
    assert all(len(part) % 2 == 0 for part in parts[:-1])
    assert len(parts) <= workers.SHARDS_PER_WORKER * 2
