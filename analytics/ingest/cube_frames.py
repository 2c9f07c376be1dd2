"""A load's cube aggregates in Polars, from its new rows held in memory.

The same tables as analytics/sql/cubes_refresh.sql computes in SQL, for a one-machine load
into months no other load has records in (cubes.py decides): then every row of the hours
and days the load touched is in the frame, and no Parquet is read back. Grains and
columns are those of the SQL (its comments state them); sums are of integers and
decimals, and distinct subscribers are exact (``n_unique``), so the cubes are identical
whichever path built them.

* ``load_hours``: distinct UTC hours of the load;
* ``load_days``: distinct local day x region x msisdn;
* ``hourly_next``: UTC hour x region x cell ('' for none) x service x direction;
* ``daily_next``: local day x region x service;
* ``load_delta``: local month x msisdn x region with every summed measure of the month grains.
"""

from __future__ import annotations

import polars as pl

SLICE_ROWS = 2_000_000  # rows aggregated at a time (memory: a slice's hash tables)

# the measures of load_delta, as in cubes_refresh.sql
_VOICE = pl.col("service") == "voice"
_SMS = pl.col("service").is_in(["sms", "mms"])
_DATA = pl.col("service").is_in(["data", "voip", "video"])
_OUT = pl.col("direction") == "out"
_IN = pl.col("direction") == "in"


def _count(condition: pl.Expr) -> pl.Expr:
    return condition.cast(pl.Int64).sum()


def _sum_if(column: pl.Expr, condition: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(column).otherwise(0).sum()


def _sum_or_null(column: str) -> pl.Expr:
    """SQL's ``sum``: null when every value is null (Polars would say 0)."""
    return pl.when(pl.col(column).count() > 0).then(pl.col(column).sum())


def _usage_sums() -> dict[str, pl.Expr]:
    """The hour and day grains' shared measures: records, exact distinct subscribers, sums."""
    return {
        "records": pl.len().cast(pl.Int64),
        "subscribers": pl.col("msisdn").n_unique().cast(pl.Int64),
        "duration_s": pl.col("duration_s").sum(),
        "bytes_up": pl.col("bytes_up").sum(),
        "bytes_down": pl.col("bytes_down").sum(),
        "charge": pl.col("charge").sum(),
    }


def with_local_day(rows: pl.LazyFrame, *, timezone: str) -> pl.LazyFrame:
    """``rows`` with ``day_date``, the local calendar day of ``start_at`` (UTC), converted
    once per distinct quarter hour, not per row (every zone's offset is whole quarters)."""
    quarter = pl.col("start_at").dt.truncate("15m")
    at = pl.col("_quarter").dt.replace_time_zone("UTC")
    if timezone != "UTC":
        at = at.dt.convert_time_zone(timezone)
    days = rows.select(quarter.alias("_quarter")).unique().with_columns(day_date=at.dt.date())
    return rows.with_columns(_quarter=quarter).join(days, on="_quarter", how="left").drop("_quarter")


def load_aggregates(rows: pl.DataFrame, *, timezone: str, home_country: str) -> dict[str, pl.DataFrame]:
    """The temp tables cubes_refresh.sql would build from ``rows`` (the load's records,
    at least ``CUBE_COLUMNS``), by name."""
    lf = rows.lazy().with_columns(pl.col("duration_s").cast(pl.Int64))

    def dated(part: pl.LazyFrame) -> pl.LazyFrame:
        return with_local_day(part, timezone=timezone).with_columns(
            month_date=pl.col("day_date").dt.truncate("1mo"), hour_at=pl.col("start_at").dt.truncate("1h")
        )

    def hourly(d: pl.LazyFrame) -> pl.LazyFrame:
        return (
            d.with_columns(pl.col("cell_id").fill_null(""))
            .group_by("hour_at", "region", "cell_id", "service", "direction")
            .agg(
                **_usage_sums(),
                **{
                    d: _count(pl.col("disposition") == d)
                    for d in ("answered", "no_answer", "busy", "failed", "dropped")
                },
            )
        )

    def daily(d: pl.LazyFrame) -> pl.LazyFrame:
        return d.group_by("day_date", "region", "service").agg(**_usage_sums())

    duration, voice_out, voice_in = pl.col("duration_s"), _VOICE & _OUT, _VOICE & _IN

    def delta(d: pl.LazyFrame) -> pl.LazyFrame:
        return d.group_by("month_date", "msisdn", "region").agg(
            records=pl.len().cast(pl.Int64),
            charge=_sum_or_null("charge"),
            sms=_count(_SMS),
            voice_s=_sum_if(duration, _VOICE),
            data_bytes=_sum_if(pl.col("bytes_up") + pl.col("bytes_down"), _DATA),
            voice_out_s=_sum_if(duration, voice_out),
            voice_in_s=_sum_if(duration, voice_in),
            voice_calls_out=_count(voice_out),
            voice_calls_in=_count(voice_in),
            sms_out=_count(_SMS & _OUT),
            sms_in=_count(_SMS & _IN),
            intl_voice_s=_sum_if(duration, voice_out & (pl.col("destination_country") != home_country)),
            roaming_records=_count(pl.col("is_roaming")),
        )

    # Each query runs alone on the streaming engine, over slices of about SLICE_ROWS rows
    # split by a column of its key (so no key spans two slices and every count stays
    # exact): a 10 M-row load's five group-bys at once held about 5 GiB beside the rows.
    parts = max(1, -(-rows.height // SLICE_ROWS))
    hour = pl.col("start_at").dt.truncate("1h")
    queries = {
        "load_hours": (lambda d: d.select("hour_at").unique(), hour),
        "load_days": (lambda d: d.select("day_date", "region", "msisdn").unique(), pl.col("msisdn")),
        "hourly_next": (hourly, hour),
        "daily_next": (daily, pl.col("region")),
        "load_delta": (delta, pl.col("msisdn")),
    }
    out = {}
    whole = dated(lf).collect(engine="streaming").lazy() if parts == 1 else None  # local days once
    for name, (query, key) in queries.items():
        if whole is not None:
            out[name] = query(whole).collect(engine="streaming")
            continue
        slices = [
            query(dated(lf.filter(key.hash(seed=0) % parts == i))).collect(engine="streaming") for i in range(parts)
        ]
        out[name] = pl.concat(slices).unique() if name == "load_hours" else pl.concat(slices)
    return out
