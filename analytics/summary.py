"""The monthly executive summary (``python -m analytics summary``).

Definitions (the contract's): ``records`` counts the month's loaded records;
``subscribers`` the distinct msisdn among them; ``revenue`` the sum of billed
``charge`` (records without a billed charge add nothing); ``voice_minutes`` the
connected minutes (duration_s / 60, unrounded) of voice records of both directions;
``sms`` the sms and mms records of both directions; ``data_gb`` the
(bytes_up + bytes_down) / 1e9 of data, voip and video records; a record's region is
its cell's (``ROAMING`` for roaming records). The month is a calendar month in the
configured zone (``analytics.toml`` [source] timezone, UTC by default).

Read from the cubes ``usage_monthly_region`` (exact distinct subscribers per region)
and ``subscriber_month`` (exact distinct subscribers per month).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import duckdb

from analytics import store
from analytics.calendar import parse_month
from analytics.cli import CommandError


def latest_month(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    return store.scalar(con, "select max(month_date) from usage_monthly_region")


def monthly_summary(con: duckdb.DuckDBPyConnection, month: dt.date | str | None = None) -> dict[str, Any]:
    """The summary of ``month`` (a date, 'YYYY-MM' or None for the latest loaded month)."""
    if isinstance(month, str):
        month = parse_month(month)
    if month is None:
        month = latest_month(con) or dt.date.today().replace(day=1)
    by_region = store.fetch(con, "@summary_month", {"month": month})
    totals = store.fetch(con, "@summary_totals", {"month": month}).row(0, named=True)
    revenue = sum((r or 0) for r in by_region["revenue"].to_list())
    records = int(by_region["records"].sum() or 0)
    subscribers = int(totals["subscribers"] or 0)
    return {
        "month": month.strftime("%Y-%m"),
        "records": records,
        "subscribers": subscribers,
        "revenue": round(float(revenue), 4),
        "voice_minutes": float(by_region["voice_minutes"].sum() or 0.0),
        "sms": int(by_region["sms"].sum() or 0),
        "data_gb": float(by_region["data_gb"].sum() or 0.0),
        "arpu": round(float(revenue) / subscribers, 4) if subscribers else 0.0,
        "roaming_share": (int(totals["roaming_records"]) / records) if records else 0.0,
        "by_region": [
            {
                "region": r["region"],
                "records": int(r["records"]),
                "revenue": round(float(r["revenue"]), 4),
                "subscribers": int(r["subscribers"]),
                "voice_minutes": float(r["voice_minutes"]),
                "sms": int(r["sms"]),
                "data_gb": float(r["data_gb"]),
            }
            for r in by_region.iter_rows(named=True)
        ],
    }


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="YYYY-MM (default: the latest loaded month)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        month = parse_month(args.month) if args.month else None
    except ValueError as exc:
        raise CommandError(f"--month: {exc}") from exc
    try:
        with store.reader(args.warehouse) as con:
            return monthly_summary(con, month)
    except store.WarehouseError as exc:
        raise CommandError(str(exc)) from exc
