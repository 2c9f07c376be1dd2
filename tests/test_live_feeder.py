"""The demo live feeder: atomic files, an injected outage, a warehouse it can bootstrap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analytics import store
from analytics.live import feeder
from analytics.live.feeder_charges import Charger
from analytics.live.watch import Watcher


def _feed(tmp_path: Path, start: dt.datetime) -> tuple[dict, list[pl.DataFrame], pl.Series]:
    """Six 10-minute files of the own world from ``start``, an outage in files 2 and 3:
    the feeder's totals, the files and the outage region's cells."""
    out = feeder.run(
        landing_dir=tmp_path,
        warehouse=None,
        interval_s=0,
        outage_every=2,
        max_files=6,
        step_s=600,
        demo_dir=None,
        start=start,
    )
    files = sorted(tmp_path.glob("live_*.csv"))
    assert out["files"] == len(files) == 6 and not list(tmp_path.glob("*.tmp"))
    assert len(out["outages"]) == 1
    frames = [pl.read_csv(f, infer_schema=False) for f in files]
    assert sum(f.height for f in frames) == out["rows"]
    region = out["outages"][0]["region"]
    return out, frames, feeder.own_world(7, demo_dir=None)[0].filter(pl.col("region") == region)["cell_id"]


def test_writes_files_atomically_with_an_outage(tmp_path: Path) -> None:
    # a busy hour (a Wednesday, 11:00 UTC): enough calls for the alert rule, so calls fail
    out, frames, cells = _feed(tmp_path, dt.datetime(2026, 12, 2, 11, 0))
    assert out["outages"][0]["kind"] == "calls_fail"

    def failed_share(frame: pl.DataFrame) -> float:
        calls = frame.filter(
            pl.col("cell_id").is_in(cells.implode()) & (pl.col("service") == "voice") & (pl.col("direction") == "out")
        )
        return calls.filter(pl.col("disposition") == "failed").height / max(calls.height, 1)

    assert failed_share(frames[2]) > 0.6 and failed_share(frames[3]) > 0.6
    assert failed_share(frames[0]) < 0.3 and failed_share(frames[5]) < 0.3


def test_a_night_outage_takes_the_sites_down(tmp_path: Path) -> None:
    """At 03:00 too few calls for the alert rule's NER: the outage is a site outage, seen on
    volume (the region's records fall), not failed calls."""
    out, frames, cells = _feed(tmp_path, dt.datetime(2026, 12, 2, 3, 0))
    assert out["outages"][0]["kind"] == "sites_down"

    def in_region(frame: pl.DataFrame) -> int:
        return frame.filter(pl.col("cell_id").is_in(cells.implode())).height

    assert max(in_region(frames[2]), in_region(frames[3])) * 4 < min(in_region(frames[0]), in_region(frames[5]))


@pytest.mark.slow
def test_bootstraps_an_empty_warehouse_and_the_watcher_loads_its_files(tmp_path: Path) -> None:
    wh, landing = tmp_path / "wh.duckdb", tmp_path / "landing"
    out = feeder.run(landing_dir=landing, warehouse=wh, interval_s=0, outage_every=0, max_files=2, demo_dir=None)
    with store.reader(wh) as con:
        history = store.scalar(con, "select count(*) from records")
        cells = store.scalar(con, "select count(*) from cells")
    assert history > 0 and cells > 0  # reference + 22 days of history loaded first
    results = Watcher(landing, warehouse=wh, alerts=False).run_once()
    assert [r["status"] for r in results] == ["loaded", "loaded"]
    with store.reader(wh) as con:
        assert store.scalar(con, "select count(*) from records") == history + out["rows"]
    assert out["outages"] == []


# --- Billed charges = the rating engine's expected charge ---------------------------------

TWO_SMS_PLAN = {**feeder.OWN_PLAN, "plan_id": "T2", "incl_sms": "2", "sms_each": "0.10"}


def _sms(record_id: str, at: str, msisdn: str = "447700900001") -> dict:
    return {
        "record_id": record_id,
        "start_time": at,
        "msisdn": msisdn,
        "other_party": "447100000001",
        "service": "sms",
        "direction": "out",
        "duration_s": "0",
        "cell_id": "N1",
        "charge": "0",
        "disposition": "answered",
        "bytes_up": "0",
        "bytes_down": "0",
        "roaming": "false",
    }


def _charges(charger: Charger, rows: list[dict]) -> list[str]:
    return charger.charge(pl.DataFrame(rows))["charge"].to_list()


def test_charges_spend_the_allowance_across_files_and_restart_each_month() -> None:
    plans = pl.DataFrame([TWO_SMS_PLAN])
    subs = pl.DataFrame({"msisdn": ["447700900001", "447700900002"], "plan_id": ["T2", "NOPE"]})
    charger = Charger(plans, subs, timezone="UTC", home_country="GB")
    assert _charges(charger, [_sms("a", "2026-03-31T10:00:00Z"), _sms("b", "2026-03-31T10:00:05Z")]) == ["0.00", "0.00"]
    # the third message of the month is past the 2 included: sms_each, also in a later file
    assert _charges(charger, [_sms("c", "2026-03-31T10:01:00Z")]) == ["0.10"]
    # a subscriber whose plan is unknown is not rated: 0 (reconciliation counts it as unrated)
    assert _charges(charger, [_sms("d", "2026-03-31T10:02:00Z", "447700900002")]) == ["0.00"]
    # April: a new allowance (one file may straddle the month boundary)
    assert _charges(charger, [_sms("e", "2026-03-31T23:59:59Z"), _sms("f", "2026-04-01T00:00:01Z")]) == ["0.10", "0.00"]
    assert charger.charge(pl.DataFrame(schema={c: pl.String for c in _sms("x", "")})).height == 0


def test_charges_count_the_subscribers_month_in_the_warehouse(tmp_path: Path) -> None:
    from conftest import write_v1

    from analytics.ingest import ingest_files

    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "cells.csv").write_text("cell_id,region,lat,lon\nN1,North,54.9,-1.6\n")
    pl.DataFrame([TWO_SMS_PLAN]).write_csv(ref / "plans.csv")
    (ref / "subscribers.csv").write_text("msisdn,plan_id\n447700900001,T2\n447700900002,T2\n")
    wh = tmp_path / "wh.duckdb"
    loaded = [
        _sms("w1", "2026-03-02T10:00:00Z"),
        _sms("w2", "2026-03-03T10:00:00Z"),
        _sms("w0", "2026-02-27T10:00:00Z", "447700900002"),
    ]
    ingest_files(
        [write_v1(tmp_path / "in.csv", loaded)],
        warehouse=wh,
        cells=ref / "cells.csv",
        plans=ref / "plans.csv",
        subscribers=ref / "subscribers.csv",
    )
    charger = Charger.from_warehouse(wh)
    # 900001 spent both included messages in March already; 900002's February does not count
    assert _charges(
        charger, [_sms("n1", "2026-03-04T10:00:00Z"), _sms("n2", "2026-03-04T10:00:00Z", "447700900002")]
    ) == ["0.10", "0.00"]


@pytest.mark.slow
def test_reconciliation_finds_no_mismatch_in_fed_records(tmp_path: Path) -> None:
    from analytics.billing.reconcile import reconcile

    wh, landing = tmp_path / "wh.duckdb", tmp_path / "landing"
    first = feeder.run(
        landing_dir=landing, warehouse=wh, interval_s=0, outage_every=0, max_files=2, step_s=600, demo_dir=None
    )
    Watcher(landing, warehouse=wh, alerts=False).run_once()
    # a second run learns from the warehouse: its charges continue each subscriber's month there
    out = feeder.run(landing_dir=landing, warehouse=wh, interval_s=0, outage_every=0, max_files=3, step_s=1800)
    assert [r["status"] for r in Watcher(landing, warehouse=wh, alerts=False).run_once()] == ["loaded"] * 3
    with store.reader(wh) as con:
        fed = store.fetch(con, "select record_id, charge from records where record_id like 'L%'")
        summary, mismatches = reconcile(con)
    assert fed.height == first["rows"] + out["rows"]  # both runs' files are in
    assert summary["mismatches"] == 0, mismatches.head(5)
    assert summary["records_checked"] >= fed.height and float(summary["billed_total"]) > 0
    assert fed["charge"].cast(pl.Float64).sum() > 0  # fed records do carry charges


# --- Outages the alert rule can see (issue #17 item 5) ------------------------------------

T0 = dt.datetime(2026, 3, 10, 12, 0, 0)  # a Tuesday noon
DEMO_LIKE_CELLS = pl.DataFrame(
    {
        "cell_id": ["B1", "B2", "Q1", "Q2", "Q3"],
        "region": ["Busy", "Busy", "Quiet1", "Quiet2", "Quiet3"],
        "lat": [51.5, 51.6, 53.8, 55.9, 57.5],
        "lon": [-0.1, -0.2, -1.5, -4.2, -4.2],
    }
)


def _demo_like_warehouse(
    tmp_path: Path, *, last_hour: dt.datetime = T0 - dt.timedelta(hours=1), busy: float = 0.5
) -> Path:
    """Like the demo world: one region whose 15-minute window holds ~45 outgoing calls
    (~190 records; ``busy`` = 0.087: ~8 calls, ~33 records, the 3,000-line world's London),
    three with ~2 calls (~10 records: too few to judge); the hours around T0 in the 4
    previous weeks, and ``last_hour`` of this week, so the feeder learns its profile and
    the bands exist."""
    from analytics.ingest import ingest_files

    quiet = pl.col("region").str.starts_with("Quiet")
    profile = feeder.synthetic_profile(DEMO_LIKE_CELLS).with_columns(
        records_per_hour=pl.col("records_per_hour") * pl.when(quiet).then(0.05).otherwise(busy)
    )
    cells, subs = DEMO_LIKE_CELLS, feeder.own_world(1, demo_dir=None)[1]
    rng = np.random.default_rng(1)
    hours = [last_hour] + [T0 - dt.timedelta(weeks=w) + dt.timedelta(hours=h) for w in range(1, 5) for h in (-1, 0, 1)]
    history = pl.concat(
        [
            feeder.generate(profile, subs["msisdn"], start=at, seconds=3600, rng=rng, id_prefix=f"H{i}-")
            for i, at in enumerate(hours)
        ]
    )
    ref = tmp_path / "ref"
    ref.mkdir()
    cells.write_csv(ref / "cells.csv")
    pl.DataFrame([feeder.OWN_PLAN]).write_csv(ref / "plans.csv")
    subs.write_csv(ref / "subscribers.csv")
    wh = tmp_path / "wh.duckdb"
    out = ingest_files(
        [feeder.write_atomically(history, tmp_path / "history.csv")],
        warehouse=wh,
        cells=ref / "cells.csv",
        plans=ref / "plans.csv",
        subscribers=ref / "subscribers.csv",
    )
    assert out["rows_loaded"] == history.height
    return wh


@pytest.mark.slow
def test_outage_runs_where_the_alert_rule_can_see_it_raises_and_resolves(tmp_path: Path) -> None:
    from analytics.live import alerts

    wh, landing = _demo_like_warehouse(tmp_path), tmp_path / "landing"
    # 5-minute files: 2 normal, the outage (hold 300 s + the 15-minute window = 4 files), 4 to recover
    out = feeder.run(landing_dir=landing, warehouse=wh, seed=3, interval_s=0, outage_every=2, max_files=10, step_s=300)
    results = Watcher(landing, warehouse=wh, marts_idle_s=None).run_once()  # alerts after each file, as live
    assert [r["status"] for r in results] == ["loaded"] * 10
    with store.reader(wh) as con:
        table = alerts.alerts_table(con)
    ner = table.filter(pl.col("kpi") == "ner")
    assert ner.select("region", "direction").rows() == [("Busy", "low")], (out["outages"], table)
    # the only region with calls enough, down for hold + window (the quiet ones are never chosen)
    assert [(o["region"], o["until"] - o["from"]) for o in out["outages"]] == [("Busy", dt.timedelta(minutes=20))]
    outage = out["outages"][0]
    alert = ner.row(0, named=True)
    assert outage["from"] < alert["since_at"] and alert["raised_at"] < outage["until"]  # raised during the outage
    assert outage["until"] < alert["resolved_at"] <= out["clock_end"]
    # no false alert: every alert is the outage region's, begun during it and resolved since
    assert set(table["region"]) == {"Busy"}, table
    assert table["since_at"].min() > outage["from"] and table["since_at"].max() < outage["until"], table
    assert table["resolved_at"].null_count() == 0, table


def test_outage_cycle_lasts_hold_plus_window_then_lets_the_window_clear() -> None:
    # 1-minute files, hold 300 s, 15-minute window: 10 normal, 20 down, 16 normal
    assert feeder.outage_cycle(outage_every=10, step_s=60, hold_s=300, window_s=900) == (10, 20, 46)
    assert feeder.outage_cycle(outage_every=30, step_s=60, hold_s=300, window_s=900) == (30, 30, 90)
    assert feeder.outage_cycle(outage_every=0, step_s=60, hold_s=300, window_s=900) == (0, 0, 0)


@pytest.mark.slow
def test_a_clock_that_jumps_a_quiet_gap_fills_the_window_before_it(tmp_path: Path) -> None:
    from analytics.live import alerts

    # this week's data end at 10:00, a quiet hour: the clock jumps to the busy noon (T0)
    wh, landing = _demo_like_warehouse(tmp_path, last_hour=T0 - dt.timedelta(hours=3)), tmp_path / "landing"
    out = feeder.run(landing_dir=landing, warehouse=wh, interval_s=0, outage_every=0, max_files=5, step_s=120)
    first = pl.read_csv(sorted(landing.glob("live_*.csv"))[0], infer_schema=False)["start_time"].str.to_datetime(
        "%Y-%m-%dT%H:%M:%SZ", time_zone=None
    )
    assert T0 - dt.timedelta(minutes=15) <= first.min() < T0 - dt.timedelta(minutes=14)  # the window before T0
    assert out["clock_end"] == T0 + dt.timedelta(minutes=10)
    Watcher(landing, warehouse=wh, marts_idle_s=None).run_once()
    with store.reader(wh) as con:
        table = alerts.alerts_table(con)
    assert table.is_empty(), table  # not a region-wide loss of traffic in the half-empty first windows


@pytest.mark.slow
def test_site_outage_in_the_app_world_raises_on_volume_and_resolves(tmp_path: Path) -> None:
    """The app's first-start world (3,000 lines): its busiest region carries ~8 outgoing
    calls and ~33 records (~32 subscribers) per 15 minutes, too few calls for NER anywhere.
    The feeder takes that region's sites down (90 % of all its records go) and the volume
    KPIs raise the alert; nothing else does."""
    from analytics.live import alerts

    wh, landing = _demo_like_warehouse(tmp_path, busy=0.087), tmp_path / "landing"
    with store.reader(wh) as con:
        per_window = store.fetch(
            con,
            "select region, count(*) filter (where service = 'voice' and direction = 'out') / 4.0 as calls, "
            "count(*) / 4.0 as recs from records where start_at >= ? and start_at < ? group by all order by region",
            [T0 - dt.timedelta(weeks=1), T0 - dt.timedelta(weeks=1) + dt.timedelta(hours=1)],
        )
    busy = per_window.row(0, named=True)
    assert busy["region"] == "Busy" and busy["calls"] < 10 and 25 < busy["recs"] < 45, per_window
    out = feeder.run(landing_dir=landing, warehouse=wh, seed=3, interval_s=0, outage_every=2, max_files=10, step_s=300)
    results = Watcher(landing, warehouse=wh, marts_idle_s=None).run_once()
    assert [r["status"] for r in results] == ["loaded"] * 10
    with store.reader(wh) as con:
        table = alerts.alerts_table(con)
    assert [(o["region"], o["kind"], o["until"] - o["from"]) for o in out["outages"]] == [
        ("Busy", "sites_down", dt.timedelta(minutes=20))
    ]
    outage = out["outages"][0]
    assert "active_subscribers" in set(table["kpi"]), (out["outages"], table)
    # no false alert: all the outage region's, all low volume, begun during it and resolved since
    assert set(table["region"]) == {"Busy"} and set(table["direction"]) == {"low"}, table
    assert set(table["kpi"]) <= alerts.VOLUME_KPIS, table
    assert table["since_at"].min() > outage["from"] and table["raised_at"].max() < outage["until"], table
    assert table["resolved_at"].null_count() == 0 and table["resolved_at"].min() > outage["until"], table


def test_a_world_too_quiet_for_ner_gets_a_site_outage_where_volume_is_judged() -> None:
    need = feeder.volume_need(band_k=3, relative_floor=0.2)
    # m = 19.3: band lower edge 19.3 - 3 sqrt(19.3) = 6.1 > what is left, 1.93 + 3 sqrt(1.93) = 6.1
    assert need == 19.3
    quiet = pl.col("region").str.starts_with("Quiet")
    profile = feeder.synthetic_profile(DEMO_LIKE_CELLS).with_columns(
        records_per_hour=pl.col("records_per_hour") * pl.when(quiet).then(0.05).otherwise(0.087)
    )
    span = {"start": T0, "end": T0 + dt.timedelta(minutes=20), "window_s": 900}
    assert feeder.judged_regions(profile, **span, min_attempts=10) == []  # ~8 calls per window
    assert feeder.volume_regions(profile, **span, need=need) == ["Busy"]  # ~33 records; the quiet ones ~10
    # at night even Busy is too quiet: no outage rather than one nobody could see
    night = {"start": T0.replace(hour=2), "end": T0.replace(hour=2, minute=20), "window_s": 900}
    assert feeder.volume_regions(profile, **night, need=need) == []
