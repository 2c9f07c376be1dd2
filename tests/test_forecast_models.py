"""Forecast models, checks and backtests on seeded synthetic series with known structure."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.forecast import backtest, engine, prepare, synthetic
from analytics.forecast.models import (
    FALLBACK,
    MODELS,
    Spec,
    calendar_trend,
    models_for,
    seasonal_mean,
    seasonal_naive,
)

DAILY = engine.Options(
    freq="daily",
    models=("seasonal_naive", "ets", "sarima"),
    windows=3,
    backtest_horizon=14,
    min_train=28,
    limits=prepare.Limits(min_length=28, max_gap_share=0.1, max_gap_run=7),
)


def _job(ds: np.ndarray, y: np.ndarray, *, horizon: int = 14, options: engine.Options = DAILY) -> engine.Job:
    return engine.Job("R/voice_minutes", "R", "voice_minutes", ds, np.asarray(y, dtype=float), horizon, options)


def test_metrics_on_a_hand_computed_example():
    actual = np.array([10.0, 0.0, 30.0])
    pred = np.array([12.0, 0.0, 20.0])
    # MAE = (2 + 0 + 10) / 3 = 4; scale 2 -> MASE 2
    assert backtest.mase(actual, pred, scale=2.0) == pytest.approx(2.0)
    # sMAPE = 100 * mean(2*2/22, 0 (0/0), 2*10/50) = 100 * (0.181818 + 0 + 0.4) / 3
    assert backtest.smape(actual, pred) == pytest.approx(100 * (4 / 22 + 0.4) / 3)
    assert backtest.coverage(actual, np.array([9.0, 1.0, 25.0]), np.array([11.0, 2.0, 35.0])) == pytest.approx(2 / 3)
    # seasonal naive scale with m = 2 on a series longer than two seasons: |3-1|, |4-2|, |9-3| -> 10/3
    assert backtest.mase_scale(np.array([1.0, 2.0, 3.0, 4.0, 9.0]), season=2) == pytest.approx(10 / 3)


def test_seasonal_naive_repeats_the_last_season_with_growing_bands():
    y = np.tile([1.0, 2.0, 3.0], 4) + np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    fc = seasonal_naive(y, ds=np.arange(12), horizon=6, spec=Spec("daily", 3, (3,)))
    assert fc.mean.tolist() == [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    width = fc.hi80 - fc.lo80
    assert width[3] == pytest.approx(width[0] * np.sqrt(2))  # second season ahead
    assert np.all(fc.lo95 <= fc.lo80) and np.all(fc.hi95 >= fc.hi80)


def test_seasonal_mean_averages_the_last_four_seasons_phase_by_phase():
    y = np.tile([1.0, 2.0, 3.0], 5) + np.repeat([9.0, 0.0, 0.0, 0.0, 4.0], 3)  # the oldest season is left out
    fc = seasonal_mean(y, ds=np.arange(15), horizon=4, spec=Spec("daily", 3, (3,)))
    assert fc.mean.tolist() == [2.0, 3.0, 4.0, 2.0]  # phase + mean(0, 0, 0, 4)
    assert fc.meta["seasons_averaged"] == 4
    short = seasonal_mean(y[:6], ds=np.arange(6), horizon=3, spec=Spec("daily", 3, (3,)))
    assert short.mean.tolist() == [5.5, 6.5, 7.5] and short.meta["seasons_averaged"] == 2


def test_calendar_trend_follows_the_working_week_and_takes_a_holiday_as_a_sunday():
    ds = np.arange(np.datetime64("2026-10-02"), np.datetime64("2026-12-25")).astype("datetime64[us]")  # 12 weeks
    weekday = (ds.astype("datetime64[D]").astype("int64") + 3) % 7
    y = 100 * 1.01 ** (np.arange(len(ds)) / 7) * np.where(weekday >= 5, 0.6, 1.0)
    fc = calendar_trend(y, ds=ds, horizon=14, spec=Spec("daily", 7, (7,), "GB"))
    future = ds[-1].astype("datetime64[D]") + np.arange(1, 15)
    off = ((future.astype("int64") + 3) % 7 >= 5) | engine.holiday_mask(future, "GB")
    truth = 100 * 1.01 ** (np.arange(len(ds), len(ds) + 14) / 7) * np.where(off, 0.6, 1.0)
    assert off[0]  # Christmas Day, a Friday, at the weekend's level
    assert np.allclose(fc.mean, truth, rtol=1e-3)
    assert np.all(fc.lo80 <= fc.mean) and np.all(fc.mean <= fc.hi80)
    with pytest.raises(ValueError, match="daily model"):
        calendar_trend(y, ds=ds, horizon=3, spec=Spec("hourly", 168, (24, 168)))


def test_registry_names_are_unique_and_the_fallback_leads():
    assert len(MODELS) == len(set(MODELS))
    assert models_for("hourly")[0] == FALLBACK and "sarima" not in models_for("hourly")
    assert set(models_for("daily")) >= {"seasonal_naive", "ets", "sarima", "prophet"}
    with pytest.raises(ValueError, match="unknown forecast models: nope"):
        models_for("daily", ["nope"])


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("short", "too short"),
        ("constant", "constant series"),
        ("zeros", "no traffic"),
        ("gaps", "gaps"),
        ("long_gap", "consecutive"),
        ("empty", "no data"),
    ],
)
def test_bad_series_take_the_fallback_with_a_reason(case, expect):
    ds, y = synthetic.daily(120, seed=3)
    if case == "short":
        ds, y = ds[:10], y[:10]
    elif case == "constant":
        y = np.full(120, 42.0)
    elif case == "zeros":
        y = np.zeros(120)
    elif case == "gaps":
        y = y.copy()
        y[::5] = np.nan  # 20 % missing
    elif case == "long_gap":
        y = y.copy()
        y[50:60] = np.nan
    elif case == "empty":
        y = np.full(120, np.nan)
    r = engine.run_job(_job(ds, y))
    assert r.model == FALLBACK
    assert expect in r.reason
    assert len(r.forecast["yhat"]) == 14 and np.all(np.isfinite(r.forecast["yhat"]))
    assert np.all(r.forecast["yhat_lower_95"] >= 0)
    if case in ("constant", "zeros"):
        assert np.allclose(r.forecast["yhat"], y[0]) and np.allclose(r.forecast["yhat_upper_95"], y[0])


@pytest.mark.slow
def test_a_few_missing_days_are_filled_and_the_series_is_still_modelled():
    ds, y = synthetic.daily(120, seed=4)
    y = y.copy()
    y[[30, 61, 90]] = np.nan
    r = engine.run_job(_job(ds, y))
    assert r.reason is None and r.n_missing == 3
    assert set(r.scores) == set(DAILY.models)


@pytest.mark.slow
def test_spikes_are_clipped_before_fitting_and_do_not_distort_the_forecast():
    ds, clean = synthetic.daily(120, seed=5)
    spiky = clean.copy()
    spiky[[113, 116]] *= 5  # two events in the last week: seasonal naive would repeat them
    clipped, n = prepare.clip_outliers(spiky, season=7)
    assert n == 2 and np.all(clipped[[113, 116]] < 1.5 * clean[[113, 116]])
    with_spikes = engine.run_job(_job(ds, spiky))
    without = engine.run_job(_job(ds, clean))
    assert np.max(np.abs(with_spikes.forecast["yhat"] - without.forecast["yhat"]) / without.forecast["yhat"]) < 0.15


def test_holidays_are_not_clipped():
    ds, y = synthetic.daily(120, seed=6)
    y = y.copy()
    protect = np.zeros(120, dtype=bool)
    protect[100] = True
    y[100] *= 5
    assert prepare.clip_outliers(y, season=7, protect=protect)[1] == 0
    assert engine.holiday_mask(np.array(["2025-12-25", "2025-12-27"], dtype="datetime64[us]"), "GB").tolist() == [
        True,
        False,
    ]


@pytest.mark.slow
def test_chosen_models_beat_seasonal_naive_and_80pct_bands_cover_70_to_90pct():
    """Held-back 28 days after the fit, on 8 seeded series (trend, weekly season, noise, events)."""
    wins, inside, points = 0, 0, 0
    for seed in range(8):
        ds, y = synthetic.daily(168, seed=seed, trend=0.003, noise=0.04, spikes=2 if seed % 2 else 0)
        train_ds, train, test = ds[:-28], y[:-28], y[-28:]
        r = engine.run_job(_job(train_ds, train, horizon=28))
        naive = seasonal_naive(train, ds=train_ds, horizon=28, spec=Spec("daily", 7, (7,)))
        mae_chosen = np.mean(np.abs(test - r.forecast["yhat"]))
        mae_naive = np.mean(np.abs(test - naive.mean))
        wins += mae_chosen < mae_naive
        inside += int(np.sum((test >= r.forecast["yhat_lower"]) & (test <= r.forecast["yhat_upper"])))
        points += len(test)
    assert wins >= 5, f"chosen model beat seasonal naive in only {wins} of 8 series"
    assert 0.70 <= inside / points <= 0.90, f"80 % bands covered {inside / points:.0%}"


@pytest.mark.slow
def test_hourly_series_get_a_weekly_season_and_beat_seasonal_naive():
    options = engine.Options(
        freq="hourly",
        models=("seasonal_naive", "ets", "mstl"),
        windows=1,
        backtest_horizon=168,
        min_train=338,
        limits=prepare.Limits(min_length=360, max_gap_share=0.1, max_gap_run=48),
    )
    ds, y = synthetic.hourly(24 * 42 + 168, seed=2)
    r = engine.run_job(engine.Job("R/erlangs", "R", "erlangs", ds[:-168], y[:-168], 168, options))
    assert r.meta["spec"]["season"] == 168 and r.reason is None
    naive = seasonal_naive(y[:-168], ds=ds[:-168], horizon=168, spec=Spec("hourly", 168, (24, 168)))
    assert np.mean(np.abs(y[-168:] - r.forecast["yhat"])) < np.mean(np.abs(y[-168:] - naive.mean))
