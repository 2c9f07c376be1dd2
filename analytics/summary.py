"""The monthly executive summary: the one definition of its figures, read by
``python -m analytics summary`` and by the Executive summary page
(``analytics.dashboard.executive``).

Definitions (the contract's): ``records`` counts the month's loaded records;
``subscribers`` the distinct msisdn among them; ``revenue`` the sum of billed
``charge`` (records without a billed charge add nothing); ``voice_minutes`` the
connected minutes (duration_s / 60, unrounded) of voice records of both directions;
``sms`` the sms and mms records of both directions; ``data_gb`` the
(bytes_up + bytes_down) / 1e9 of data, voip and video records; a record's region is
its cell's (``ROAMING`` for roaming records). ``arpu`` = revenue / subscribers;
``roaming_share`` = roaming records / records (a fraction). The month is a calendar
month in the configured zone (``analytics.toml`` [source] timezone, UTC by default).

Read from the cubes ``usage_monthly_region`` (additive figures and exact distinct
subscribers per region) and ``subscriber_month`` (exact distinct subscribers per month).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import duckdb
import polars as pl

from analytics import store
from analytics.calendar import parse_month
from analytics.cli import CommandError


def latest_month(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    return store.fetch(con, "@summary_latest_month").item()


def region_figures(con: duckdb.DuckDBPyConnection, months: list[dt.date]) -> pl.DataFrame:
    """One row per month x region: records, subscribers, revenue, voice_minutes, sms, data_gb."""
    return store.fetch(con, "@summary_regions", {"months": months})


def month_figures(
    con: duckdb.DuckDBPyConnection, months: list[dt.date], regions: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per requested month, in order: records, subscribers, revenue, arpu,
    voice_minutes, sms, data_gb, roaming_records, roaming_share.

    Additive figures are the sums of the month's region rows; ``subscribers`` and
    roaming come from ``subscriber_month``. ``arpu`` and ``roaming_share`` are 0 when
    their denominator is. ``regions``: :func:`region_figures` of the same months, when the
    caller has them already.
    """
    regions = region_figures(con, months) if regions is None else regions
    subs = store.fetch(con, "@summary_subscribers", {"months": months})
    rows = []
    for month in months:
        r = regions.filter(pl.col("month_date") == month)
        s = subs.filter(pl.col("month_date") == month)
        records = int(r["records"].sum() or 0)
        subscribers = int(s["subscribers"][0]) if s.height else 0
        revenue = float(sum((v or 0) for v in r["revenue"].to_list()))
        rows.append(
            {
                "month_date": month,
                "records": records,
                "subscribers": subscribers,
                "revenue": revenue,
                "arpu": revenue / subscribers if subscribers else 0.0,
                "voice_minutes": float(r["voice_minutes"].sum() or 0.0),
                "sms": int(r["sms"].sum() or 0),
                "data_gb": float(r["data_gb"].sum() or 0.0),
                "roaming_records": int(s["roaming_records"][0]) if s.height else 0,
                "roaming_share": (int(s["roaming_records"][0]) / records) if records and s.height else 0.0,
            }
        )
    schema = {
        "month_date": pl.Date,
        "records": pl.Int64,
        "subscribers": pl.Int64,
        "revenue": pl.Float64,
        "arpu": pl.Float64,
        "voice_minutes": pl.Float64,
        "sms": pl.Int64,
        "data_gb": pl.Float64,
        "roaming_records": pl.Int64,
        "roaming_share": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def monthly_summary(con: duckdb.DuckDBPyConnection, month: dt.date | str | None = None) -> dict[str, Any]:
    """The summary of ``month`` (a date, 'YYYY-MM' or None for the latest loaded month)."""
    if isinstance(month, str):
        month = parse_month(month)
    if month is None:
        month = latest_month(con) or dt.date.today().replace(day=1)
    by_region = region_figures(con, [month])
    t = month_figures(con, [month], by_region).row(0, named=True)
    return {
        "month": month.strftime("%Y-%m"),
        "records": t["records"],
        "subscribers": t["subscribers"],
        "revenue": round(t["revenue"], 4),
        "voice_minutes": t["voice_minutes"],
        "sms": t["sms"],
        "data_gb": t["data_gb"],
        "arpu": round(t["arpu"], 4),
        "roaming_share": t["roaming_share"],
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
