"""Benchmark: coherent totals (issue 22 item 2) for 600 cells in 12 regions.

    python benchmarks/bench_hierarchy.py --cells 600 --regions 12 [--history-days 70]
        [--upper-models seasonal_naive sf_ets sf_theta] [--cell-models seasonal_naive sf_theta] [--jobs 2]
    python benchmarks/bench_hierarchy.py --warehouse COPY.duckdb   # a demo world's cells instead

Builds the synthetic warehouse of ``bench_capacity.py`` (the hourly cube per cell: voice and
data with a daily profile, per-cell level and trend, noise), then times the hierarchy's
stages as a daily run does them: read (cells -> local days -> every node's series, the jobs),
fit (the engine on every node, and again on the series cut for the method backtest, in
``--jobs`` worker processes), reconcile (every method on the backtest, the chosen one on the
forecast, per metric) and write; then the page's reads. Prints the figures, the methods
chosen and the held-out coverage of the coherent bands per level.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_capacity import build  # noqa: E402

from analytics import store  # noqa: E402
from analytics.config import settings, with_options  # noqa: E402
from analytics.forecast import hierarchy, pipeline, workers  # noqa: E402


def cpu_seconds() -> float:
    """CPU seconds of this process: the whole fit with ``--jobs 1`` (then it runs in this thread),
    what a run costs whatever else the shared machine does. With worker processes the pool's
    workers are the forkserver's children, whose time no getrusage here sees: not printed."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=600)
    ap.add_argument("--regions", type=int, default=12)
    ap.add_argument("--history-days", type=int, default=70)
    ap.add_argument("--horizon-days", type=int, default=28)
    ap.add_argument(
        "--upper-models",
        nargs="+",
        default=list(pipeline.ForecastSettings().hierarchy_models_upper),
        help="national and regions",
    )
    ap.add_argument("--cell-models", nargs="+", default=list(pipeline.ForecastSettings().hierarchy_models_cell))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--warehouse",
        type=Path,
        help="a COPY of a real warehouse (e.g. the demo world) instead of the synthetic one; its totals are rewritten",
    )
    args = ap.parse_args()
    cfg = with_options(
        pipeline.ForecastSettings(),
        {"hierarchy_models_upper": args.upper_models, "hierarchy_models_cell": args.cell_models},
    )
    options = pipeline.options_for("daily", cfg)
    timezone = settings().timezone if args.warehouse else "UTC"
    with tempfile.TemporaryDirectory() as tmp:
        path = args.warehouse or Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        if args.warehouse:
            print(f"warehouse: {path} (its hourly cube; local days in {timezone})")
        else:
            rows = build(
                path,
                n_cells=args.cells,
                regions=args.regions,
                history_days=args.history_days,
                horizon_days=args.horizon_days,
                hourly=False,
                seed=args.seed,
            )
            print(
                f"warehouse: {args.cells} cells in {args.regions} regions, {rows:,} hourly cube rows "
                f"({args.history_days} days): built in {time.perf_counter() - t0:.1f} s"
            )
        with store.reader(path) as con:
            t0 = time.perf_counter()
            plan = hierarchy.plan(
                con, options=options, horizon=args.horizon_days, cfg=cfg, timezone=timezone, full=True
            )
            read_s = time.perf_counter() - t0
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        results = workers.fit(plan.jobs, n_jobs=args.jobs)
        fit_s, fit_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        by_level = {lvl: 0.0 for lvl in hierarchy.LEVELS}
        level_of = dict(plan.nodes.select("node_id", "level").unique().iter_rows())
        for r in results:
            by_level[level_of[r.unique_id.split("|", 2)[2]]] += r.seconds
        t0 = time.perf_counter()
        values, choice = hierarchy.reconcile(plan, results)
        rec_s = time.perf_counter() - t0
        with store.writer(path) as con:
            t0 = time.perf_counter()
            hierarchy.save(con, values, choice)
            save_s = time.perf_counter() - t0
        with store.reader(path) as con:
            t0 = time.perf_counter()
            check = hierarchy.read_check(con)
            hierarchy.read_values(con)
            page_s = time.perf_counter() - t0
    print(f"read: {read_s:.1f} s ({plan.nodes['node_id'].n_unique()} nodes x 4 metrics, {len(plan.jobs)} jobs)")
    print(
        f"fit: {fit_s:.1f} s with {args.jobs} workers"
        + (f" ({fit_cpu:.1f} CPU s)" if args.jobs == 1 else "")
        + "; engine seconds by level: "
        + ", ".join(f"{k} {v:.1f}" for k, v in by_level.items())
    )
    print(
        f"reconcile (4 methods on the backtest + the chosen one, 4 metrics): {rec_s:.1f} s; write {save_s:.2f} s; "
        f"page reads (values + check) {page_s:.2f} s"
    )
    print(f"largest parent-children gap: {check['abs_diff'].max():.1e}")
    print(choice.filter(pl.col("is_chosen")).select("metric", "method", "score"))
    print(choice.select("metric", "method", "mae_national", "mae_region", "mae_cell", "score"))
    print("coherent bands on the held-out days (base = the nodes' own bands, not coherent):")
    print(choice.select("metric", "method", "is_chosen", *hierarchy.COVERAGE))
    chosen = choice.filter(pl.col("is_chosen"))
    print(
        "chosen methods' 80 % band coverage, mean over metrics: "
        + ", ".join(
            f"{c.removeprefix('coverage_80').lstrip('_') or 'all'} {chosen[c].mean():.1%}"
            for c in hierarchy.COVERAGE[:4]
        )
        + f"; 95 %: {chosen['coverage_95'].mean():.1%}"
    )
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
