"""``python -m analytics indicators [--month YYYY-MM] [--out FILE]``: per-subscriber indicators.

JSON: ``{"month", "subscribers": [{msisdn, <bandicoot indicators>, <usage indicators>}]}``;
numbers as delivered (the batch interface runs with the operator's rights). ``--out``
writes the same rows as CSV (or Parquet when FILE ends in ``.parquet``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import polars as pl

from analytics import store
from analytics.calendar import parse_month
from analytics.cli import CommandError
from analytics.cluster import ClusterError
from analytics.marketing.report import subscriber_indicators
from analytics.partitioned import cluster_runner as _cluster

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="local calendar month YYYY-MM (default: the whole loaded period)")
    parser.add_argument("--out", type=Path, help="also write the table to this CSV (or .parquet) file")
    parser.add_argument(
        "--cluster",
        metavar="SPEC",
        help="compute share by share of the subscribers on a Dask cluster: local:N or tcp://host:8786 (docs/scale.md)",
    )


def write_table(df: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        df.write_parquet(path)
    else:
        df.write_csv(path)
    log.info("wrote %d rows to %s", df.height, path)


def run(args: argparse.Namespace) -> dict:
    try:
        month = parse_month(args.month) if args.month else None
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    try:
        with store.reader(args.warehouse) as con, _cluster(args.cluster, con, name="indicators") as runner:
            df = subscriber_indicators(con, month=month, runner=runner)
    except ClusterError as exc:
        raise CommandError(str(exc)) from exc
    if args.out:
        write_table(df, args.out)
    return {"month": month.strftime("%Y-%m") if month else None, "subscribers": df.to_dicts()}
