"""``python -m analytics ingest FILE... [--cells F] [--plans F] [--subscribers F] ...``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from analytics.cli import CommandError
from analytics.cluster import ClusterError
from analytics.ingest import RefusedFile
from analytics.pipeline import load_and_refresh
from analytics.store import WarehouseError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="extract files (CSV, .csv.gz, Parquet)")
    parser.add_argument("--cells", type=Path, help="cells.csv (cell_id, region, lat, lon, ...)")
    parser.add_argument("--plans", type=Path, help="plans.csv (tariff plans)")
    parser.add_argument("--subscribers", type=Path, help="subscribers.csv (msisdn, plan_id, activation_date)")
    parser.add_argument("--home-country", help="ISO 3166-1 alpha-2 home country (default from analytics.toml)")
    parser.add_argument("--format", dest="fmt", help="source format (default: v1, or sniffed from the header)")
    parser.add_argument("--region", help="region for records of formats that carry no cell")
    parser.add_argument("--mapping", type=Path, help="declarative mapping file for a client CSV layout")
    parser.add_argument("--timezone", help="zone of timestamps without offset (default from analytics.toml)")
    parser.add_argument("--no-marts", action="store_true", help="skip the rating and fraud refresh after the load")
    parser.add_argument(
        "--cluster",
        metavar="SPEC",
        help="read, check and write each file on a Dask cluster: local:N or tcp://host:8786 (docs/scale.md)",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not args.files and not (args.cells or args.plans or args.subscribers):
        raise CommandError("nothing to ingest: give extract files and/or --cells/--plans/--subscribers")
    for option in ("cells", "plans", "subscribers", "mapping"):  # the operator's paths: exit 2, before any load
        path = getattr(args, option)
        if path is not None and not path.is_file():
            raise CommandError(f"--{option} {path}: {'a directory' if path.is_dir() else 'no such file'}")
    try:
        report = load_and_refresh(
            args.files,
            marts=not args.no_marts,
            warehouse=args.warehouse,
            cells=args.cells,
            plans=args.plans,
            subscribers=args.subscribers,
            home_country=args.home_country,
            fmt=args.fmt,
            region=args.region,
            mapping=args.mapping,
            timezone=args.timezone,
            cluster=args.cluster,
        )
    except (RefusedFile, WarehouseError, ClusterError) as exc:
        raise CommandError(str(exc)) from exc
    return report.as_json()
