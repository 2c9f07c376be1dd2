"""``python -m analytics watch DIR``: load new files from a landing folder as they arrive."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from analytics.live.watch import Watcher


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("landing_dir", type=Path, metavar="DIR", help="the landing folder to watch")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    parser.add_argument("--once", action="store_true", help="process the files ready now and exit")
    parser.add_argument(
        "--markers",
        choices=("auto", "always", "never"),
        default="auto",
        help="require a <file>.done marker: always, never, or auto (once any marker was seen)",
    )
    parser.add_argument("--no-alerts", action="store_true", help="do not evaluate KPI alerts after loads")
    parser.add_argument(
        "--marts-idle",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="refresh the marts (billing, segments, fraud) once no file has loaded for this long (default 60)",
    )
    parser.add_argument("--no-marts", action="store_true", help="never refresh the marts")


def run(args: argparse.Namespace) -> dict[str, Any]:
    watcher = Watcher(
        args.landing_dir,
        warehouse=args.warehouse,
        markers=args.markers,
        alerts=not args.no_alerts,
        marts_idle_s=None if args.no_marts else args.marts_idle,
    )
    return watcher.run(interval_s=args.interval, once=args.once)
