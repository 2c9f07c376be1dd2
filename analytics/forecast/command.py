"""``python -m analytics forecast [--horizon-days N] [--freq daily|hourly] [--full] --json``.

Forecasts every region's ``records``, ``voice_minutes``, ``sms`` and ``data_gb`` from
the end of the loaded data, refitting only the series whose input changed
(``pipeline.refresh``: the writer lock is held only to store the result), stores the
result in the warehouse and prints the contract's JSON (``regions`` plus run details
and the capacity outlook of the regions).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import polars as pl
import polars.selectors as cs

from analytics import store
from analytics.cli import CommandError
from analytics.cluster import ClusterError
from analytics.forecast import cells, hierarchy, persist, pipeline

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--horizon-days",
        type=int,
        default=None,
        help="days ahead (daily: default 28, up to 180; hourly: default 7, up to 14)",
    )
    parser.add_argument("--freq", choices=("daily", "hourly"), default="daily", help="forecast step (default daily)")
    parser.add_argument("--full", action="store_true", help="refit every series, even those whose input did not change")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default [forecast] n_jobs)")
    parser.add_argument(
        "--cluster",
        metavar="SPEC",
        help="fit one task per series on a Dask cluster: local:N or tcp://host:8786 (docs/scale.md)",
    )


def progress_log(*, every: float = 0.1) -> pipeline.Progress:
    """A ``progress`` for :func:`pipeline.refresh` that logs (stderr) about every ``every`` of the way."""
    last = [-1.0]

    def say(fraction: float, message: str) -> None:
        if fraction >= 1.0 or fraction - last[0] >= every or "fitted" not in message:
            last[0] = fraction
            log.info("%3.0f%% %s", 100 * fraction, message)

    return say


def run(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.warehouse or store.default_path())
    if not path.exists():
        raise CommandError(f"no warehouse at {path}: run `python -m analytics ingest` or `demo` first")
    try:
        pipeline.horizon_steps(args.freq, args.horizon_days)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    with store.reader(path) as con:
        if (
            not store.has_table(con, "usage_daily_region")
            or store.scalar(con, "select count(*) from usage_daily_region") == 0
        ):
            raise CommandError(
                "the warehouse holds no usage yet: load extracts with `python -m analytics ingest` first"
            )
    try:
        refreshed = pipeline.refresh(
            path,
            freqs=(args.freq,),
            horizon_days=args.horizon_days,
            full=args.full,
            n_jobs=args.jobs,
            progress=progress_log(),
            cluster=args.cluster,
        )
    except ClusterError as exc:
        raise CommandError(str(exc)) from exc
    run_info = refreshed.runs[args.freq]
    with store.reader(path) as con:
        result = pipeline.payload(con, freq=args.freq)
        regions_capacity = persist.read_capacity(con).filter(pl.col("level") == "region")
        to_act = cells.cells_to_act(con)
        total = hierarchy.payload(con) if args.freq == "daily" else None
    result.update(
        horizon_days=run_info["horizon_steps"] // (24 if args.freq == "hourly" else 1),
        data_cutoff=run_info["data_cutoff"],
        series=run_info["series_total"],
        series_refit=run_info["series_refit"],
        seconds=round(run_info["seconds"], 3),
        capacity=[
            {
                k: r[k]
                for k in (
                    "region",
                    "capacity_erlangs",
                    "servers",
                    "busy_hour_erlangs_now",
                    "busy_hour_erlangs_peak",
                    "utilisation_peak",
                    "blocking_peak",
                    "exhaustion_date",
                    "days_to_exhaustion",
                )
            }
            for r in regions_capacity.iter_rows(named=True)
        ],
        cells=to_act.with_columns(cs.float().fill_nan(None)).to_dicts(),
        total=total,
    )
    return result
