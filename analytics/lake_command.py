"""``python -m analytics migrate`` and ``python -m analytics compact``: the lake's upkeep.

``migrate`` moves the records of a warehouse in the single-file layout (records as a
DuckDB table), and the cubes that live in the lake (``lake.CUBES``), into the lake, with
the counts checked; the first writer to open such a
warehouse does the same. ``compact [--month YYYY-MM]`` merges each month's small files
(daily and live loads) into one sorted file; loads run it on their own for a month that
gathered more than ``lake.COMPACT_MIN_FILES`` small files.
"""

from __future__ import annotations

import argparse
from typing import Any

from analytics import lake, store
from analytics.cli import CommandError
from analytics.config import settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", action="append", default=None, help="compact: only this month (YYYY-MM); repeatable")


def run(args: argparse.Namespace) -> dict[str, Any]:
    warehouse = args.warehouse or settings().warehouse_path
    if not warehouse.exists():
        raise CommandError(f"no warehouse at {warehouse}")
    if args.command == "migrate":
        return _migrate(warehouse)
    with store.writer(warehouse) as con:
        out = lake.compact(con, warehouse, months=args.month)
    return {**out, "delta_version": lake.delta_version(warehouse)}


def _migrate(warehouse) -> dict[str, Any]:
    with store.writer(warehouse, migrate=False) as con:
        if not store.needs_migration(con):
            count = int(store.fetch(con, "@lake_command_record_count").item())
            return {"migrated": False, "records": count, "reason": "already in the lake"}
        out = store.migrate(con, warehouse)
    return {"migrated": True, **out, "delta_version": lake.delta_version(warehouse)}
