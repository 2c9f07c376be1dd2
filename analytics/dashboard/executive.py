"""Executive summary: headline figures of a month with month-over-month and
year-over-year change, region and service breakdowns, top movers and a narrative.

The figures and their definitions are ``analytics.summary``'s (the ones of
``python -m analytics summary``); this module adds the comparisons, breakdowns by
service, movers, the narrative and the printable page. The roaming share is shown in
percent of records.
"""

from __future__ import annotations

import html
from datetime import date
from typing import TypedDict

import duckdb
import polars as pl

from analytics import store, summary
from analytics.calendar import parse_month, shift_month
from analytics.config import settings

# metric key -> (label, unit)
KPIS: dict[str, tuple[str, str]] = {
    "records": ("Records", "records"),
    "subscribers": ("Active subscribers", "subscribers"),
    "revenue": ("Usage revenue", "currency"),
    "arpu": ("ARPU", "currency per subscriber"),
    "voice_minutes": ("Voice minutes", "min"),
    "sms": ("SMS + MMS", "messages"),
    "data_gb": ("Data", "GB"),
    "roaming_share": ("Roaming share", "% of records"),
}


def available_months(con: duckdb.DuckDBPyConnection, *, contiguous: bool = False) -> list[str]:
    """Local months holding records, newest first, as ``YYYY-MM``.

    With ``contiguous``, every month from the first to the last one with data (gaps
    included, so a month without data can be picked and shows as such).
    """
    months = store.fetch(con, "@dashboard_exec_months")["month_date"].to_list()
    if contiguous and months:
        current, last = months[-1], months[0]
        months = []
        while current <= last:
            months.insert(0, current)
            current = shift_month(current, 1)
    return [d.strftime("%Y-%m") for d in months]


def _pct(now: pl.Expr, before: pl.Expr) -> pl.Expr:
    return pl.when(before != 0).then((now - before) / before * 100.0).otherwise(None)


def _kpis(totals: pl.DataFrame, months: dict[str, date]) -> pl.DataFrame:
    t = totals.with_columns(pl.col("roaming_share") * 100.0)
    # a month without records has no figures (None), so its comparisons read "n/a", not -100%
    row = {name: t.filter((pl.col("month_date") == d) & (pl.col("records") > 0)) for name, d in months.items()}
    out = []
    for key, (label, unit) in KPIS.items():
        vals = {name: (float(r[key][0]) if r.height and r[key][0] is not None else None) for name, r in row.items()}
        out.append(
            {
                "metric": key,
                "label": label,
                "unit": unit,
                "value": vals["current"],
                "previous_month": vals["mom"],
                "previous_year": vals["yoy"],
            }
        )
    df = pl.DataFrame(
        out,
        schema={
            "metric": pl.String,
            "label": pl.String,
            "unit": pl.String,
            "value": pl.Float64,
            "previous_month": pl.Float64,
            "previous_year": pl.Float64,
        },
    )
    return df.with_columns(
        _pct(pl.col("value"), pl.col("previous_month")).alias("mom_change_pct"),
        _pct(pl.col("value"), pl.col("previous_year")).alias("yoy_change_pct"),
    )


def _compare(df: pl.DataFrame, key: str, current: date, previous: date) -> pl.DataFrame:
    cur = df.filter(pl.col("month_date") == current).drop("month_date")
    prev = df.filter(pl.col("month_date") == previous).select(
        key, pl.col("records").alias("records_prev"), pl.col("revenue").alias("revenue_prev")
    )
    return (
        cur.join(prev, on=key, how="full", coalesce=True)
        .with_columns(pl.col("records", "revenue", "records_prev", "revenue_prev").fill_null(0))
        .filter((pl.col("records") > 0) | (pl.col("records_prev") > 0))
        .with_columns(
            (pl.col("revenue") - pl.col("revenue_prev")).alias("revenue_change"),
            (pl.col("records") - pl.col("records_prev")).alias("records_change"),
            _pct(pl.col("revenue"), pl.col("revenue_prev")).alias("revenue_change_pct"),
        )
        .sort("revenue", descending=True)
    )


class ExecutiveReport(TypedDict):
    """:func:`month_report`: what the Executive summary page reads."""

    month: str  # YYYY-MM
    kpis: pl.DataFrame  # one row per metric: value, previous month, previous year, % changes
    regions: pl.DataFrame  # one row per region of the month and the previous one
    services: pl.DataFrame  # one row per service
    movers: pl.DataFrame  # the regions and services with the largest absolute revenue change
    narrative: str
    has_data: bool


def month_report(con: duckdb.DuckDBPyConnection, month: str, *, movers: int = 5) -> ExecutiveReport:
    """Everything the executive page shows for ``month`` (``YYYY-MM``).

    Keys: ``month``, ``kpis`` (one row per metric: value, previous month, previous
    year, % changes), ``regions`` (one row per region of the month and the previous
    one), ``services`` (one row per service), ``movers`` (the regions and services
    with the largest absolute revenue change), ``narrative`` (text), ``has_data``.
    """
    current = parse_month(month)
    months = {"current": current, "mom": shift_month(current, -1), "yoy": shift_month(current, -12)}
    kpis = _kpis(summary.month_figures(con, list(months.values())), months)
    pair = [months["current"], months["mom"]]
    regions = _compare(
        summary.region_figures(con, pair).with_columns(pl.col("revenue").cast(pl.Float64)),
        "region",
        current,
        months["mom"],
    )
    services = _compare(
        store.fetch(con, "@dashboard_exec_services", {"months": pair}), "service", current, months["mom"]
    )
    moved = (
        pl.concat(
            [
                regions.select(
                    pl.lit("region").alias("dimension"),
                    pl.col("region").alias("name"),
                    "revenue",
                    "revenue_prev",
                    "revenue_change",
                    "revenue_change_pct",
                    "records_change",
                ),
                services.select(
                    pl.lit("service").alias("dimension"),
                    pl.col("service").alias("name"),
                    "revenue",
                    "revenue_prev",
                    "revenue_change",
                    "revenue_change_pct",
                    "records_change",
                ),
            ]
        )
        .filter(pl.col("revenue_change") != 0)
        .sort(pl.col("revenue_change").abs(), descending=True)
        .head(movers)
    )
    has_data = kpis.filter(pl.col("metric") == "records")["value"][0] is not None
    return {
        "month": month,
        "kpis": kpis,
        "regions": regions,
        "services": services,
        "movers": moved,
        "narrative": narrative(month, kpis, moved) if has_data else "",
        "has_data": has_data,
    }


def _money(x: float) -> str:
    sign = "-" if x < 0 else ""
    digits = 0 if abs(x) >= 10_000 else 2
    return f"{sign}{settings().currency} {abs(x):,.{digits}f}"


def narrative(month: str, kpis: pl.DataFrame, movers: pl.DataFrame) -> str:
    """A few sentences: how revenue and traffic moved, and which regions/services drove it."""
    k = {r["metric"]: r for r in kpis.iter_rows(named=True)}
    label = parse_month(month).strftime("%B %Y")
    prev_label = shift_month(parse_month(month), -1).strftime("%B %Y")
    rev = k["revenue"]
    parts = [
        f"In {label} usage revenue was {_money(rev['value'] or 0)} from {int(k['records']['value'] or 0):,} records by {int(k['subscribers']['value'] or 0):,} active subscribers."
    ]
    if rev["previous_month"]:
        delta = (rev["value"] or 0) - rev["previous_month"]
        direction = "up" if delta >= 0 else "down"
        parts.append(
            f"That is {direction} {abs(rev['mom_change_pct']):.1f}% ({'+' if delta >= 0 else '-'}{_money(abs(delta))}) on {prev_label}."
        )
        if movers.height:
            same_sign = movers.filter((pl.col("revenue_change") >= 0) == (delta >= 0))
            top = (same_sign if same_sign.height else movers).head(3)
            named = ", ".join(
                f"{r['name']} ({r['dimension']}, {'+' if r['revenue_change'] >= 0 else '-'}{_money(abs(r['revenue_change']))})"
                for r in top.iter_rows(named=True)
            )
            parts.append(f"The largest contributors to the change: {named}.")
    else:
        parts.append(f"There is no data for {prev_label} to compare with.")
    moves = []
    for key in ("voice_minutes", "data_gb", "sms"):
        pct = k[key]["mom_change_pct"]
        if pct is not None and abs(pct) >= 1:
            moves.append(f"{k[key]['label'].lower()} {'+' if pct >= 0 else ''}{pct:.1f}%")
    if moves:
        parts.append("Traffic month over month: " + ", ".join(moves) + ".")
    yoy = rev["yoy_change_pct"]
    if yoy is not None:
        parts.append(f"Year over year, revenue is {'up' if yoy >= 0 else 'down'} {abs(yoy):.1f}%.")
    return " ".join(parts)


def printable_html(report: dict[str, object]) -> str:
    """A self-contained HTML page of the month's figures, for printing or mailing."""
    kpis: pl.DataFrame = report["kpis"]  # type: ignore[assignment]
    regions: pl.DataFrame = report["regions"]  # type: ignore[assignment]

    def fmt(v: object, digits: int = 1) -> str:
        return "" if v is None else (f"{v:,.{digits}f}" if isinstance(v, float) else html.escape(str(v)))

    def table(df: pl.DataFrame) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
        body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in df.iter_rows())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    k = kpis.select("label", "unit", "value", "previous_month", "mom_change_pct", "previous_year", "yoy_change_pct")
    r = regions.select("region", "records", "revenue", "revenue_prev", "revenue_change_pct")
    style = "body{font-family:sans-serif;margin:2em;color:#111;background:#fff}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:4px 8px;text-align:right}th{background:#eee}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Executive summary {html.escape(str(report['month']))}</title>"
        f"<style>{style}</style></head><body><h1>Executive summary: {html.escape(str(report['month']))}</h1>"
        f"<p>{html.escape(str(report['narrative']))}</p><h2>Headline figures (currency {settings().currency})</h2>{table(k)}"
        f"<h2>By region</h2>{table(r)}</body></html>"
    )
