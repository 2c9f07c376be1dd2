"""Each detector on small hand-built worlds: the scheme is found, honest look-alikes are not."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from test_fraud_support import T0, Records, build, ordinary_line

from analytics import store
from analytics.fraud import detect


def run(path, types, **kwargs):
    with store.reader(path) as con:
        found = detect(con, types=types, **kwargs)
    return found


def evidence(found, msisdn):
    row = found.filter(found["msisdn"] == msisdn)
    assert row.height == 1, found
    return json.loads(row["evidence"][0])


# --- sim_box -------------------------------------------------------------------------------


def simbox_world(recs: Records, msisdn: str = "447700000009", *, start: dt.datetime = T0) -> list[str]:
    ids = []
    for d in range(3):
        for i in range(60):
            ids.append(
                recs.add(
                    start + dt.timedelta(days=d, hours=8, minutes=5 * i), msisdn, f"+4477{d}{i:06d}", duration_s=90
                )
            )
    return ids


def test_sim_box_found_with_its_evidence(tmp_path):
    recs = Records()
    ordinary_line(recs, "447700000001", days=20, seed=1)
    ids = simbox_world(recs, start=T0 + dt.timedelta(days=16))
    found = run(build(tmp_path, recs), ["sim_box"])
    assert found["msisdn"].to_list() == ["447700000009"]
    ev = evidence(found, "447700000009")
    assert (ev["calls_out"], ev["distinct_contacts"], ev["calls_in"], ev["active_days"]) == (180, 180, 0, 3)
    assert ev["cells"] == ["C1"] and ev["record_count"] == 180 and ev["record_ids"] == ids
    assert ev["newly_active"] is True  # first record 16 days after the data starts (>= 14)
    row = found.row(0, named=True)
    assert row["alert_key"] == "sim_box:447700000009"
    assert row["first_seen_at"] == T0 + dt.timedelta(days=16, hours=8)
    assert row["last_seen_at"] == T0 + dt.timedelta(days=18, hours=8, minutes=295)
    assert 0.5 <= row["score"] <= 1.0


def test_call_centre_with_incoming_traffic_is_not_a_sim_box(tmp_path):
    recs = Records()
    for d in range(3):
        for i in range(60):
            recs.add(
                T0 + dt.timedelta(days=d, hours=8, minutes=5 * i), "447700000020", f"+4477{d}{i:06d}", duration_s=120
            )
        for i in range(40):  # customers calling in
            recs.add(
                T0 + dt.timedelta(days=d, hours=9, minutes=7 * i),
                "447700000020",
                f"+4478{d}{i:06d}",
                direction="in",
                duration_s=200,
            )
    ordinary_line(recs, "447700000001", days=3, seed=2)
    assert run(build(tmp_path, recs), ["sim_box"]).is_empty()


def test_sim_box_with_data_usage_or_many_cells_is_not_flagged(tmp_path):
    recs = Records()
    for d in range(3):
        for i in range(60):
            recs.add(T0 + dt.timedelta(days=d, hours=8, minutes=5 * i), "447700000030", f"+4477{d}{i:06d}",
                     duration_s=90, cell_id=f"C{1 + i % 5}")  # fmt: skip
    assert run(build(tmp_path, recs), ["sim_box"]).is_empty()


def test_since_after_the_activity_examines_nothing_of_it(tmp_path):
    recs = Records()
    simbox_world(recs)
    ordinary_line(recs, "447700000001", days=10, seed=3)
    path = build(tmp_path, recs)
    assert run(path, ["sim_box"], since=T0 + dt.timedelta(days=1)).height == 1  # 2 days still qualify
    assert run(path, ["sim_box"], since=T0 + dt.timedelta(days=3)).is_empty()


# --- irsf ----------------------------------------------------------------------------------


def test_irsf_night_burst_to_high_risk_destinations(tmp_path):
    recs = Records()
    ordinary_line(recs, "447700000040", days=12, seed=4)
    burst_at = T0 + dt.timedelta(days=10, hours=1)
    ids = [
        recs.add(
            burst_at + dt.timedelta(minutes=20 * i),
            "447700000040",
            f"+53555{i:04d}",
            duration_s=900,
            destination_country="CU" if i % 2 else "SO",
        )  # fmt: skip
        for i in range(6)
    ]
    # a long call to a country not on the list does not count
    recs.add(burst_at, "447700000041", "+33612345678", duration_s=7200, destination_country="FR")
    found = run(build(tmp_path, recs), ["irsf"])
    assert found["alert_key"].to_list() == ["irsf:447700000040:2026-03-12"]
    ev = evidence(found, "447700000040")
    assert ev["calls"] == 6 and ev["minutes"] == 90.0 and ev["night_calls"] == 6
    assert sorted(ev["destinations"]) == ["CU", "SO"] and ev["prior_calls"] == 0
    assert ev["record_ids"] == ids
    assert found["score"][0] == pytest.approx(0.5 + 0.2 * (1.5 - 1) / 3 + 0.15 + 0.15, abs=1e-4)


def test_irsf_usual_for_the_line_is_not_flagged(tmp_path):
    recs = Records()
    # a diaspora line: 20 minutes to Somalia every day for 30 days ...
    for d in range(30):
        recs.add(
            T0 + dt.timedelta(days=d, hours=19),
            "447700000050",
            "+252611000001",
            duration_s=1200,
            destination_country="SO",
        )
    # ... then a longer evening: 5 calls, 100 minutes (< 10 x its 20 min daily average)
    for i in range(5):
        recs.add(T0 + dt.timedelta(days=30, hours=18, minutes=25 * i), "447700000050", "+252611000001",
                 duration_s=1200, destination_country="SO")  # fmt: skip
    assert run(build(tmp_path, recs), ["irsf"]).is_empty()


def test_irsf_short_calls_are_not_a_burst(tmp_path):
    recs = Records()
    for i in range(8):
        recs.add(
            T0 + dt.timedelta(hours=2, minutes=10 * i),
            "447700000060",
            "+5355500001",
            duration_s=30,
            destination_country="CU",
        )
    assert run(build(tmp_path, recs), ["irsf"]).is_empty()


# --- wangiri -------------------------------------------------------------------------------


def wangiri_world(recs: Records, number: str = "+2250700000001", *, targets: int = 15, callbacks: int = 3) -> None:
    for i in range(targets):
        recs.add(T0 + dt.timedelta(hours=3, minutes=i), f"4477001{i:05d}", number, direction="in", duration_s=0,
                 disposition="no_answer")  # fmt: skip
    for i in range(callbacks):
        recs.add(
            T0 + dt.timedelta(hours=9, minutes=i), f"4477001{i:05d}", number, duration_s=45, destination_country="CI"
        )


def test_wangiri_names_the_foreign_number_and_counts_callbacks(tmp_path):
    recs = Records()
    wangiri_world(recs)
    ordinary_line(recs, "447700000001", days=2, seed=5)
    found = run(build(tmp_path, recs), ["wangiri"])
    assert found["msisdn"].to_list() == ["+2250700000001"]
    ev = evidence(found, "+2250700000001")
    assert (ev["rings"], ev["unanswered"], ev["distinct_targets"], ev["callbacks"], ev["callback_lines"]) == (
        15,
        15,
        15,
        3,
        3,
    )
    assert ev["record_count"] == 18
    row = found.row(0, named=True)
    assert row["first_seen_at"] == T0 + dt.timedelta(hours=3)
    assert row["last_seen_at"] == T0 + dt.timedelta(hours=9, minutes=2, seconds=45)
    assert row["score"] == pytest.approx(0.5 + 0.25 * (0.5 / 4) + 0.25, abs=1e-4)


@pytest.mark.parametrize(
    ("number", "disposition", "duration_s", "targets"),
    [
        ("+447911000001", "no_answer", 0, 15),  # a domestic number (home calling code)
        ("07911000001", "no_answer", 0, 15),  # national format
        ("+2250700000001", "answered", 180, 15),  # a foreign business whose calls are answered
        ("+2250700000001", "no_answer", 0, 4),  # too few subscribers rung
    ],
)
def test_wangiri_look_alikes_not_flagged(tmp_path, number, disposition, duration_s, targets):
    recs = Records()
    for i in range(targets):
        recs.add(T0 + dt.timedelta(hours=3, minutes=i), f"4477001{i:05d}", number, direction="in",
                 duration_s=duration_s, disposition=disposition)  # fmt: skip
    assert run(build(tmp_path, recs), ["wangiri"]).is_empty()


# --- sim_clone -----------------------------------------------------------------------------


def test_clone_on_two_interleaved_handsets(tmp_path):
    recs = Records()
    for i in range(10):
        recs.add(
            T0 + dt.timedelta(hours=i),
            "447700000070",
            "+447700900001",
            imei="35000000000000A" if i % 2 else "35000000000000B",
        )
    found = run(build(tmp_path, recs), ["sim_clone"])
    ev = evidence(found, "447700000070")
    assert ev["imei_switches"] == 9 and sorted(ev["imeis"]) == ["35000000000000A", "35000000000000B"]
    assert ev["kind"] == "imei" and ev["impossible_hops"] == 0


def test_handset_change_is_not_a_clone(tmp_path):
    recs = Records()
    for i in range(20):
        recs.add(
            T0 + dt.timedelta(hours=i),
            "447700000071",
            "+447700900001",
            imei="35000000000000A" if i < 10 else "35000000000000B",
        )
    assert run(build(tmp_path, recs), ["sim_clone"]).is_empty()


def test_clone_by_impossible_travel(tmp_path):
    recs = Records()
    for i in range(8):  # London and Edinburgh (534 km) every 10 minutes
        recs.add(
            T0 + dt.timedelta(minutes=10 * i), "447700000072", "+447700900001", cell_id="C1" if i % 2 == 0 else "C4"
        )
    found = run(build(tmp_path, recs), ["sim_clone"])
    ev = evidence(found, "447700000072")
    assert ev["impossible_hops"] == 7 and ev["kind"] == "travel"
    assert ev["max_km"] == pytest.approx(534.0, abs=5.0)
    assert sorted(ev["cells"]) == ["C1", "C4"] and ev["record_count"] == 8


def test_traveller_with_plausible_speed_and_roaming_is_not_a_clone(tmp_path):
    recs = Records()
    m = "447700000073"
    recs.add(T0 + dt.timedelta(hours=8), m, "+447700900001", cell_id="C1")
    recs.add(T0 + dt.timedelta(hours=11), m, "+447700900001", cell_id="C3")  # train to Manchester, 87 km/h
    recs.add(T0 + dt.timedelta(hours=14), m, "+447700900001", cell_id="C3")
    recs.add(T0 + dt.timedelta(hours=15, minutes=30), m, "+447700900001", cell_id="C1")  # flight home, 175 km/h
    recs.add(T0 + dt.timedelta(days=1, hours=9), m, "+447700900001", cell_id="FR-0001", roaming=True)  # abroad
    recs.add(T0 + dt.timedelta(days=1, hours=9, minutes=5), m, "+33612345678", cell_id="", roaming=True)
    recs.add(T0 + dt.timedelta(days=3, hours=9), m, "+447700900001", cell_id="C4")
    assert run(build(tmp_path, recs), ["sim_clone"]).is_empty()


# --- usage_spike ---------------------------------------------------------------------------


def data_days(recs: Records, msisdn: str, mbs: list[int], *, start: dt.datetime = T0) -> list[str]:
    return [
        recs.add(
            start + dt.timedelta(days=d, hours=12),
            msisdn,
            "internet",
            service="data",
            duration_s=0,
            bytes_total=mb * 1_000_000,
        )
        for d, mb in enumerate(mbs)
    ]


def test_data_spike_against_the_lines_own_history(tmp_path):
    recs = Records()
    ids = data_days(recs, "447700000080", [100, 110, 90, 105, 95, 100, 120, 80, 100, 12000])
    found = run(build(tmp_path, recs), ["usage_spike"])
    assert found["alert_key"].to_list() == ["usage_spike:447700000080:2026-03-11"]
    ev = evidence(found, "447700000080")
    assert ev["metrics"] == ["data_mb"] and ev["days"] == 1 and ev["record_ids"] == [ids[-1]]
    # 9 calendar days of history: k = ceil(0.1 * 9) = 1, the usual high day is the largest (120 MB)
    assert ev["daily"][0]["data_level"] == 120.0 and ev["baseline"] == "own"
    assert ev["max_ratio"] == pytest.approx(100.0, abs=0.1)
    assert found["score"][0] == pytest.approx(0.8, abs=1e-3)  # ratio >= 10x the threshold, one day


def test_one_off_big_download_is_not_a_spike(tmp_path):
    recs = Records()
    for k, mb in enumerate([2000, 3000, 4000, 6000]):  # one ordinary day of an OS update, a game...
        data_days(recs, f"44770000009{k}", [100 + 7 * d for d in range(20)] + [mb] + [100] * 5)
    assert run(build(tmp_path, recs), ["usage_spike"]).is_empty()


def test_light_line_bursting_tens_of_gb_for_two_days(tmp_path):
    recs = Records()
    m = "447700000095"
    for week in range(5):  # active one day a week: 5 active days, but 29 calendar days of history
        data_days(recs, m, [30], start=T0 + dt.timedelta(days=7 * week))
    data_days(recs, m, [25_000, 31_000], start=T0 + dt.timedelta(days=33))
    found = run(build(tmp_path, recs), ["usage_spike"])
    assert found["alert_key"].to_list() == [f"usage_spike:{m}:2026-04-04"]
    ev = evidence(found, m)
    assert ev["days"] == 2 and ev["baseline"] == "own" and [d["data_level"] for d in ev["daily"]] == [30.0, 30.0]


def test_new_line_without_history_against_its_peer_group(tmp_path):
    recs = Records()
    for k in range(4):
        data_days(recs, f"44770000010{k}", [200 + 20 * d for d in range(20)])
    new = "447700000110"
    data_days(recs, new, [150, 30_000, 28_000], start=T0 + dt.timedelta(days=17))
    found = run(build(tmp_path, recs), ["usage_spike"])
    assert found["msisdn"].to_list() == [new]
    ev = evidence(found, new)
    assert ev["baseline"] == "peer" and ev["days"] == 2


def test_streamer_heavy_every_day_is_its_own_baseline(tmp_path):
    recs = Records()
    data_days(recs, "447700000081", [8000 + (d * 337) % 2000 for d in range(30)])
    assert run(build(tmp_path, recs), ["usage_spike"]).is_empty()


def test_spike_needs_enough_history(tmp_path):
    recs = Records()
    data_days(recs, "447700000082", [100, 100, 100, 100, 100, 100, 9000])  # 6 baseline days < 7
    assert run(build(tmp_path, recs), ["usage_spike"]).is_empty()


def test_voice_spike_episode_spans_consecutive_days(tmp_path):
    recs = Records()
    m = "447700000083"
    for d in range(12):
        minutes = [10] * 10 + [300, 280]
        recs.add(T0 + dt.timedelta(days=d, hours=10), m, "+447700900001", duration_s=minutes[d] * 60)
    found = run(build(tmp_path, recs), ["usage_spike"])
    assert found["alert_key"].to_list() == [f"usage_spike:{m}:2026-03-12"]
    ev = evidence(found, m)
    assert (
        ev["days"] == 2
        and ev["metrics"] == ["voice_min"]
        and [x["day"] for x in ev["daily"]] == ["2026-03-12", "2026-03-13"]
    )


# --- all together --------------------------------------------------------------------------


def test_ordinary_lines_raise_nothing_and_empty_warehouse_keeps_schema(tmp_path):
    recs = Records()
    for k in range(6):
        ordinary_line(recs, f"44770000010{k}", days=30, seed=10 + k, cell_id=f"C{1 + k % 5}")
    found = run(build(tmp_path / "a", recs), None)
    assert found.is_empty()
    empty = run(build(tmp_path / "b", Records()), None)
    assert empty.is_empty() and empty.columns == found.columns


def test_voice_spike_explained_by_an_irsf_burst_is_shown_once(tmp_path):
    recs = Records()
    ordinary_line(recs, "447700000040", days=12, seed=4)
    for i in range(6):  # 6 x 35 min: above the single-day voice floor (180 min)
        recs.add(T0 + dt.timedelta(days=10, hours=1, minutes=40 * i), "447700000040", f"+53555{i:04d}",
                 duration_s=2100, destination_country="CU")  # fmt: skip
    path = build(tmp_path, recs)
    assert run(path, ["usage_spike"])["type"].to_list() == ["usage_spike"]  # on its own, a voice spike
    assert run(path, None)["type"].to_list() == ["irsf"]  # together, the IRSF alert explains it


def test_voice_spike_of_a_sim_box_is_shown_once(tmp_path):
    recs = Records()
    for k in range(3):
        ordinary_line(recs, f"44770000005{k}", days=20, seed=20 + k)
    simbox_world(recs, start=T0 + dt.timedelta(days=16))  # a new line: 90 min of calls a day
    path = build(tmp_path, recs)
    alone = run(path, ["usage_spike"])
    assert alone["msisdn"].to_list() == ["447700000009"] and json.loads(alone["evidence"][0])["baseline"] == "peer"
    assert run(path, None)["type"].to_list() == ["sim_box"]  # the SIM box alert explains it


def test_burst_across_since_is_still_a_burst(tmp_path):
    recs = Records()
    m = "447700000120"
    data_days(recs, m, [100] * 12 + [5000, 5500])  # two days of 5 GB: a burst, neither day big alone
    path = build(tmp_path, recs)
    found = run(path, ["usage_spike"], since=dt.datetime(2026, 3, 15))  # an incremental run: the 2nd day only
    assert found["alert_key"].to_list() == [f"usage_spike:{m}:2026-03-15"]
    ev = evidence(found, m)
    assert (ev["days"], ev["days_before_since"], ev["record_count"]) == (2, 1, 1)
    assert found["first_seen_at"][0] == T0 + dt.timedelta(days=13, hours=12)  # nothing before --since


def _tail(group: str, n: int, values: list[float]) -> dict:
    """One share's tails entry (analytics/fraud/spike.py's tails) with the same values per metric."""
    top = sorted(values, reverse=True)
    return {"peer_group": group, "n": n, "lines": n, "first_day": dt.date(2026, 3, 1)} | {
        m: top for m in ("voice_min", "texts", "data_mb")
    }


def test_peer_levels_from_tails_are_exact_or_refused():
    """The driver's quantile from the shares' tops equals DuckDB's over every value; when a
    share cut its top above the needed rank (all its values big), it asks for everything."""
    from analytics.fraud import spike

    opts = spike.SpikeSettings(peer_quantile=0.9)
    a_all = [float(v) for v in range(100, 200)]  # share a: 100 values, all bigger than b's
    b_all = [float(v) for v in range(0, 100)]
    with duckdb.connect() as con:
        exact = con.execute("select quantile_cont(x, 0.9) from unnest(?) t(x)", [a_all + b_all]).fetchone()[0]
        # each share sent its top 30: enough (the 0.9 quantile of 200 needs the top 21)
        enough = [[_tail("*", 100, a_all[-30:])], [_tail("*", 100, b_all[-30:])]]
        peers, start = spike.peers_from_tails(con, enough, opts=opts)
        assert [p["voice_peer"] for p in json.loads(peers)] == [exact] and start == dt.date(2026, 3, 1)
        # share a sent its top 12 only: the union's 22nd value is b's, above a's cut -> refused
        short = [[_tail("*", 100, a_all[-12:])], [_tail("*", 100, b_all[-30:])]]
        with pytest.raises(spike.TailsTooShort):
            spike.peers_from_tails(con, short, opts=opts)
        # everything sent (the retry): exact again
        whole = [[_tail("*", 100, a_all)], [_tail("*", 100, b_all)]]
        assert json.loads(spike.peers_from_tails(con, whole, opts=opts)[0])[0]["texts_peer"] == exact
