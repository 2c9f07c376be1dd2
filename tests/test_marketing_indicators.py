"""bandicoot 0.6 indicators: users A and B against bandicoot's own expected values."""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest
from test_marketing_support import BANDICOOT, bandicoot_cells, bandicoot_records, make_warehouse, records_frame

from analytics import store
from analytics.marketing.indicators import INDICATOR_SCHEMA, bandicoot_indicators

# our column -> path into bandicoot's JSON (indicator, allweek, allday, interaction, [stat])
EXPECTED_PATHS = {
    "active_days": ("active_days", "callandtext"),
    "number_of_contacts_call": ("number_of_contacts", "call"),
    "number_of_contacts_text": ("number_of_contacts", "text"),
    "number_of_interactions_call": ("number_of_interactions", "call"),
    "number_of_interactions_text": ("number_of_interactions", "text"),
    "call_duration_mean": ("call_duration", "call", "mean"),
    "call_duration_std": ("call_duration", "call", "std"),
    "percent_nocturnal_call": ("percent_nocturnal", "call"),
    "percent_nocturnal_text": ("percent_nocturnal", "text"),
    "percent_initiated_interactions_call": ("percent_initiated_interactions", "call"),
    "entropy_of_contacts_call": ("entropy_of_contacts", "call"),
    "entropy_of_contacts_text": ("entropy_of_contacts", "text"),
    "number_of_antennas": ("number_of_antennas",),
    "entropy_of_antennas": ("entropy_of_antennas",),
}


def _expected(user: str) -> dict[str, float]:
    data = json.loads((BANDICOOT / f"{user}.expected.json").read_text())
    out = {}
    for column, (name, *rest) in EXPECTED_PATHS.items():
        node = data.get(name, {}).get("allweek", {}).get("allday")
        for key in rest:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            out[column] = node
    return out


def _tolerance(value: float) -> float:
    """bandicoot's files round to the digits they print: half a unit of the last digit."""
    text = repr(float(value))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 6
    return max(1e-6, 0.5 * 10**-decimals) + 1e-12


@pytest.fixture(scope="module")
def ab_warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("bc") / "wh.duckdb"
    records = pl.concat([bandicoot_records("A"), bandicoot_records("B")])
    return make_warehouse(path, records, cells=bandicoot_cells())


@pytest.mark.parametrize("user", ["A", "B"])
def test_users_match_bandicoot_expected(ab_warehouse, user):
    with store.reader(ab_warehouse) as con:
        df = bandicoot_indicators(con, timezone="UTC")
    row = df.filter(pl.col("msisdn") == user).to_dicts()[0]
    expected = _expected(user)
    assert len(expected) >= 10
    for column, value in expected.items():
        assert row[column] is not None, column
        assert math.isclose(row[column], value, rel_tol=0, abs_tol=_tolerance(value)), (column, row[column], value)


def test_radius_of_gyration_by_hand(ab_warehouse):
    # A's positions: 13084 (Paris) once, 13086 (Brussels) twice (the 21:10 chunk is won by 13086).
    paris, brussels = (48.856638, 2.352241), (50.850437, 4.351694)
    bary = ((paris[0] + 2 * brussels[0]) / 3, (paris[1] + 2 * brussels[1]) / 3)

    def hav(p, q):
        dlat, dlon = math.radians(p[0] - q[0]), math.radians(p[1] - q[1])
        a = (
            math.sin(dlat / 2) ** 2
            + math.cos(math.radians(p[0])) * math.cos(math.radians(q[0])) * math.sin(dlon / 2) ** 2
        )
        return 2 * 6371.0 * math.asin(math.sqrt(a))

    expected = math.sqrt(hav(bary, paris) ** 2 / 3 + 2 * hav(bary, brussels) ** 2 / 3)
    with store.reader(ab_warehouse) as con:
        df = bandicoot_indicators(con, timezone="UTC")
    got = df.filter(pl.col("msisdn") == "A")["radius_of_gyration"][0]
    assert got == pytest.approx(expected, abs=1e-9)
    assert 80 < got < 200  # Paris-Brussels is 264 km; the barycenter sits 1/3 of the way from Brussels


def test_user_without_texts_has_null_text_indicators(tmp_path):
    records = records_frame(
        [
            {
                "record_id": "1",
                "start_at": "2026-03-02 06:59:59",
                "msisdn": "X",
                "service": "voice",
                "duration_s": 30,
                "other_party": "P",
            },
            {
                "record_id": "2",
                "start_at": "2026-03-02 07:00:00",
                "msisdn": "X",
                "service": "voice",
                "duration_s": 0,
                "direction": "in",
                "disposition": "no_answer",
                "other_party": "Q",
            },
            {"record_id": "3", "start_at": "2026-03-02 12:00:00", "msisdn": "X", "service": "data", "bytes_down": 10},
            {"record_id": "4", "start_at": "2026-03-02 12:00:00", "msisdn": "Y", "service": "data", "bytes_down": 10},
        ]
    )
    path = make_warehouse(tmp_path / "wh.duckdb", records)
    with store.reader(path) as con:
        df = bandicoot_indicators(con, timezone="UTC")
    assert df["msisdn"].to_list() == ["X"]  # Y has no call or text
    row = df.to_dicts()[0]
    assert row["number_of_interactions_call"] == 2  # the missed call counts
    assert row["call_duration_mean"] == 15.0 and row["call_duration_std"] == 15.0
    assert row["percent_nocturnal_call"] == 1.0  # 06:59:59 and 07:00:00 are both night
    assert row["percent_initiated_interactions_call"] == 0.5
    assert row["number_of_interactions_text"] is None and row["entropy_of_contacts_text"] is None


def test_month_boundary_in_local_zone(tmp_path):
    # 2026-03-31 23:30 UTC is 2026-04-01 01:30 in Paris (CEST): an April record there.
    records = records_frame(
        [
            {"record_id": "1", "start_at": "2026-03-31 23:30:00", "msisdn": "X", "service": "sms"},
            {"record_id": "2", "start_at": "2026-03-31 20:00:00", "msisdn": "X", "service": "sms"},
        ]
    )
    path = make_warehouse(tmp_path / "wh.duckdb", records)
    with store.reader(path) as con:
        april = bandicoot_indicators(con, month=dt.date(2026, 4, 1), timezone="Europe/Paris")
        march = bandicoot_indicators(con, month=dt.date(2026, 3, 1), timezone="Europe/Paris")
        march_utc = bandicoot_indicators(con, month=dt.date(2026, 3, 1), timezone="UTC")
    assert april["number_of_interactions_text"].to_list() == [1]
    assert april["percent_nocturnal_text"].to_list() == [1.0]  # 01:30 local
    assert march["number_of_interactions_text"].to_list() == [1]
    assert march["percent_nocturnal_text"].to_list() == [1.0]  # 22:00 local
    assert march_utc["number_of_interactions_text"].to_list() == [2]


def test_empty_month_keeps_schema(ab_warehouse):
    with store.reader(ab_warehouse) as con:
        df = bandicoot_indicators(con, month=dt.date(2030, 1, 1), timezone="UTC")
    assert df.height == 0
    assert df.schema == INDICATOR_SCHEMA
