"""Benchmark: every forecast model (statsmodels, Prophet, statsforecast) and the combinations, series by series.

    python benchmarks/bench_models.py --warehouse COPY.duckdb --freq daily [--models a,b,...] [--jobs 2]
    python benchmarks/bench_models.py --synthetic daily --series 8 [--days 168]
    python benchmarks/bench_models.py --warehouse COPY.duckdb --strategies --windows 4 --end-skip 14 \
        --models seasonal_naive,sf_ets,sf_theta,sf_mstl,calendar_trend

Runs the real per-series engine (``engine.run_job``: checks, gap filling, spike clipping per
training part, rolling-origin backtest, calibration) with every listed model and combination as
candidates, then prints per model: the MAE ratio to seasonal naive over the backtest cut-offs
(per series: mean MAE of the model / mean MAE of seasonal naive on the same cut-offs; then the
mean and median over series), the share of series where it beats seasonal naive, its 80 %
coverage after calibration and its seconds per fit. With ``--holdout`` (default on) every
series is also cut ``holdout`` steps short, forecast by the engine's choice among the same
candidates, and scored on those unseen steps against seasonal naive: the honest figure for
the selection itself (the backtest figures of the winner are optimistic, it won on them).

``--strategies`` fits every ``--models`` model once per cut-off and on the held-out window and scores
selection rules and fixed combinations on the same fits (more cut-offs, recent cut-offs weighted
up, the mean of the top k, fixed means / medians); with ``--end-skip N`` the held-out window ends N
steps before the data, so a rule can be chosen on windows other than the benchmark's.

``--oracle truth.json`` (daily, a demo world): the noise floor, i.e. the held-out MAE ratio of a
forecast that knows the generator's true mean of each region's records.

Use a copy of a warehouse (demo: ``python -m analytics demo --subscribers 1500 --months 4
--warehouse /tmp/w.duckdb --no-forecasts``); only reads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import store  # noqa: E402
from analytics.forecast import backtest, combine, engine, pipeline, series, synthetic, workers  # noqa: E402
from analytics.forecast.models import FALLBACK, MODELS, Spec, seasonal_naive  # noqa: E402

ALL = {
    "daily": [
        "seasonal_naive",
        "seasonal_mean",
        "calendar_trend",
        "ets",
        "sarima",
        "prophet",
        "sf_ets",
        "sf_theta",
        "sf_arima",
        "sf_mstl",
    ],
    "hourly": ["seasonal_naive", "seasonal_mean", "ets", "mstl", "sf_ets", "sf_theta", "sf_arima", "sf_mstl"],
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


def true_daily_records(truth_path: Path, *, lines: int) -> dict[str, np.ndarray]:
    """The demo generator's expected records per home region per local day (its Poisson means,
    before the draws), rebuilt from ``truth.json`` by re-running the seeded steps before them."""
    import datetime as dt
    import json

    from analytics.demo import movement, traffic, world

    truth = json.loads(truth_path.read_text())
    start, end = dt.date.fromisoformat(truth["start_date"]), dt.date.fromisoformat(truth["end_date"])
    rng = np.random.default_rng(truth["seed"])
    cal = traffic.Calendar.of(start, (end - start).days + 1)
    cells = world.build_cells(rng)
    subs = world.build_subscribers(rng, cells, n=lines, start=start, days=cal.days)
    event = movement.pick_event(rng, cal)
    sit = movement.situation(rng, subs, cal, event)
    rates = traffic.daily_rates(subs, cal, sit).sum(axis=2)  # line x day
    region = subs["region_idx"].to_numpy()
    return {world.REGIONS[r][0]: rates[region == r].sum(axis=0) for r in np.unique(region)}


ORACLE_MAX_SPREAD = 0.1  # sd of a region's records / the lines' expected records over the training days


def report_oracle(
    jobs: list[engine.Job], held: list[engine.Result], steps: int, truth_path: Path, *, lines: int
) -> None:
    """The noise floor: on each region's ``records`` series, a forecast that knows the generator's
    true mean (the ordinary lines' Poisson means by home region, scaled by the median ratio of the
    training days: roaming, visits and bad rows move a few records between regions) against
    seasonal naive, beside the engine's choice. Regions where injected actors (a SIM box, fraud)
    add records that the lines' rates do not hold are left out (named)."""
    means = true_daily_records(truth_path, lines=lines)
    oracle, chosen, skipped = [], [], []
    for job, r in zip(jobs, held, strict=True):
        if job.metric != "records" or job.region not in means or r.reason is not None:
            continue
        mu = means[job.region]
        if len(mu) != len(job.y):
            continue
        train, test = job.y[:-steps], job.y[-steps:]
        ratio = train / mu[:-steps]
        if np.nanstd(ratio) > ORACLE_MAX_SPREAD:  # injected actors (SIM box, fraud) whose records the rates do not hold
            skipped.append(job.region)
            continue
        scale = float(np.nanmedian(ratio))
        spec = engine.spec_for(job.options, len(train))
        naive = seasonal_naive(np.nan_to_num(train), ds=job.ds[:-steps], horizon=steps, spec=spec).mean
        base = float(np.mean(np.abs(test - naive)))
        oracle.append(float(np.mean(np.abs(test - scale * mu[-steps:]))) / base)
        chosen.append(float(np.mean(np.abs(test - r.forecast["yhat"]))) / base)
    if not oracle:
        print("oracle: no records series matched the truth")
        return
    print(
        f"noise floor, {len(oracle)} records series: MAE / seasonal naive of the generator's true mean "
        f"{np.mean(oracle):.3f} (median {np.median(oracle):.3f}); the engine's choice on the same series "
        f"{np.mean(chosen):.3f} (median {np.median(chosen):.3f}); left out (records not the ordinary lines'): "
        f"{', '.join(skipped) or 'none'}"
    )


def strategy_fits(jobs: list[engine.Job], names: list[str], steps: int) -> list[dict]:
    """Per series cut ``steps`` short: every model's forecast at every backtest cut-off and of the
    ``steps`` unseen steps (fit on the clipped series, as the engine's final fit), in one
    ``bulk.fit`` round, for :func:`report_strategies`."""
    from analytics.forecast import bulk

    preps, requests, where = [], [], []
    for job in jobs:
        short = cut_short(job, steps)
        p = engine._prepare(short)
        if p.reason is not None or np.isnan(job.y[-steps:]).any():
            continue
        preps.append((job, short, p))
        for cut in [*p.cuts, "final"]:
            train, ds, h = (p.y_fit, p.ds, p.horizon) if cut == "final" else (p.trains[cut], p.ds[:cut], steps)
            for name in names:
                requests.append(bulk.Request(name, f"{job.unique_id}|{cut}", train, ds, h, p.spec))
                where.append((len(preps) - 1, cut, name))
    out = [
        {
            "y": p.y,
            "cuts": p.cuts,
            "season": p.spec.season,
            "test": job.y[-steps:],
            "naive": seasonal_naive(np.nan_to_num(short.y), ds=short.ds, horizon=steps, spec=p.spec).mean,
            "fc": {},
        }
        for job, short, p in preps
    ]
    for (i, cut, name), o in zip(where, bulk.fit(requests), strict=True):
        out[i]["fc"][(cut, name)] = None if o.error is not None else np.asarray(o.forecast.mean, dtype=float)
    return out


def _pick(
    r: dict, names: list[str], *, cuts: list, combos: list[tuple[str, int]], weights: np.ndarray
) -> np.ndarray | None:
    """The held-out forecast that a selection rule picks: the lowest weighted mean backtest MASE
    among the single ``names`` and the ``combos`` (how, k) of the best k singles."""
    steps = len(r["test"])

    def mase(members: list[str], how: str) -> float | None:
        errs = []
        for cut in cuts:
            fs = [r["fc"].get((cut, m)) for m in members]
            if any(f is None for f in fs):
                return None
            mean = np.maximum((np.mean if how == "mean" else np.median)(fs, axis=0), 0)
            scale = backtest.mase_scale(r["y"][:cut], season=r["season"])
            errs.append(np.mean(np.abs(r["y"][cut : cut + steps] - mean)) / scale if scale else np.inf)
        return float(np.average(errs, weights=weights[-len(cuts) :]))

    single = {m: v for m in names if (v := mase([m], "mean")) is not None and np.isfinite(v)}
    order = sorted(single, key=single.get)
    options = {((m,), "mean"): v for m, v in single.items()}
    for how, k in combos:
        if len(order) >= k:
            options[(tuple(order[:k]), how)] = mase(order[:k], how)
    if not options:
        return None
    members, how = min(options, key=options.get)
    return _held(r, list(members), how)


def _held(r: dict, members: list[str], how: str = "mean") -> np.ndarray | None:
    fs = [r["fc"].get(("final", m)) for m in members]
    if any(f is None for f in fs):
        return None
    return np.maximum((np.mean if how == "mean" else np.median)(fs, axis=0), 0)


def report_strategies(fits: list[dict], names: list[str], *, subsets: dict[str, list[str]] | None = None) -> None:
    """Held-out MAE / seasonal naive (mean over series) of selection rules and fixed combinations,
    all from the same fits: the engine's rule (3 cut-offs, combos mean2 / mean3 / median3) and
    its variants (more cut-offs, recent cut-offs weighted up, mean of the top k for k <= 5),
    every single model and the fixed mean / median of the non-naive ones."""

    def ratio(r: dict, fc: np.ndarray | None) -> float:
        base = float(np.mean(np.abs(r["test"] - r["naive"])))
        return float(np.mean(np.abs(r["test"] - fc))) / base if fc is not None and base > 0 else np.nan

    engine_combos = [("mean", 2), ("mean", 3), ("median", 3)]
    top_k = [("mean", k) for k in range(2, 6)]
    n_cuts = min(len(r["cuts"]) for r in fits)
    rules: dict[str, Any] = {}
    for label, subset in (subsets or {}).items():  # the same rule over fewer candidates (e.g. the defaults)
        rules[f"select among {label} ({', '.join(subset)}), {min(3, n_cuts)} cut-offs, the engine's combos"] = (
            lambda r, subset=subset: _pick(
                r, subset, cuts=r["cuts"][-min(3, n_cuts) :], combos=engine_combos, weights=np.ones(min(3, n_cuts))
            )
        )
    for m in names:
        rules[f"single {m}"] = lambda r, m=m: _held(r, [m])
    others = [m for m in names if m != FALLBACK]
    rules[f"fixed mean of {', '.join(others)}"] = lambda r: _held(r, others)
    rules[f"fixed median of {', '.join(others)}"] = lambda r: _held(r, others, "median")
    for cuts in sorted({min(3, n_cuts), n_cuts}):
        equal, recent = np.ones(cuts), np.arange(1.0, cuts + 1)
        for label, combos, weights in (
            ("mean2/mean3/median3 (the engine's)", engine_combos, equal),
            ("mean of the top k, k = 2..5", top_k, equal),
            ("mean2/mean3/median3, recent cut-offs weighted 1..n", engine_combos, recent),
            ("none (singles only)", [], equal),
        ):
            rules[f"select, {cuts} cut-offs, combos {label}"] = lambda r, c=combos, w=weights, k=cuts: _pick(
                r, names, cuts=r["cuts"][-k:], combos=c, weights=w
            )
    print(f"strategies on {len(fits)} series (held-out MAE / seasonal naive, mean over series):")
    for label, rule in rules.items():
        print(f"  {np.nanmean([ratio(r, rule(r)) for r in fits]):.3f}  {label}")


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
    ap.add_argument("--windows", type=int, default=0, help="backtest cut-offs (default: the [forecast] setting)")
    ap.add_argument("--oracle", type=Path, help="the demo world's truth.json: also print the noise floor (daily)")
    ap.add_argument("--oracle-lines", type=int, default=1500, help="the demo's --subscribers")
    ap.add_argument(
        "--end-skip",
        type=int,
        default=0,
        help="drop this many steps off the end first: the held-out window moves back (validate a rule elsewhere)",
    )
    ap.add_argument(
        "--strategies",
        action="store_true",
        help="only: selection rules and fixed combinations of --models, scored on the held-out window",
    )
    args = ap.parse_args()
    names = args.models.split(",") if args.models else ALL[args.freq]
    combos = [c for c in args.combinations.split(",") if c]
    base = pipeline.options_for(args.freq)
    options = dataclasses.replace(
        base,
        models=tuple(n for n in names if n in MODELS),
        combinations=tuple(combos),
        windows=args.windows or base.windows,
    )
    jobs = jobs_for(args, options)
    if args.end_skip:
        jobs = [dataclasses.replace(j, ds=j.ds[: -args.end_skip], y=j.y[: -args.end_skip]) for j in jobs]
    if args.strategies:
        t0 = time.perf_counter()
        fits = strategy_fits(jobs, list(options.models), options.backtest_horizon)
        print(f"{args.freq}: fits of {len(options.models)} models at every cut-off in {time.perf_counter() - t0:.1f} s")
        defaults = [m for m in base.models if m in options.models]
        report_strategies(fits, list(options.models), subsets={"the defaults": defaults} if defaults else None)
        return
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
        if args.oracle and args.freq == "daily":
            report_oracle(jobs, held, steps, args.oracle, lines=args.oracle_lines)


if __name__ == "__main__":
    main()
