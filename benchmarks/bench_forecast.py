"""Benchmark: daily forecasts with backtests for N regions x 4 metrics, through the real run.

    python benchmarks/bench_forecast.py --regions 12 --days 365 [--jobs 2] [--models seasonal_naive,ets,sarima,prophet]
    python benchmarks/bench_forecast.py --regions 12 --days 120 --cells 600   # + 600 cells x 2 metrics

Builds a warehouse in a temp folder by inserting usage_daily_region rows (weekly season,
trend, noise, a few event spikes), runs ``run_forecast`` twice (full, then incremental
with nothing changed) and prints wall time, seconds per series, seconds per series per
model (backtest fits + final fit), mean MASE / 80 % coverage per model and peak memory.
``--cells N``: then N cells x 2 metrics (synthetic daily Erlangs and data GB, small levels,
Poisson-like noise) with the cells' candidates (``[forecast] hierarchy_models_cell``, or
``--cell-models``) through the same engine and worker pool, timed on their own and together.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import store  # noqa: E402
from analytics.config import with_options  # noqa: E402
from analytics.forecast import engine, hierarchy, pipeline, synthetic, workers  # noqa: E402


def build(path: Path, *, regions: int, days: int, seed: int) -> None:
    rows = []
    start = dt.date(2025, 1, 6)
    for r in range(regions):
        _, calls = synthetic.daily(days, seed=seed + r, level=2000 * (1 + r % 4), spikes=2)
        _, texts = synthetic.daily(days, seed=seed + 100 + r, level=800, trend=-0.0005)
        _, data = synthetic.daily(days, seed=seed + 200 + r, level=5000, trend=0.004)
        for d in range(days):
            day = start + dt.timedelta(days=d)
            base = {"day_date": day, "region": f"R{r:02d}", "subscribers": 100, "charge": 0}
            rows.append(
                {
                    **base,
                    "service": "voice",
                    "records": int(calls[d]),
                    "duration_s": int(calls[d] * 120),
                    "bytes_up": 0,
                    "bytes_down": 0,
                }
            )
            rows.append(
                {**base, "service": "sms", "records": int(texts[d]), "duration_s": 0, "bytes_up": 0, "bytes_down": 0}
            )
            rows.append(
                {
                    **base,
                    "service": "data",
                    "records": int(data[d] / 10),
                    "duration_s": 0,
                    "bytes_up": int(data[d] * 1e6),
                    "bytes_down": int(data[d] * 4e6),
                }
            )
    frame = pl.DataFrame(rows)
    with store.writer(path) as con:
        con.register("bench_rows", frame)
        con.execute("insert into usage_daily_region by name select * from bench_rows")


def cell_jobs(
    cells: int, *, days: int, horizon: int, seed: int, options: engine.Options | None = None
) -> list[engine.Job]:
    """``cells`` x (busy-hour Erlangs, data GB) daily series of small cells, noisier than regions;
    ``options``: the cells' candidates (default: the hierarchy's cell level, as the product fits cells)."""
    if options is None:
        cfg = pipeline.config()
        options = hierarchy.level_options(pipeline.options_for("daily", cfg), cfg)["cell"]
    jobs = []
    for c in range(cells):
        for m, (level, noise) in enumerate(((8.0 + c % 20, 0.12), (3.0 + c % 7, 0.2))):
            ds, y = synthetic.daily(
                days, seed=seed + 10_000 + 2 * c + m, level=level, noise=noise, trend=0.001 * (c % 5)
            )
            metric = ("busy_hour_erlangs", "data_gb")[m]
            jobs.append(engine.Job(f"C{c:04d}/{metric}", f"C{c:04d}", metric, ds, y, horizon, options))
    return jobs


def cpu_seconds() -> float:
    """CPU seconds of this process: the whole fit with ``--jobs 1`` (then it runs in this thread),
    what a run costs whatever else the shared machine does. With worker processes the pool's
    workers are the forkserver's children, whose time no getrusage here sees: not printed."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=3)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--horizon-days", type=int, default=28)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--models", default=None, help="comma-separated subset of the daily registry")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cells", type=int, default=0, help="also forecast this many cells x 2 metrics")
    ap.add_argument("--combinations", default=None, help="comma-separated combo_* candidates ('' = none)")
    ap.add_argument(
        "--cell-models", default=None, help="the cells' candidates (default [forecast] hierarchy_models_cell)"
    )
    args = ap.parse_args()
    changes: dict = {}
    if args.models:
        changes["models_daily"] = args.models.split(",")
    if args.combinations is not None:
        changes["combinations_daily"] = [c for c in args.combinations.split(",") if c]
    if args.cell_models:
        changes["hierarchy_models_cell"] = args.cell_models.split(",")
    cfg = with_options(pipeline.config(), changes)
    pipeline.config = lambda: cfg  # benchmark-only override of [forecast]
    print("daily models:", list(cfg.models_daily), "combinations:", list(cfg.combinations_daily))
    if args.cells:
        print("cell models:", list(cfg.hierarchy_models_cell))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        build(path, regions=args.regions, days=args.days, seed=args.seed)
        cpu0 = cpu_seconds()
        print(f"warehouse: {args.regions} regions x {args.days} days built in {time.perf_counter() - t0:.1f} s")
        with store.writer(path) as con:
            t0 = time.perf_counter()
            run = pipeline.run_forecast(con, freq="daily", horizon_days=args.horizon_days, n_jobs=args.jobs)
            full_s = time.perf_counter() - t0
            full_cpu = cpu_seconds() - cpu0
            t0 = time.perf_counter()
            again = pipeline.run_forecast(con, freq="daily", horizon_days=args.horizon_days, n_jobs=args.jobs)
            incr_s = time.perf_counter() - t0
            per_model = store.fetch(
                con,
                """
                select model, count(distinct unique_id) as series, avg(seconds) as s_per_fit,
                       avg(mase) as mase, avg(coverage_80) as coverage_80, count(error) as failed
                from forecast_backtests where freq = 'daily' group by model order by model""",
            )
            chosen = store.fetch(
                con,
                "select model, count(*) as series from forecast_series where freq = 'daily' and metric <> 'busy_hour_erlangs' group by model order by series desc",
            )
    series_n = args.regions * 4
    windows = pipeline.config().backtest_windows
    print(
        f"full run: {full_s:.1f} s for {run['series_total']} series ({series_n} forecast metrics), "
        f"{full_s / max(series_n, 1):.2f} s per series wall, {args.jobs} workers"
        + (f"; {full_cpu:.1f} CPU s" if args.jobs == 1 else "")
    )
    print(f"incremental run, nothing changed: {incr_s:.2f} s, {again['series_refit']} series refit")
    print(f"seconds per series per model (backtest fits x {windows} windows + final fit, estimated):")
    for r in per_model.iter_rows(named=True):
        print(
            f"  {r['model']:<15} {r['s_per_fit'] * (windows + 1):7.3f} s   ({r['s_per_fit']:.3f} s per fit)  "
            f"MASE {r['mase'] or float('nan'):.3f}  coverage80 {r['coverage_80'] or float('nan'):.0%}  failed windows {r['failed']}"
        )
    print("chosen:", dict(zip(chosen["model"], chosen["series"], strict=True)))
    if args.cells:
        jobs = cell_jobs(args.cells, days=args.days, horizon=args.horizon_days, seed=args.seed)
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        results = workers.fit(jobs, n_jobs=args.jobs)
        cells_s, cells_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        picked: dict[str, int] = {}
        for r in results:
            picked[r.model] = picked.get(r.model, 0) + 1
        print(
            f"cells: {len(jobs)} series ({args.cells} cells x 2 metrics) in {cells_s:.1f} s, "
            f"{cells_s / len(jobs):.3f} s per series wall"
            + (f", {cells_cpu:.1f} CPU s; " if args.jobs == 1 else "; ")
            + f"chosen {dict(sorted(picked.items(), key=lambda kv: -kv[1]))}"
        )
        print(
            f"regions + cells: {full_s + cells_s:.1f} s wall"
            + (
                f", {full_cpu + cells_cpu:.1f} CPU s (~{(full_cpu + cells_cpu) / 2:.0f} s on 2 idle cores)"
                if args.jobs == 1
                else ""
            )
        )
    print(
        f"peak memory (this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
        f"workers: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
