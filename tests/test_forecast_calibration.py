"""Band calibration (split conformal on earlier backtest cut-offs) and the local wall clock of hourly models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analytics.forecast import backtest, calibrate, engine, localclock, prepare, synthetic
from analytics.forecast.models import Forecast, Spec, seasonal_naive

HOURLY = engine.Options(
    freq="hourly",
    models=("seasonal_naive", "ets", "mstl"),
    windows=2,
    backtest_horizon=168,
    min_train=338,
    limits=prepare.Limits(min_length=360, max_gap_share=0.1, max_gap_run=48),
)


def _fc(mean, lo80, hi80, lo95, hi95) -> Forecast:
    return Forecast(*(np.asarray(a, dtype=float) for a in (mean, lo80, hi80, lo95, hi95)))


def test_scores_count_half_widths_on_the_side_of_the_miss():
    fc = _fc([10, 10, 10, 10], [8, 8, 8, 8], [14, 14, 14, 14], [6, 6, 6, 6], [20, 20, 20, 20])
    s = calibrate.scores(np.array([12.0, 6.0, 10.0, 24.0]), fc)
    # above: (12-10)/(14-10) = 0.5; below: (10-6)/(10-8) = 2; on the mean: 0; far above: 14/4 = 3.5
    assert s["80"].tolist() == pytest.approx([0.5, 2.0, 0.0, 3.5])
    assert s["95"].tolist() == pytest.approx([0.2, 1.0, 0.0, 1.4])


def test_factor_is_the_split_conformal_rank_and_apply_scales_half_widths():
    values = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert calibrate.factor(values, level=0.8) == pytest.approx(0.8)  # ceil(10 * 0.8) = 8th smallest
    assert calibrate.factor(values, level=0.95) == pytest.approx(0.9)  # rank 10 > 9: the largest
    assert calibrate.factor(np.array([]), level=0.8) == 1.0
    assert calibrate.factor(np.array([np.inf, np.inf]), level=0.8) == calibrate.MAX_FACTOR
    fc = _fc([10, 20], [8, 15], [14, 22], [6, 10], [20, 30])
    out = calibrate.apply(fc, calibrate.Calibration(factor_80=2.0, factor_95=0.5, points=3))
    assert out.mean.tolist() == [10, 20]
    assert out.lo80.tolist() == [6, 10] and out.hi80.tolist() == [18, 24]
    assert out.lo95.tolist() == [8, 15] and out.hi95.tolist() == [15, 25]
    assert out.meta["calibration"] == {"factor_80": 2.0, "factor_95": 0.5, "points": 3}
    assert calibrate.apply(fc, calibrate.NONE) is fc


def _backtest(y: np.ndarray, ds: np.ndarray) -> list[dict]:
    return backtest.rolling_origin(
        y,
        ds,
        spec=Spec("daily", 7, (7,)),
        models=["seasonal_naive"],
        windows=3,
        horizon=14,
        clean=lambda values, cut: values,  # noqa: ARG005
    )


def test_a_cutoff_is_calibrated_on_earlier_cutoffs_only():
    ds, y = synthetic.daily(120, seed=11)
    rows = _backtest(y, ds)
    assert [r["cutoff_index"] for r in rows] == [78, 92, 106]
    first, second, last = rows
    assert first["coverage_80"] is None and first["calibration"]["points"] == 0  # nothing earlier: calibrates only
    assert first["coverage_80_raw"] is not None
    assert second["calibration"] == calibrate.fit([first["band_scores"]]).as_dict()
    assert last["calibration"] == calibrate.fit([first["band_scores"], second["band_scores"]]).as_dict()
    # wreck the last held-out window: its calibration (and the earlier windows') must not move
    wrecked = y.copy()
    wrecked[106:] *= 3
    again = _backtest(wrecked, ds)
    assert [r["calibration"] for r in again] == [r["calibration"] for r in rows]
    assert again[2]["coverage_80"] < last["coverage_80"]
    best, scores = backtest.choose(rows, fallback="seasonal_naive")
    assert scores[best]["coverage_80"] == pytest.approx((second["coverage_80"] + last["coverage_80"]) / 2)


def test_the_published_bands_carry_the_calibration_of_all_cutoffs():
    options = engine.Options(
        freq="daily",
        models=("seasonal_naive",),
        windows=3,
        backtest_horizon=14,
        min_train=28,
        limits=prepare.Limits(min_length=28, max_gap_share=0.1, max_gap_run=7),
    )
    ds, y = synthetic.daily(120, seed=12)
    r = engine.run_job(engine.Job("R/sms", "R", "sms", ds, y, 14, options))
    cal = backtest.calibration_for(r.backtest_rows, "seasonal_naive")
    assert cal.points == 42 and r.meta["calibration"] == cal.as_dict()
    raw = backtest.tidy(
        seasonal_naive(prepare.clip_outliers(y, season=7)[0], ds=ds, horizon=14, spec=Spec("daily", 7, (7,)))
    )
    half = r.forecast["yhat_upper"] - r.forecast["yhat"]
    assert half == pytest.approx(cal.factor_80 * (raw.hi80 - raw.mean))


def test_local_clock_averages_the_repeated_hour_and_leaves_the_skipped_one_missing():
    autumn = np.arange(np.datetime64("2026-10-24T22", "h"), np.datetime64("2026-10-25T03", "h")).astype(
        "datetime64[us]"
    )
    ds, y = localclock.to_local(autumn, np.array([1.0, 2.0, 3.0, 5.0, 7.0]), "Europe/London")
    # UTC 22, 23, 00 -> BST 23, 00, 01; UTC 01 -> GMT 01 (repeated); UTC 02 -> GMT 02
    assert ds.astype("datetime64[h]").astype(str).tolist()[0] == "2026-10-24T23"
    assert y.tolist() == [1.0, 2.0, 4.0, 7.0]
    spring = np.arange(np.datetime64("2026-03-28T23", "h"), np.datetime64("2026-03-29T02", "h")).astype(
        "datetime64[us]"
    )
    _, y = localclock.to_local(spring, np.array([1.0, 2.0, 3.0]), "Europe/London")
    assert np.isnan(y[2]) and y[[0, 1, 3]].tolist() == [1.0, 2.0, 3.0]  # 01:00 local never happened
    steps = localclock.future_index(autumn[-1], ds[-1], horizon=3, zone="Europe/London")
    assert steps.tolist() == [0, 1, 2]
    assert localclock.zone_for(configured="Asia/Tokyo", home_country="GB", source_timezone="UTC") == "Asia/Tokyo"
    assert localclock.zone_for(configured="Mars/Olympus", home_country="GB", source_timezone="UTC") == "UTC"
    if localclock.country_zone("GB") is None:
        pytest.skip("no tz database zone table (zone1970.tab) on this machine")
    assert localclock.zone_for(configured=None, home_country="GB", source_timezone="UTC") == "Europe/London"


def _held_back(ds, y, *, options: engine.Options, horizon: int = 168) -> tuple[engine.Result, np.ndarray]:
    job = engine.Job("R/records", "R", "records", ds[:-horizon], y[:-horizon], horizon, options)
    return engine.run_job(job), y[-horizon:]


@pytest.mark.slow
def test_hourly_80pct_bands_cover_70_to_90pct_of_held_back_hours():
    """Poisson counts of a small region on the London clock, across the end of BST; 4 seeds."""
    options = dataclasses.replace(HOURLY, zone="Europe/London")
    inside80 = inside95 = points = wins = 0
    for seed in range(4):
        ds, y = synthetic.hourly(
            24 * 42 + 168,
            seed=seed,
            level=40.0,
            counts=True,
            zone="Europe/London",
            start=synthetic.dt.datetime(2026, 9, 20),
        )
        r, test = _held_back(ds, y, options=options)
        inside80 += int(np.sum((test >= r.forecast["yhat_lower"]) & (test <= r.forecast["yhat_upper"])))
        inside95 += int(np.sum((test >= r.forecast["yhat_lower_95"]) & (test <= r.forecast["yhat_upper_95"])))
        points += len(test)
        naive = seasonal_naive(y[:-168], ds=ds[:-168], horizon=168, spec=Spec("hourly", 168, (24, 168)))
        wins += np.mean(np.abs(test - r.forecast["yhat"])) < np.mean(np.abs(test - naive.mean))
        assert r.meta["calibration"]["points"] == 2 * 168
    assert 0.70 <= inside80 / points <= 0.90, f"80 % bands covered {inside80 / points:.0%}"
    assert 0.88 <= inside95 / points <= 0.99, f"95 % bands covered {inside95 / points:.0%}"
    assert wins >= 3, f"chosen model beat seasonal naive in only {wins} of 4 series"


@pytest.mark.slow
def test_the_local_clock_beats_utc_hours_across_a_dst_change():
    """Training ends a week after the end of BST: a UTC-hour model repeats the profile an hour off."""
    ds, y = synthetic.hourly(
        24 * 42 + 168, seed=5, level=200.0, noise=0.03, zone="Europe/London", start=synthetic.dt.datetime(2026, 9, 20)
    )
    local, test = _held_back(ds, y, options=dataclasses.replace(HOURLY, zone="Europe/London"))
    utc, _ = _held_back(ds, y, options=HOURLY)
    mae_local = np.mean(np.abs(test - local.forecast["yhat"]))
    mae_utc = np.mean(np.abs(test - utc.forecast["yhat"]))
    assert mae_local < 0.8 * mae_utc, (mae_local, mae_utc)
    assert local.meta["spec"]["clock"] == "Europe/London" and len(local.forecast["yhat"]) == 168
