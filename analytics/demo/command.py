"""``python -m analytics demo``: generate the seeded demo world, load it and compute its
daily and hourly forecasts and capacity outlook (``--no-forecasts`` skips them).

``--live DIR`` instead runs the live feeder (analytics.live.feeder), which keeps
dropping new extract files into DIR for ``watch`` to pick up.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path
from typing import Any

from analytics.config import ROOT, settings

log = logging.getLogger(__name__)

DEFAULT_OUT = ROOT / "data" / "demo"
DEFAULT_SUBSCRIBERS = 12_000
DEFAULT_MONTHS = 4


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscribers", type=int, default=DEFAULT_SUBSCRIBERS, help="lines in the world (default 12000)"
    )
    parser.add_argument("--months", type=int, default=DEFAULT_MONTHS, help="calendar months of traffic (default 4)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same files)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default data/demo)")
    parser.add_argument("--no-load", action="store_true", help="only write the files, do not ingest them")
    parser.add_argument(
        "--no-forecasts",
        action="store_true",
        help="skip the daily and hourly forecasts and the capacity outlook (minutes on the default world)",
    )
    parser.add_argument(
        "--live", type=Path, default=None, metavar="DIR", help="run the live feeder into landing folder DIR instead"
    )


def _progress(fraction: float, message: str) -> None:
    log.info("%3.0f%% %s", 100 * fraction, message)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.cli import CommandError
    from analytics.demo import build, generate

    warehouse = Path(args.warehouse) if args.warehouse else settings().warehouse_path
    if args.live is not None:
        try:
            feeder = importlib.import_module("analytics.live.feeder")
        except ModuleNotFoundError as exc:
            raise CommandError(f"--live needs analytics.live.feeder, which is not installed ({exc})") from exc
        return feeder.run(landing_dir=Path(args.live), warehouse=warehouse, seed=args.seed)
    if args.subscribers < 10:
        raise CommandError("--subscribers must be at least 10")
    if args.months < 1:
        raise CommandError("--months must be at least 1")
    if args.no_load:
        w = generate(args.out, subscribers=args.subscribers, months=args.months, seed=args.seed, on_progress=_progress)
        return {**w.summary(), "loaded": False}
    result = build(
        warehouse,
        args.out,
        subscribers=args.subscribers,
        months=args.months,
        seed=args.seed,
        on_progress=_progress,
        marts=True,
    )
    if not args.no_forecasts:  # the Forecasts page has charts from the start, as after the app's first start
        from analytics.forecast import pipeline
        from analytics.forecast.command import progress_log

        done = pipeline.refresh(warehouse, progress=progress_log())
        result["forecasts"] = {
            "series_refit": done.series_refit,
            "capacity_rows": done.capacity_rows,
            "seconds": round(done.seconds, 2),
        }
    ingest = result.get("ingest", {})
    result["loaded"] = True
    if isinstance(ingest, dict) and ingest.get("_exit"):
        result["_exit"] = ingest["_exit"]
    return result
