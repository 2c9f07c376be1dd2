"""``python -m analytics fraud [--since TIMESTAMP] [--type T ...]``: detect, store, report.

Output: ``{"alerts": [{type, msisdn, score, first_seen, last_seen, evidence}, ...]}`` (the
contract's shape), the alerts this run found, merged with the stored ones of the same key,
sorted by score; alerts whose case was dismissed are left out and counted in
``dismissed``. ``--since`` examines only records at/after the timestamp (ISO 8601; without
an offset it is in ``[source] timezone``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analytics.cli import CommandError
from analytics.cluster import ClusterError
from analytics.config import settings
from analytics.fraud import alerts, engine


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default=None, help="examine only records at/after this ISO 8601 timestamp")
    parser.add_argument(
        "--type",
        dest="types",
        action="append",
        choices=list(engine.DETECTORS),
        help="run only this detector (repeatable)",
    )
    parser.add_argument(
        "--cluster",
        metavar="SPEC",
        help="run the per-subscriber detectors share by share on a Dask cluster: local:N or "
        "tcp://host:8786 (docs/scale.md)",
    )


def parse_since(text: str | None, *, timezone: str) -> dt.datetime | None:
    """ISO 8601 (date, or timestamp with or without offset) -> naive UTC."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1) if "T" not in text else text.strip())
    except ValueError as exc:
        raise CommandError(f"--since {text!r} is not an ISO 8601 timestamp (e.g. 2026-03-01T00:00:00Z)") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def run(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.warehouse or settings().warehouse_path)
    if not path.exists():
        raise CommandError(f"no warehouse at {path}: run `python -m analytics ingest` or `demo` first")
    since = parse_since(args.since, timezone=settings().timezone)
    try:
        merged = engine.run_detection(path, since=since, types=args.types, cluster=args.cluster)
    except ClusterError as exc:
        raise CommandError(str(exc)) from exc
    shown = merged.filter(merged["status"] != "dismissed") if merged.height else merged
    return {
        "alerts": alerts.to_contract(shown),
        "since": alerts.iso_utc(since),
        "new": int(merged["is_new"].sum() or 0) if merged.height else 0,
        "dismissed": merged.height - shown.height,
    }
