"""``python -m analytics retention --keep-months N [--dry-run] [--as-of DATE]``.

Deletes record-level data older than N months (see :mod:`analytics.security.retention`),
keeps the cubes, writes the compliance report under ``data/reports/`` and audits the run.
``--dry-run`` only shows (and audits) what would go.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import date
from typing import Any

from analytics.cli import CommandError
from analytics.config import settings
from analytics.security.retention import run_retention


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-months", type=int, required=True, help="whole months kept besides the running one")
    parser.add_argument("--dry-run", action="store_true", help="show what would be deleted, delete nothing")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="reference day (default: today)")
    parser.add_argument("--by", default=None, help="who runs it, for the report and audit log (default: OS user)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.keep_months < 1:
        raise CommandError("--keep-months must be at least 1")
    warehouse = args.warehouse or settings().warehouse_path
    if not warehouse.exists():
        raise CommandError(f"no warehouse at {warehouse}")
    by = args.by or f"os:{getpass.getuser()}"
    return run_retention(warehouse, args.keep_months, by=by, dry_run=args.dry_run, as_of=args.as_of)
