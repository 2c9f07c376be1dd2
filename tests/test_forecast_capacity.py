"""Erlang B against published table values, and the capacity outlook on a hand-built warehouse."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from analytics import store
from analytics.forecast import capacity, persist
from analytics.ingest import ingest_files
from tests.conftest import record, write_v1


@pytest.mark.parametrize(
    ("traffic", "servers", "blocking"),
    [
        (1.0, 1, 0.5),  # B = A / (1 + A)
        (2.0, 2, 0.4),  # A^2/2 / (1 + A + A^2/2) = 2 / 5
        (5.084, 10, 0.02),  # Erlang B table: 10 trunks carry 5.084 E at 2 %
        (12.031, 20, 0.01),  # 20 trunks, 1 %
        (21.932, 30, 0.02),  # 30 trunks, 2 %
        (1.361, 5, 0.01),  # 5 trunks, 1 %
    ],
)
def test_erlang_b_matches_the_table(traffic, servers, blocking):
    assert capacity.erlang_b(traffic, servers) == pytest.approx(blocking, rel=2e-3)


def test_channels_are_dimensioned_from_the_table():
    # the fewest trunks carrying the load at the grade of service (Erlang B table rows)
    assert capacity.channels_for(5.084, blocking=0.0201) == 10
    assert capacity.channels_for(5.2, blocking=0.02) == 11
    assert capacity.channels_for(12.03, blocking=0.0101) == 20
    assert capacity.servers_of(5.084, mode="erlangs", blocking=0.0201) == 10
    assert capacity.servers_of(0.0, mode="erlangs") == 0
    with pytest.raises(ValueError, match="capacity_model"):
        capacity.servers_of(3.0, mode="bogus")


def test_erlang_b_edges():
    assert capacity.erlang_b(0.0, 10) == 0.0
    assert capacity.erlang_b(3.0, 0) == 1.0
    assert capacity.erlang_b(3.0, None) is None
    assert capacity.servers_of(29.9) == 29 and capacity.servers_of(None) is None


@pytest.mark.parametrize("mode", ["servers", "erlangs"])
def test_outlook_flags_the_first_day_over_the_threshold(tmp_path, refs, warehouse, mode):
    # Observed: N1 carries 2 one-hour calls at 10:00 UTC on 2026-03-01 (2 E), N2 1 call (1 E);
    # both in North (servers 30 + 40 = 70). S1 (South, 20 servers) carries 1 E.
    rows = [
        record(record_id=f"n1-{i}", start_time="2026-03-01T10:00:00Z", cell_id="N1", duration_s=3600) for i in range(2)
    ] + [
        record(record_id="n2", start_time="2026-03-01T10:00:00Z", cell_id="N2", duration_s=3600),
        record(record_id="s1", start_time="2026-03-01T10:00:00Z", cell_id="S1", duration_s=3600),
    ]
    ingest_files([write_v1(tmp_path / "x.csv", rows)], warehouse=warehouse, cells=refs["cells"])
    days = [dt.datetime(2026, 3, 2) + dt.timedelta(days=i) for i in range(4)]
    north = [10.0, 40.0, 57.0, 60.0]  # utilisation 0.14, 0.57, 0.81 (first over 0.8), 0.86
    with store.writer(warehouse) as con:
        persist.ensure_forecast_schema(con)
        frame = pl.DataFrame(
            {
                "freq": "daily",
                "unique_id": "North/busy_hour_erlangs",
                "region": "North",
                "metric": "busy_hour_erlangs",
                "ds": days,
                "model": "ets",
                "yhat": north,
                "yhat_lower": north,
                "yhat_upper": north,
                "yhat_lower_95": north,
                "yhat_upper_95": north,
            }
        )
        con.register("f", frame)
        con.execute("insert into forecast_values by name select * from f")
        outlook, daily = capacity.outlook(con, timezone="UTC", utilisation=0.8, blocking=0.02, capacity_model=mode)
    region = outlook.filter(pl.col("level") == "region").row(0, named=True)
    # capacity 30 + 40 E; channels: 30 + 40 trunks, or dimensioned at 2 %: 39 + 50
    servers = (
        70 if mode == "servers" else capacity.channels_for(30, blocking=0.02) + capacity.channels_for(40, blocking=0.02)
    )
    assert region["region"] == "North" and region["capacity_erlangs"] == 70 and region["servers"] == servers
    assert servers == (70 if mode == "servers" else 89)
    assert region["first_utilisation_date"] == dt.date(2026, 3, 4)
    assert region["days_to_exhaustion"] == 3  # cut-off 2026-03-01
    assert region["busy_hour_erlangs_now"] == pytest.approx(3.0)
    assert region["blocking_peak"] == pytest.approx(capacity.erlang_b(60.0, servers))
    # N1 carried 2/3 of North's busy hour: 2/3 x 60 = 40 E on 30 servers
    n1 = outlook.filter(pl.col("cell_id") == "N1").row(0, named=True)
    assert n1["busy_hour_erlangs_peak"] == pytest.approx(40.0)
    assert n1["exhaustion_date"] <= dt.date(2026, 3, 3)  # 2/3 x 40 = 26.7 E on 30 servers: over 0.8
    assert outlook["days_to_exhaustion"].drop_nulls().is_sorted()
    assert set(daily["source"]) == {"daily"}
    assert outlook.filter(pl.col("region") == "South").is_empty()  # no South forecast stored
