"""Alert persistence across runs, the case workflow and the `fraud` command."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from test_fraud_detectors import data_days, simbox_world, wangiri_world
from test_fraud_support import T0, Records, build, ordinary_line

from analytics import cli, store
from analytics.config import settings
from analytics.fraud import alerts, cases, detect, run_detection
from analytics.fraud.command import parse_since


def fraud_cli(capsys, path, *extra):
    code = cli.main(["fraud", "--warehouse", str(path), "--json", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


@pytest.fixture
def world(tmp_path):
    recs = Records()
    simbox_world(recs)
    wangiri_world(recs)
    ordinary_line(recs, "447700000001", days=12, seed=7)
    return build(tmp_path, recs)


def test_cli_output_is_the_contract_shape(world, capsys):
    out = fraud_cli(capsys, world)
    assert sorted((a["type"], a["msisdn"]) for a in out["alerts"]) == [
        ("sim_box", "447700000009"),
        ("wangiri", "+2250700000001"),
    ]
    scores = [a["score"] for a in out["alerts"]]
    assert scores == sorted(scores, reverse=True)
    for alert in out["alerts"]:
        assert set(alert) == {"type", "msisdn", "score", "first_seen", "last_seen", "evidence"}
        assert alert["first_seen"].endswith("Z") and alert["first_seen"] <= alert["last_seen"]
        assert {"record_ids", "record_count", "cells"} <= set(alert["evidence"])
    assert out["new"] == 2 and out["dismissed"] == 0


@pytest.mark.slow
def test_rerun_merges_by_key_and_dismissed_stays_dismissed(world, capsys):
    fraud_cli(capsys, world)
    with store.reader(world) as con:
        queue = cases.alert_queue(con)
    assert queue["status"].to_list() == ["new", "new"]
    key = "sim_box:447700000009"
    cases.update_case(world, key, "investigating", user="ana")
    cases.update_case(world, key, "dismissed", user="ana", note="known gateway test line")
    again = fraud_cli(capsys, world)
    assert [a["msisdn"] for a in again["alerts"]] == ["+2250700000001"]
    assert again["dismissed"] == 1 and again["new"] == 0
    with store.reader(world) as con:
        queue = cases.alert_queue(con)
        history = cases.case_history(con, key)
        detail = cases.alert_detail(con, key)
        runs = store.scalar(con, "select max(runs) from fraud_alerts")
    assert queue.height == 2 and runs == 2
    assert dict(zip(queue["alert_key"], queue["status"], strict=True)) == {
        key: "dismissed",
        "wangiri:+2250700000001": "new",
    }
    assert history["status"].to_list() == ["investigating", "dismissed"] and history["changed_by"].to_list() == [
        "ana",
        "ana",
    ]
    assert detail["status"] == "dismissed" and detail["changed_by"] == "ana" and detail["evidence"]["calls_out"] == 180


def test_queue_filters(world, capsys):
    fraud_cli(capsys, world)
    with store.reader(world) as con:
        assert cases.alert_queue(con, types=["wangiri"])["alert_key"].to_list() == ["wangiri:+2250700000001"]
        assert cases.alert_queue(con, regions=["NORTH"]).is_empty()
        assert cases.alert_queue(con, start=dt.date(2026, 3, 3)).height == 1  # wangiri was on 03-02 only
        assert cases.alert_queue(con, end=dt.date(2026, 3, 1)).is_empty()
        assert cases.alert_queue(con, statuses=["confirmed"]).is_empty()
        recs = cases.alert_records(con, "wangiri:+2250700000001")
    assert recs.height == 18 and recs["start_at"].is_sorted()


def test_case_status_is_validated(world):
    run_detection(world)
    with pytest.raises(ValueError, match="unknown case status"):
        cases.update_case(world, "sim_box:447700000009", "closed", user="ana")
    with pytest.raises(KeyError):
        cases.update_case(world, "sim_box:nobody", "dismissed", user="ana")


@pytest.mark.slow
def test_incremental_run_keeps_first_seen_of_the_stored_alert(tmp_path, capsys):
    recs = Records()
    m = "447700000080"
    data_days(recs, m, [100] * 10 + [9000])
    path = build(tmp_path, recs)
    first = fraud_cli(capsys, path)["alerts"]
    assert [(a["type"], a["first_seen"]) for a in first] == [("usage_spike", "2026-03-12T12:00:00Z")]
    # a later load: the spike continues the next day; only records since then are examined
    more = Records()
    more.rows = []
    more.add(
        T0 + dt.timedelta(days=11, hours=12), m, "internet", service="data", duration_s=0, bytes_total=6_000_000_000
    )
    more.rows[0]["record_id"] = "LATE0001"
    build(tmp_path, more)
    out = fraud_cli(capsys, path, "--since", "2026-03-13T00:00:00Z")
    assert out["since"] == "2026-03-13T00:00:00Z"
    # 03-13 is a new episode day of its own key (03-12 was before --since)
    assert [a["first_seen"] for a in out["alerts"]] == ["2026-03-13T12:00:00Z"]
    with store.reader(path) as con:
        keys = cases.alert_queue(con)["alert_key"].to_list()
    assert sorted(keys) == [f"usage_spike:{m}:2026-03-12", f"usage_spike:{m}:2026-03-13"]
    # a full rerun sees one two-day episode, merged into the stored 03-12 alert
    fraud_cli(capsys, path)
    with store.reader(path) as con:
        detail = cases.alert_detail(con, f"usage_spike:{m}:2026-03-12")
    assert detail["last_seen_at"] == T0 + dt.timedelta(days=11, hours=12) and detail[
        "first_seen_at"
    ] == T0 + dt.timedelta(days=10, hours=12)


def test_cli_on_a_warehouse_without_records(tmp_path, capsys):
    path = build(tmp_path, Records())
    out = fraud_cli(capsys, path)
    assert out["alerts"] == [] and out["new"] == 0


def test_cli_refuses_bad_since_and_missing_warehouse(tmp_path, world, capsys):
    assert cli.main(["fraud", "--warehouse", str(world), "--since", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
    assert cli.main(["fraud", "--warehouse", str(tmp_path / "none.duckdb"), "--json"]) == 2
    assert "no warehouse" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2026-03-01T14:05:33Z", "UTC", dt.datetime(2026, 3, 1, 14, 5, 33)),
        ("2026-03-01 14:05:33+01:00", "UTC", dt.datetime(2026, 3, 1, 13, 5, 33)),
        ("2026-03-29 03:30:00", "Europe/London", dt.datetime(2026, 3, 29, 2, 30)),  # after the spring-forward
        ("2026-04-01", "Asia/Tokyo", dt.datetime(2026, 3, 31, 15, 0)),  # month boundary in a +09:00 zone
    ],
)
def test_parse_since(text, zone, expected):
    assert parse_since(text, timezone=zone) == expected


def test_irsf_night_and_day_key_follow_the_configured_zone(tmp_path, monkeypatch):
    cfg = tmp_path / "analytics.toml"
    cfg.write_text('[source]\ntimezone = "Asia/Tokyo"\nhome_country = "GB"\n[fraud.irsf]\nmin_calls = 3\n')
    monkeypatch.setenv("ANALYTICS_CONFIG", str(cfg))
    settings.cache_clear()
    try:
        recs = Records()
        # 2026-03-31 16:30Z = 2026-04-01 01:30 in Tokyo: night, and the key's day is April 1st
        for i in range(3):
            recs.add(dt.datetime(2026, 3, 31, 16, 30) + dt.timedelta(minutes=30 * i), "447700000090", "+5355500001",
                     duration_s=1500, destination_country="CU")  # fmt: skip
        found = run_detection(build(tmp_path / "w", recs), types=["irsf"])
    finally:
        settings.cache_clear()
    assert found["alert_key"].to_list() == ["irsf:447700000090:2026-04-01"]
    assert json.loads(found["evidence"][0])["night_calls"] == 3


def test_a_merge_rolled_back_by_its_caller_leaves_no_alert(world):
    """persist runs on the caller's connection: rolled back with the caller's transaction,
    it leaves neither alerts nor cases (it used to commit on a cursor of its own)."""
    with store.writer(world) as con:
        alerts.ensure_fraud_schema(con)
        found = detect(con)
        assert found.height == 2
        with pytest.raises(RuntimeError), store.transaction(con) as cur:
            alerts.persist(cur, found, now=dt.datetime(2026, 4, 1))
            raise RuntimeError("the caller fails after the merge")
        assert store.scalar(con, "select count(*) from fraud_alerts") == 0
        assert store.scalar(con, "select count(*) from fraud_cases") == 0
        merged = alerts.persist(con, found, now=dt.datetime(2026, 4, 1))  # in autocommit it stays
    assert merged["is_new"].to_list() == [True, True]
    with store.reader(world) as con:
        assert store.scalar(con, "select count(*) from fraud_alerts") == 2
