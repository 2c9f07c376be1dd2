"""Benchmark: every forecast model (statsmodels, Prophet, statsforecast) and the combinations, series by series.

    python benchmarks/bench_models.py --warehouse COPY.duckdb --freq daily [--models a,b,...] [--jobs 2]
    python benchmarks/bench_models.py --synthetic daily --series 8 [--days 168]

Runs the real per-series engine (``engine.run_job``: checks, gap filling, spike clipping per
training part, rolling-origin backtest, calibration) with every listed model and combination as
candidates, then prints per model: the MAE ratio to seasonal naive over the backtest cut-offs
(per series: mean MAE of the model / mean MAE of seasonal naive on the same cut-offs; then the
mean and median over series), the share of series where it beats seasonal naive, its 80 %
coverage after calibration and its seconds per fit. With ``--holdout`` (default on) every
series is also cut ``holdout`` steps short, forecast by the engine's choice among the same
candidates, and scored on those unseen steps against seasonal naive: the honest figure for
the selection itself (the backtest figures of the winner are optimistic, it won on them).

Use a copy of a warehouse (demo: ``python -m analytics demo --subscribers 1500 --months 4
--warehouse /tmp/w.duckdb --no-forecasts``); only reads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import store  # noqa: E402
from analytics.forecast import combine, engine, pipeline, series, synthetic, workers  # noqa: E402
from analytics.forecast.models import FALLBACK, MODELS, Spec, seasonal_naive  # noqa: E402

ALL = {
    "daily": ["seasonal_naive", "ets", "sarima", "prophet", "sf_ets", "sf_theta", "sf_arima", "sf_mstl"],
    "hourly": ["seasonal_naive", "ets", "mstl", "sf_ets", "sf_theta", "sf_arima", "sf_mstl"],
}


def jobs_for(args: argparse.Namespace, options: engine.Options) -> list[engine.Job]:
    if args.synthetic:
        jobs = []
        for s in range(args.series):
            if args.freq == "daily":
                ds, y = synthetic.daily(args.days, seed=s, trend=0.003, noise=0.04, spikes=2 if s % 2 else 0)
            else:
                ds, y = synthetic.hourly(
                    24 * args.days,
                    seed=s,
                    level=40.0 * (1 + s % 3),
                    counts=True,
                    zone=options.zone if options.zone != "UTC" else None,
                )
            jobs.append(
                engine.Job(f"S{s:02d}/synthetic", f"S{s:02d}", "synthetic", ds, y, options.backtest_horizon, options)
            )
        return jobs
    with store.reader(Path(args.warehouse)) as con:
        frame = (
            series.daily_series(con)
            if args.freq == "daily"
            else series.hourly_series(con, history_days=pipeline.config().hourly_history_days)
        )
    frame = frame.filter(frame["metric"].is_in(list(series.METRICS)))
    return pipeline.jobs_from(frame, horizon=options.backtest_horizon, options=options)[: args.limit or None]


def cut_short(job: engine.Job, steps: int) -> engine.Job:
    return dataclasses.replace(job, ds=job.ds[:-steps], y=job.y[:-steps], horizon=steps)


def report_backtest(results: list[engine.Result], names: list[str]) -> None:
    print(
        f"{'model':<15} {'series':>6} {'MAE/naive mean':>15} {'median':>7} {'beats naive':>11} {'cov80':>6} {'s/fit':>7}"
    )
    for name in names:
        ratios, cover, secs = [], [], []
        for r in results:
            if r.reason is not None:
                continue
            mae = {m: [row["mae"] for row in r.backtest_rows if row["model"] == m] for m in (name, FALLBACK)}
            if not mae[name] or any(v is None for v in mae[name]) or not mae[FALLBACK]:
                continue
            base = float(np.mean(mae[FALLBACK]))
            if base > 0:
                ratios.append(float(np.mean(mae[name])) / base)
            s = r.scores.get(name, {})
            if s.get("coverage_80") is not None:
                cover.append(s["coverage_80"])
            secs += [row["seconds"] for row in r.backtest_rows if row["model"] == name]
        if not ratios:
            print(f"{name:<15} no usable series")
            continue
        ratios_a = np.array(ratios)
        print(
            f"{name:<15} {len(ratios):>6} {ratios_a.mean():>15.3f} {np.median(ratios_a):>7.3f} "
            f"{np.mean(ratios_a < 1):>11.0%} {np.mean(cover) if cover else float('nan'):>6.0%} {np.mean(secs):>7.3f}"
        )


def report_holdout(jobs: list[engine.Job], results: list[engine.Result], steps: int) -> None:
    ratios, inside, points, chosen = [], 0, 0, {}
    for job, r in zip(jobs, results, strict=True):
        if r.reason is not None:
            continue
        test = job.y[-steps:]
        if np.isnan(test).any():
            continue
        train_ds, train = job.ds[:-steps], job.y[:-steps]
        spec = engine.spec_for(job.options, len(train))
        naive = seasonal_naive(
            np.nan_to_num(train), ds=train_ds, horizon=steps, spec=Spec(spec.freq, spec.season, spec.seasons)
        )
        base = float(np.mean(np.abs(test - naive.mean)))
        if base > 0:
            ratios.append(float(np.mean(np.abs(test - r.forecast["yhat"]))) / base)
        inside += int(np.sum((test >= r.forecast["yhat_lower"]) & (test <= r.forecast["yhat_upper"])))
        points += len(test)
        chosen[r.model] = chosen.get(r.model, 0) + 1
    a = np.array(ratios)
    print(
        f"held-out {steps} steps, chosen model: MAE/naive mean {a.mean():.3f}, median {np.median(a):.3f}, "
        f"beats naive in {np.sum(a < 1)} of {len(a)}; 80 % band covered {inside / max(points, 1):.1%}"
    )
    print("  chosen:", dict(sorted(chosen.items(), key=lambda kv: -kv[1])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--freq", choices=("daily", "hourly"), default="daily")
    ap.add_argument("--series", type=int, default=8)
    ap.add_argument("--days", type=int, default=168)
    ap.add_argument("--limit", type=int, default=0, help="first N series only")
    ap.add_argument("--models", default=None)
    ap.add_argument("--combinations", default=",".join(combine.COMBINATIONS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-holdout", action="store_true")
    args = ap.parse_args()
    names = args.models.split(",") if args.models else ALL[args.freq]
    combos = [c for c in args.combinations.split(",") if c]
    base = pipeline.options_for(args.freq)
    options = dataclasses.replace(base, models=tuple(n for n in names if n in MODELS), combinations=tuple(combos))
    jobs = jobs_for(args, options)
    t0 = time.perf_counter()
    results = workers.fit(jobs, n_jobs=args.jobs)
    print(
        f"{args.freq}: {len(jobs)} series, backtest of {len(options.models)} models + {len(combos)} combinations "
        f"x {options.windows} cut-offs of {options.backtest_horizon} steps in {time.perf_counter() - t0:.1f} s ({args.jobs} workers)"
    )
    report_backtest(results, [*options.models, *combos])
    if not args.no_holdout:
        steps = options.backtest_horizon
        short = [cut_short(j, steps) for j in jobs]
        t0 = time.perf_counter()
        held = workers.fit(short, n_jobs=args.jobs)
        print(f"selection re-run on series cut {steps} steps short: {time.perf_counter() - t0:.1f} s")
        report_holdout(jobs, held, steps)


if __name__ == "__main__":
    main()
