"""``python -m analytics segments [--month YYYY-MM] [--out FILE] [--seed N]``.

JSON: ``segments`` (``[{segment, subscribers, ...profile}]``), ``recommendations`` (count of
subscribers offered a cheaper plan), ``estimated_savings`` (their monthly saving, in the
extract's currency), plus ``revenue_impact`` (operator revenue change if all were taken),
``upsell`` (count), ``month``, ``k`` and the silhouette scores. ``--out`` writes one row per
subscriber: msisdn, segment, current_plan, recommended_plan, current_cost,
recommended_cost (month, monthly fee included), saving, then the indicators.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics import store
from analytics.calendar import parse_month
from analytics.cli import CommandError
from analytics.cluster import ClusterError
from analytics.marketing.indicators_command import write_table
from analytics.marketing.report import segment_report
from analytics.partitioned import cluster_runner as _cluster

SEGMENT_KEYS = (
    "segment",
    "subscribers",
    "segment_id",
    "share",
    "revenue",
    "churn_risk_share",
    "recommendations",
    "estimated_savings",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="local calendar month YYYY-MM (default: the latest loaded month)")
    parser.add_argument("--out", type=Path, help="per-subscriber CSV (or .parquet)")
    parser.add_argument("--seed", type=int, help="clustering seed (default from [marketing] seed)")
    parser.add_argument(
        "--cluster",
        metavar="SPEC",
        help="compute share by share of the subscribers on a Dask cluster: local:N or tcp://host:8786 (docs/scale.md)",
    )


def run(args: argparse.Namespace) -> dict:
    try:
        month = parse_month(args.month) if args.month else None
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    options = {"seed": args.seed} if args.seed is not None else None
    try:
        with store.reader(args.warehouse) as con, _cluster(args.cluster, con, name="segments") as runner:
            report = segment_report(con, month=month, options=options, runner=runner)
    except ClusterError as exc:
        raise CommandError(str(exc)) from exc
    if args.out:
        table = report["subscribers"].drop("pc1", "pc2", "segment_id")
        write_table(table, Path(args.out))
    seg = report["segments"]
    keys = [k for k in SEGMENT_KEYS if k in seg.columns]
    profile_cols = [c for c in seg.columns if c.startswith("mean_")]
    segments = [
        {**{k: row[k] for k in keys}, "profile": {c[5:]: row[c] for c in profile_cols}} for row in seg.to_dicts()
    ]
    totals = report["totals"]
    return {**totals, "segments": segments}
