"""``python -m analytics reconcile [--month YYYY-MM]``: re-rate records and compare with billed charges.

JSON keys: the contract's ``records_checked``, ``mismatches``, ``billed_total``,
``expected_total``, ``mismatch_record_ids`` (first 1000), plus ``by_class``, ``leakage``,
``overbilling``, ``duplicate_billed_total``, ``not_reconciled`` (null charge),
``unrated`` (no known plan) and ``months``. Without ``--month``, every month with records.

By default the stale months' ratings are stored in ``rated_records`` (a writer, so the
dashboard reads them); ``--no-store`` only reads.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from analytics import store
from analytics.billing.reconcile import reconcile
from analytics.calendar import parse_month
from analytics.cli import CommandError
from analytics.cluster import ClusterError
from analytics.partitioned import cluster_runner

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", default=None, help="calendar month YYYY-MM (default: every month)")
    parser.add_argument("--no-store", action="store_true", help="do not store rated records (read only)")
    parser.add_argument(
        "--cluster",
        metavar="SPEC",
        help="rate share by share of the subscribers on a Dask cluster: local:N or tcp://host:8786 (docs/scale.md)",
    )


def run(args: argparse.Namespace) -> dict:
    try:
        month = parse_month(args.month) if args.month else None
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    path = Path(args.warehouse or store.default_path())
    if not path.exists():
        raise CommandError(f"no warehouse at {path}: run `python -m analytics ingest` or `demo` first")
    try:
        if args.no_store:
            with store.reader(path) as con, cluster_runner(args.cluster, con, name="reconcile") as runner:
                summary, _ = reconcile(con, month, runner=runner)
        else:  # each stale month is rated once, stored, and compared from memory
            with store.writer(path) as con, cluster_runner(args.cluster, con, name="reconcile") as runner:
                summary, _ = reconcile(con, month, refresh=True, runner=runner)
    except ClusterError as exc:
        raise CommandError(str(exc)) from exc
    log.info("reconciled %d records, %d mismatches", summary["records_checked"], summary["mismatches"])
    return summary
