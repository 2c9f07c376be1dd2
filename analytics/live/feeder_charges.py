"""Billed charges of the demo feeder's records: the rating engine's expected charge.

Live files are billed like any extract, so reconciliation must find nothing wrong in them.
A record's expected charge depends on its subscriber's earlier usage in the local month
(allowances are spent in record order), so :class:`Charger` rates each new file together
with the month-to-date records of the subscribers in it:

* rows it already knows (records it fed, history it generated), and
* for a subscriber not seen yet, that subscriber's records of the month in the warehouse
  (``analytics/sql/live_feeder_month.sql`` on the snapshot open when the feeder started;
  the feeder's clock starts after the newest record, so later loads hold only fed rows).

Grain: one row per record in and out (:meth:`Charger.charge` replaces ``charge``). Records
whose subscriber has no known plan are not rated and carry 0 (reconciliation counts them
as unrated). Analytics of the month are done in ``[source] timezone``.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb
import polars as pl

from analytics import store
from analytics.config import settings
from analytics.rating import INPUT_SCHEMA, month_of, rate_records, resolve_plans

log = logging.getLogger(__name__)

INPUT = INPUT_SCHEMA  # rating input columns and their types


def rating_input(frame: pl.DataFrame) -> pl.DataFrame:
    """The rating columns of v1 rows as the feeder writes them (strings, ``start_time``)."""
    out = frame.select(
        "record_id",
        pl.col("start_time").str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%SZ").alias("start_at"),
        "msisdn",
        "service",
        "direction",
        pl.col("duration_s").cast(pl.Int64),
        "disposition",
        pl.col("bytes_up").cast(pl.Int64),
        pl.col("bytes_down").cast(pl.Int64),
        (pl.col("roaming").str.to_lowercase() == "true").alias("is_roaming"),
        pl.lit(None, dtype=pl.String).alias("destination_country"),
        pl.lit(None, dtype=pl.String).alias("plan_id"),
    )
    return out.cast(INPUT)


class Charger:
    """Expected charges for the feeder's files, keeping month-to-date usage per subscriber."""

    def __init__(
        self,
        plans: pl.DataFrame,
        subscribers: pl.DataFrame,
        *,
        source: duckdb.DuckDBPyConnection | None = None,
        timezone: str | None = None,
        home_country: str | None = None,
    ) -> None:
        cfg = settings()
        self.plans, self.subscribers = (
            plans,
            subscribers.select(pl.col("msisdn").cast(pl.String), pl.col("plan_id").cast(pl.String)),
        )
        self.timezone, self.home = timezone or cfg.timezone, home_country or cfg.home_country
        self.source = source
        self.known = pl.DataFrame(schema=INPUT)
        self.fetched: set[str] = set()
        self.month: dt.date | None = None

    @classmethod
    def from_warehouse(cls, warehouse: Path) -> Charger:
        """Plans and subscribers of the warehouse; unseen subscribers' months read from its snapshot."""
        con = store.snapshot_reader(warehouse)
        plans = store.fetch(con, "@plans")
        subs = store.fetch(con, "@subscriber_plans")
        return cls(plans, subs, source=con)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None

    def _month_start_utc(self, month: dt.date) -> dt.datetime:
        from zoneinfo import ZoneInfo

        local = dt.datetime(month.year, month.month, 1, tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(dt.UTC).replace(tzinfo=None)

    def _fetch(self, msisdns: list[str], month: dt.date) -> pl.DataFrame:
        if self.source is None or not msisdns:
            return pl.DataFrame(schema=INPUT)
        rows = store.fetch(
            self.source, "@live_feeder_month", {"since": self._month_start_utc(month), "msisdns": msisdns}
        )
        return rows.select(list(INPUT)).cast(INPUT)

    def rate(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (rating input) with ``expected_charge`` (null without a known plan), input order kept."""
        if rows.height == 0:
            return rows.with_columns(pl.lit(None, dtype=pl.Decimal(18, 4)).alias("expected_charge"))
        month = rows.select(month_of(pl.col("start_at"), self.timezone).min()).item()
        if self.month is None or month > self.month:  # a new month: earlier usage no longer counts
            self.known = self.known.filter(pl.col("start_at") >= self._month_start_utc(month))
            self.fetched, self.month = set(), month
        msisdns = rows["msisdn"].unique().to_list()
        new = [m for m in msisdns if m not in self.fetched]
        fetched = self._fetch(new, month)
        self.fetched.update(new)
        before = pl.concat([self.known.filter(pl.col("msisdn").is_in(msisdns)), fetched]).unique(
            "record_id", keep="first"
        )
        tagged = pl.concat(
            [before.with_columns(pl.lit(False).alias("_new")), rows.with_columns(pl.lit(True).alias("_new"))]
        )
        rated = (
            rate_records(
                resolve_plans(tagged.with_row_index("_pos").lazy(), self.subscribers.lazy()),
                self.plans.lazy(),
                home_country=self.home,
                timezone=self.timezone,
            )
            .filter(pl.col("_new"))
            .sort("_pos")
            .collect()
        )
        self.known = pl.concat([self.known, fetched, rows]).unique("record_id", keep="first")
        log.debug("rated %d fed records with %d earlier ones of their subscribers", rows.height, before.height)
        return rows.with_columns(rated["expected_charge"])

    def charge(self, frame: pl.DataFrame) -> pl.DataFrame:
        """v1 rows with ``charge`` = the expected charge (2 decimals; 0.00 when not rated)."""
        if frame.height == 0:
            return frame
        expected = self.rate(rating_input(frame))["expected_charge"]
        return frame.with_columns(expected.cast(pl.Decimal(18, 2)).fill_null(0).cast(pl.String).alias("charge"))
