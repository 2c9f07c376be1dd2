"""Incidents: cells and regions whose traffic or ASR fell outside their band.

Each hour of each cell (and of each region, its cells summed) is judged against the band
of its hour-of-week: the same hour 1..``history_weeks`` weeks before (UTC weeks of 168
hours), with the live monitor's robust band (analytics.live.bands: median +- max(k x
1.4826 x MAD, the sampling-noise floor); ratios on fewer than ``min_attempts`` calls are
not judged). An hour is *outside* when its outgoing calls (``call_attempts``) are below
or above their band, or its ``asr`` is below its band. An incident is a run of
consecutive outside hours of one cell or region: ``start_at`` is its first hour,
``end_at`` the hour after its last (exclusive), ``subscribers`` the distinct msisdn with
any record in that place during it.

Hours are zero-filled from a cell's first hour on (a silent cell has 0 calls, not no
row), except hours in which the whole warehouse has no record: a gap in the data, not a
network fault. The ``[live]`` band options apply (docs/live.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import duckdb
import polars as pl

from analytics import store
from analytics.live import kpis as live_kpis
from analytics.live.bands import apply_bands
from analytics.network.kpis import ADDITIVE, hours, summed

log = logging.getLogger(__name__)

WEEK = dt.timedelta(weeks=1)
JUDGED: dict[str, tuple[str, ...]] = {"call_attempts": ("low", "high"), "asr": ("low",)}
LABEL = "%Y-%m-%dT%H:%M"
INCIDENT_SCHEMA: dict[str, pl.DataType] = {
    "incident_id": pl.String,
    "level": pl.String,
    "region": pl.String,
    "cell_id": pl.String,
    "start_at": pl.Datetime("us"),
    "end_at": pl.Datetime("us"),
    "hours": pl.Int64,
    "kpis": pl.String,
    "attempts": pl.Int64,
    "expected_attempts": pl.Float64,
    "asr": pl.Float64,
    "expected_asr": pl.Float64,
}


KEYS = ["level", "region", "cell_id"]


def levels(hourly: pl.LazyFrame) -> pl.LazyFrame:
    """The mart's rows as cell rows and region rows (``level``; region rows sum their cells)."""
    counts = hourly.select("hour_at", "region", "cell_id", *ADDITIVE)
    cells = counts.filter(pl.col("cell_id") != "").with_columns(level=pl.lit("cell"))
    regions = summed(counts, by=["hour_at", "region"]).with_columns(
        level=pl.lit("region"), cell_id=pl.lit(None, pl.String)
    )
    return pl.concat([cells, regions], how="diagonal").select(*KEYS, "hour_at", *ADDITIVE)


def history(hourly: pl.LazyFrame, *, judge_from: dt.datetime, weeks: int) -> pl.LazyFrame:
    """The judged hours with their history: one row per level x region x cell x hour
    (>= ``judge_from``) x ``week_offset`` 0..weeks, holding the counts of that hour
    ``week_offset`` weeks before.

    As if every key were zero-filled over the hours that hold any record from its first
    hour on, without building that grid: an hour whose value is 0 now and in every past
    week cannot break a band of [0, floor], so only the hours within ``weeks`` weeks after
    a non-zero row are judged (most cell-hours of a quiet network are left out)."""
    rows = levels(hourly)
    live = rows.filter(pl.col("records") > 0).select("hour_at").unique().with_columns(_live=pl.lit(True))
    firsts = rows.group_by(KEYS).agg(first_at=pl.col("hour_at").min())
    last = pl.col("hour_at").max()
    targets = (
        pl.concat([rows.select(*KEYS, pl.col("hour_at") + k * WEEK) for k in range(weeks + 1)])
        .unique()
        .join(rows.select(last.alias("_last")), how="cross")
        .filter((pl.col("hour_at") >= judge_from) & (pl.col("hour_at") <= pl.col("_last")))
        .join(live, on="hour_at", how="semi")
        .join(firsts, on=KEYS, how="inner", nulls_equal=True)
        .filter(pl.col("hour_at") >= pl.col("first_at"))
    )
    offsets = pl.LazyFrame({"week_offset": list(range(weeks + 1))}, schema={"week_offset": pl.Int32})
    return (
        targets.join(offsets, how="cross")
        .with_columns(source_at=pl.col("hour_at") - pl.col("week_offset").cast(pl.Int64) * WEEK)
        .join(rows.rename({"hour_at": "source_at"}), on=[*KEYS, "source_at"], how="left", nulls_equal=True)
        .join(live.rename({"hour_at": "source_at"}), on="source_at", how="left")
        # a past hour exists when it held a record, or it is a zero of the key's life
        .filter(
            pl.col("records").is_not_null()
            | (pl.col("_live").fill_null(False) & (pl.col("source_at") >= pl.col("first_at")))
        )
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in ADDITIVE)
        .drop("source_at", "_live", "first_at", "_last")
    )


def judge(framed: pl.LazyFrame, *, opts: live_kpis.LiveSettings) -> pl.DataFrame:
    """Status of ``call_attempts`` and ``asr`` of every judged hour of :func:`history`'s
    frame: one row per level x region x cell x hour x KPI, with ``value``, ``expected``,
    ``band_lower``, ``band_upper``, ``status`` (analytics.live.bands)."""
    long = live_kpis.to_long(
        framed.with_columns(active_subscribers=pl.lit(0, pl.Int64)),  # not judged here
        keys=["hour_at", *KEYS, "week_offset"],
    ).filter(pl.col("kpi").is_in(list(JUDGED)))
    group = ["hour_at", *KEYS, "kpi"]
    # an ASR on too few calls is never judged: leave it out before the band medians
    too_few = long.filter(
        (pl.col("kpi") == "asr") & (pl.col("week_offset") == 0) & (pl.col("attempts") < opts.min_attempts)
    ).select(group)
    banded = (
        long.join(too_few, on=group, how="anti", nulls_equal=True)
        .with_columns(
            window_name=(pl.col("hour_at").dt.epoch("s") // 3600).cast(pl.String)  # one "window" per hour
        )
        .collect()
    )
    if banded.is_empty():
        return pl.DataFrame()
    out = apply_bands(banded.drop("hour_at"), as_of=None, opts=opts)
    return out.with_columns(
        hour_at=pl.from_epoch(pl.col("window_name").cast(pl.Int64) * 3600, time_unit="s").cast(pl.Datetime("us"))
    ).drop("window_name", "as_of_at")


def outside(judged: pl.DataFrame) -> pl.Expr:
    return pl.any_horizontal(
        (pl.col("kpi") == kpi) & pl.col("status").is_in(list(statuses)) for kpi, statuses in JUDGED.items()
    )


def runs(judged: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """Consecutive outside hours of one key grouped into incidents (INCIDENT_SCHEMA)."""
    keys = ["level", "region", "cell_id"]
    if judged.is_empty():
        return pl.DataFrame(schema=INCIDENT_SCHEMA)
    flagged = (
        judged.lazy()
        .filter(outside(judged))
        .group_by([*keys, "hour_at"])
        .agg(kpis=pl.concat_str(pl.col("kpi"), pl.col("status"), separator=" ").sort())
    )
    expected = (
        judged.lazy()
        .group_by([*keys, "hour_at"])
        .agg(
            expected_attempts=pl.col("expected").filter(pl.col("kpi") == "call_attempts").first(),
            expected_asr=pl.col("expected").filter(pl.col("kpi") == "asr").first(),
        )
    )
    return (
        flagged.join(expected, on=[*keys, "hour_at"], how="left", nulls_equal=True)
        .join(
            current.lazy().select(*keys, "hour_at", "attempts", "connected"),
            on=[*keys, "hour_at"],
            how="left",
            nulls_equal=True,
        )
        .sort([*keys, "hour_at"], nulls_last=False)
        .with_columns(
            run=(pl.col("hour_at").diff().over(keys) != pl.duration(hours=1)).fill_null(True).cum_sum().over(keys)
        )
        .group_by([*keys, "run"])
        .agg(
            start_at=pl.col("hour_at").min(),
            end_at=pl.col("hour_at").max() + pl.duration(hours=1),
            hours=pl.len().cast(pl.Int64),
            kpis=pl.col("kpis").list.explode(keep_nulls=False, empty_as_null=False).unique().sort().str.join(", "),
            attempts=pl.col("attempts").sum().cast(pl.Int64),
            connected=pl.col("connected").sum(),
            expected_attempts=pl.col("expected_attempts").sum(),
            expected_asr=pl.col("expected_asr").mean(),
        )
        .with_columns(
            asr=pl.when(pl.col("attempts") > 0).then(pl.col("connected") / pl.col("attempts")),
            incident_id=pl.concat_str(
                "level", "region", pl.col("cell_id").fill_null(""), pl.col("start_at").dt.strftime(LABEL), separator=":"
            ),
        )
        .select([pl.col(c).cast(t) for c, t in INCIDENT_SCHEMA.items()])
        .sort("start_at", "level", "region", "cell_id", nulls_last=False)
        .collect()
    )


def detect(hourly: pl.DataFrame, *, judge_from: dt.datetime, opts: live_kpis.LiveSettings) -> pl.DataFrame:
    """Incidents starting at or after ``judge_from`` in the mart rows ``hourly`` (which must
    also hold the ``history_weeks`` before it, for the bands)."""
    framed = history(hourly.lazy(), judge_from=judge_from, weeks=opts.history_weeks).collect()
    current = framed.filter(pl.col("week_offset") == 0)
    return runs(judge(framed.lazy(), opts=opts), current)


def with_subscribers(con: duckdb.DuckDBPyConnection, found: pl.DataFrame) -> pl.DataFrame:
    """``found`` with ``subscribers``: distinct msisdn with a record in its place and hours."""
    if found.is_empty():
        return found.with_columns(subscribers=pl.lit(0, pl.Int64))
    params = {
        "ids": found["incident_id"].to_list(),
        "regions": found["region"].to_list(),
        "cells": found["cell_id"].to_list(),
        "starts": found["start_at"].to_list(),
        "ends": found["end_at"].to_list(),
        "lo": found["start_at"].min(),
        "hi": found["end_at"].max(),
    }
    counts = store.fetch(con, "@network_incident_subscribers", params)
    return found.join(counts, on="incident_id", how="left").with_columns(
        pl.col("subscribers").fill_null(0).cast(pl.Int64)
    )


def refresh_incidents(
    con: duckdb.DuckDBPyConnection, *, since: dt.datetime, overrides: Mapping[str, Any] | None = None
) -> int:
    """Re-detect the incidents of the hours from ``since`` on and replace the stored ones
    (inside ``store.writer``; the mart must be current). Returns the incidents stored.

    A stored incident still running at ``since`` is re-detected whole: the judged span
    starts at its first hour."""
    opts = live_kpis.options(overrides)
    judge_from = since
    if store.has_table(con, "incidents"):
        open_start = store.fetch(con, "@network_open_incident_start", {"since": since}).item()
        if open_start is not None:
            judge_from = min(judge_from, open_start)
    weeks = opts.history_weeks
    rows = hours(con, from_at=judge_from - weeks * WEEK, to_at=dt.datetime.max)
    found = with_subscribers(con, detect(rows, judge_from=judge_from, opts=opts))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stored = found.with_columns(detected_at=pl.lit(now, dtype=pl.Datetime("us")))
    with store.transaction(con) as cur:
        cur.execute("delete from incidents where end_at > ?", [judge_from])
        if stored.height:
            cur.register("new_incidents", stored.to_arrow())
            cur.execute("insert into incidents by name select * from new_incidents")
            cur.unregister("new_incidents")
    log.info("incidents from %s: %d", judge_from, stored.height)
    return stored.height


def stored_incidents(
    con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date, regions: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Stored incidents overlapping the local days ``start``..``end``, newest first."""
    from analytics.config import settings
    from analytics.network.kpis import period_bounds

    if not store.has_table(con, "incidents"):
        return pl.DataFrame(schema={**INCIDENT_SCHEMA, "subscribers": pl.Int64, "detected_at": pl.Datetime("us")})
    from_at, to_at = period_bounds(start, end, timezone=settings().timezone)
    return store.fetch(con, "@network_incidents", {"from_at": from_at, "to_at": to_at, "regions": list(regions)})


def subscriber_marks(
    con: duckdb.DuckDBPyConnection, msisdn: str, start_at: dt.datetime, end_at: dt.datetime
) -> pl.DataFrame:
    """The subscriber's records in [start_at, end_at) that fell inside an incident of their
    own cell: record_id, incident_id, cell_id, incident_start_at, incident_end_at, incident_kpis."""
    if not store.has_table(con, "incidents"):
        return pl.DataFrame(
            schema={
                "record_id": pl.String,
                "incident_id": pl.String,
                "cell_id": pl.String,
                "incident_start_at": pl.Datetime("us"),
                "incident_end_at": pl.Datetime("us"),
                "incident_kpis": pl.String,
            }
        )
    return store.fetch(con, "@network_subscriber_marks", {"msisdn": msisdn, "start_at": start_at, "end_at": end_at})


def mark_bill(bill: pl.DataFrame, marks: pl.DataFrame) -> pl.DataFrame:
    """``bill`` (one row per record) with ``in_incident`` and ``incident`` (what happened
    at the cell, UTC hours) for the records inside an incident of their cell."""
    label = pl.concat_str(
        pl.lit("cell "),
        "cell_id",
        pl.lit(": "),
        "incident_kpis",
        pl.lit(", "),
        pl.col("incident_start_at").dt.strftime("%Y-%m-%d %H:%M"),
        pl.lit("-"),
        pl.col("incident_end_at").dt.strftime("%H:%M"),
        pl.lit(" UTC"),
    )
    per_record = marks.group_by("record_id").agg(incident=label.str.join("; "))
    return bill.join(per_record, on="record_id", how="left").with_columns(in_incident=pl.col("incident").is_not_null())


def month_marks(con: duckdb.DuckDBPyConnection, msisdn: str, month: dt.date) -> pl.DataFrame:
    """:func:`subscriber_marks` of the local calendar ``month`` (the subscriber lookup's month)."""
    from analytics.billing.rated import month_bounds
    from analytics.config import settings

    start_at, end_at = month_bounds(month, settings().timezone)
    return subscriber_marks(con, msisdn, start_at, end_at)
