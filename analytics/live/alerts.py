"""KPI alerts: a region's KPI outside its band for ``hold_s`` raises one alert.

One rule for every region at once: the live KPIs of all regions are one frame, the
breaches are a filter on it and the state changes are joins (no per-region code).

State machine per region x KPI x window (tables in analytics/sql/live_schema.sql):

* outside the band (status ``low``/``high``) -> a ``live_breaches`` row (``since_at`` =
  first evaluation that saw it; a flip low <-> high restarts it);
* breach older than ``hold_s`` and no open alert -> one ``live_alerts`` row (raised);
* back inside (or no longer judged: no data, low volume) -> the breach row goes and
  the open alert gets ``resolved_at``.

Volume: ``acd_s`` on fewer than ``min_attempts`` connected calls is not a breach (the
voice ratios' own rule, in bands.py, already leaves them unjudged below that).

Roaming: ``ROAMING`` (records on foreign networks) is not judged on volume (call
attempts, sms, data, active subscribers): how much roaming traffic there is follows who
is abroad, not the health of any network we run, and its history is a handful of trips.
Its voice ratios are judged like any region's (the partner networks' set-up failures).

Suppression: an ASR breach *low* while NER is low in the same region and window is not
raised: the failed calls that lower NER lower ASR too, so the NER alert says it all.

Delivery (optional, ``[live]``): ``webhook_url`` gets one POST of JSON per raised or
resolved alert; ``alert_log`` gets one JSON line per event. Delivery errors are logged,
never raised: the alert is in the warehouse either way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from analytics import store
from analytics.ingest.validate import ROAMING_REGION
from analytics.live.kpis import LiveSettings, live_kpis, options

log = logging.getLogger(__name__)

VOLUME_KPIS = frozenset({"call_attempts", "sms", "data_mb", "active_subscribers"})
BREACH_COLUMNS = [
    "region",
    "kpi",
    "window_name",
    "direction",
    "since_at",
    "last_seen_at",
    "value",
    "band_lower",
    "band_upper",
]


def ensure_live_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(store.sql("live_schema"))


def current_breaches(kpis: pl.DataFrame, *, opts: LiveSettings) -> pl.DataFrame:
    """Region-level rows of the alert window outside their band, after suppression."""
    region = kpis.filter((pl.col("level") == "region") & (pl.col("window_name") == opts.alert_window))
    # ACD is a mean over connected calls (asr x attempts): on a handful a single long call
    # breaks any band, so like the voice ratios it needs min_attempts of them to be judged
    connected = region.filter(pl.col("kpi") == "asr").select(
        "region", "window_name", (pl.col("value") * pl.col("attempts")).round().alias("_connected")
    )
    rows = (
        region.join(connected, on=["region", "window_name"], how="left")
        .filter(
            pl.col("kpi").is_in(list(opts.alert_kpis))
            & pl.col("status").is_in(["low", "high"])
            & ((pl.col("kpi") != "acd_s") | (pl.col("_connected").fill_null(0) >= opts.min_attempts))
            & ~((pl.col("region") == ROAMING_REGION) & pl.col("kpi").is_in(list(VOLUME_KPIS)))
        )
        .drop("_connected")
    )
    ner_low = rows.filter((pl.col("kpi") == "ner") & (pl.col("status") == "low")).select("region", "window_name")
    asr_low = (pl.col("kpi") == "asr") & (pl.col("status") == "low")
    explained = rows.filter(asr_low).join(ner_low, on=["region", "window_name"], how="semi")
    return rows.join(explained.select("region", "kpi", "window_name"), on=["region", "kpi", "window_name"], how="anti")


def evaluate(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.datetime | None = None,
    overrides: Mapping[str, Any] | None = None,
    deliver: bool = True,
) -> dict[str, Any]:
    """Apply the alert rule at ``as_of`` (inside a store.writer block); returns the events.

    ``{"as_of": ..., "breaches": n, "raised": [alert...], "resolved": [alert...]}``.
    """
    opts = options(overrides)
    ensure_live_schema(con)
    window = opts.alert_window
    only = {**(overrides or {}), "windows": {window: opts.windows[window]}}  # the alert window only
    kpis = live_kpis(con, as_of=as_of, levels=("region",), overrides=only)
    when = kpis["as_of_at"].max() if not kpis.is_empty() else None
    if when is None:
        return {"as_of": None, "breaches": 0, "raised": [], "resolved": []}
    breaches = current_breaches(kpis, opts=opts).with_columns(
        direction=pl.col("status"), last_seen_at=pl.lit(when, dtype=pl.Datetime("us"))
    )
    keys = ["region", "kpi", "window_name"]
    before = store.fetch(con, "@live_breaches")
    merged = breaches.join(
        before.select(*keys, pl.col("direction").alias("_dir"), pl.col("since_at").alias("_since")),
        on=keys,
        how="left",
    ).with_columns(
        since_at=pl.when(pl.col("_dir") == pl.col("direction")).then(pl.col("_since")).otherwise(pl.col("last_seen_at"))
    )
    now = merged.select([pl.col(c).cast(before.schema[c]) for c in BREACH_COLUMNS])
    open_alerts = store.fetch(con, "@live_open_alerts")
    still = open_alerts.join(now.select(*keys, "direction"), on=[*keys, "direction"], how="semi")
    to_resolve = open_alerts.join(still.select("alert_id"), on="alert_id", how="anti")
    hold = dt.timedelta(seconds=opts.hold_s)
    to_raise = (
        merged.filter(pl.col("last_seen_at") - pl.col("since_at") >= hold)
        .join(open_alerts.select(*keys, "direction"), on=[*keys, "direction"], how="anti")
        .select(
            *keys,
            "direction",
            "value",
            "expected",
            "band_lower",
            "band_upper",
            "since_at",
            pl.col("last_seen_at").alias("raised_at"),
        )
    )
    updates = open_alerts.join(now.select(*keys, "direction", "value"), on=[*keys, "direction"], how="inner")

    con.execute("begin")
    con.execute("delete from live_breaches")
    con.register("_live_now", now)
    con.execute(
        f"insert into live_breaches ({', '.join(BREACH_COLUMNS)}) select {', '.join(BREACH_COLUMNS)} from _live_now"
    )
    con.unregister("_live_now")
    if not to_resolve.is_empty():
        con.execute(
            "update live_alerts set resolved_at = ? where list_contains(?, alert_id)",
            [when, to_resolve["alert_id"].to_list()],
        )
    if not updates.is_empty():
        con.register("_live_upd", updates.select("alert_id", pl.col("value_right").alias("v")))
        con.execute(
            "update live_alerts set last_value = u.v, last_seen_at = ? from _live_upd u where live_alerts.alert_id = u.alert_id",
            [when],
        )
        con.unregister("_live_upd")
    raised = pl.DataFrame()
    if not to_raise.is_empty():
        con.register("_live_new", to_raise)
        raised = _insert_alerts(con)
        con.unregister("_live_new")
    con.execute("commit")
    resolved = to_resolve.with_columns(resolved_at=pl.lit(when, dtype=pl.Datetime("us")))
    events = {
        "as_of": when,
        "breaches": now.height,
        "raised": raised.to_dicts(),
        "resolved": resolved.to_dicts(),
    }
    for alert in events["raised"]:
        log.warning(
            "alert raised: %s %s %s %.4g outside [%.4g, %.4g] since %s",
            alert["region"],
            alert["kpi"],
            alert["direction"],
            alert["value"],
            alert["band_lower"],
            alert["band_upper"],
            alert["since_at"],
        )
    for alert in events["resolved"]:
        log.info("alert resolved: %s %s since %s, resolved %s", alert["region"], alert["kpi"], alert["since_at"], when)
    if deliver:
        deliver_events(events, opts=opts)
    return events


def _insert_alerts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    con.execute(
        """insert into live_alerts (alert_id, region, kpi, window_name, direction, value, expected,
               band_lower, band_upper, since_at, raised_at, last_value, last_seen_at)
           select nextval('live_alert_id_seq'), region, kpi, window_name, direction, value, expected,
               band_lower, band_upper, since_at, raised_at, value, raised_at from _live_new"""
    )
    # on ``con`` itself: the registered frame is not visible from another cursor
    return con.sql(store.sql("live_raised_alerts")).pl()


def _event_json(kind: str, alert: Mapping[str, Any]) -> dict[str, Any]:
    out = {"event": kind}
    for key, value in alert.items():
        out[key] = value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value
    return out


def deliver_events(events: Mapping[str, Any], *, opts: LiveSettings) -> int:
    """POST each event to the webhook and append it to the log file; returns deliveries made."""
    payloads = [_event_json("raised", a) for a in events["raised"]] + [
        _event_json("resolved", a) for a in events["resolved"]
    ]
    done = 0
    url = opts.webhook_url
    log_file = opts.alert_log
    for payload in payloads:
        body = json.dumps(payload).encode("utf-8")
        if log_file:
            path = Path(log_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(body.decode("utf-8") + "\n")
            done += 1
        if url:
            req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=opts.webhook_timeout_s) as resp:
                    resp.read()
                done += 1
            except OSError as exc:
                log.error("webhook delivery to %s failed: %s", url, exc)
    return done


def alerts_table(con: duckdb.DuckDBPyConnection, *, open_only: bool = False, limit: int = 500) -> pl.DataFrame:
    """Alerts, newest first: one row per alert (empty, same schema, before any evaluation)."""
    if not store.has_table(con, "live_alerts"):
        return pl.DataFrame(
            schema={
                "alert_id": pl.Int64,
                "region": pl.String,
                "kpi": pl.String,
                "window_name": pl.String,
                "direction": pl.String,
                "value": pl.Float64,
                "expected": pl.Float64,
                "band_lower": pl.Float64,
                "band_upper": pl.Float64,
                "since_at": pl.Datetime("us"),
                "raised_at": pl.Datetime("us"),
                "last_value": pl.Float64,
                "last_seen_at": pl.Datetime("us"),
                "resolved_at": pl.Datetime("us"),
            }
        )
    return store.fetch(con, "@live_alerts", {"open_only": open_only, "n": int(limit)})
