"""An injected outage through the real load path: extract CSV -> load_and_refresh -> the
stored ``incidents`` table (real DuckDB, real lake), and a re-load that changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import store
from analytics.network.incidents import subscriber_marks
from analytics.network.mart import refresh
from analytics.pipeline import load_and_refresh

T0 = dt.datetime(2026, 3, 2)  # Monday, UTC
DAYS = 22
OUTAGE_DAY = T0 + dt.timedelta(days=21)
OUTAGE_HOURS = (10, 11, 12)  # cell N1 fails every call
CELLS = {"N1": "North", "N2": "North", "N3": "North", "S1": "South"}
CALLS = 12  # outgoing calls per cell and hour; subscribers rotate over 40 per cell
DISPOSITIONS = ["answered"] * 9 + ["dropped", "no_answer", "busy"]  # ASR 10/12, NER 12/12


def msisdn(cell: str, i: int) -> str:
    return f"4477{list(CELLS).index(cell) + 1:02d}{i % 40:06d}"


def extract(path: Path, *, days: range) -> Path:
    rows = []
    for d in days:
        for h in range(24):
            hour = T0 + dt.timedelta(days=d, hours=h)
            out = hour.date() == OUTAGE_DAY.date() and h in OUTAGE_HOURS
            for cell in CELLS:
                for j in range(CALLS):
                    disp = "failed" if out and cell == "N1" else DISPOSITIONS[j]
                    rows.append(
                        {
                            "record_id": f"{cell}-{hour:%Y%m%d%H}-{j}",
                            "start_time": (hour + dt.timedelta(minutes=4 * j)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "msisdn": msisdn(cell, (d * 24 + h) * CALLS + j),
                            "other_party": "447700900999",
                            "service": "voice",
                            "direction": "out",
                            "duration_s": {"answered": 60, "dropped": 25}.get(disp, 0),
                            "cell_id": cell,
                            "charge": "0.10",
                            "disposition": disp,
                        }
                    )
    pl.DataFrame(rows).write_csv(path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    return make_world(tmp_path_factory.mktemp("network"))


def make_world(folder: Path) -> dict[str, Path]:
    cells = folder / "cells.csv"
    pl.DataFrame(
        {"cell_id": list(CELLS), "region": list(CELLS.values()), "lat": [54.0] * 4, "lon": [-1.5] * 4}
    ).write_csv(cells)
    return {
        "wh": folder / "wh.duckdb",
        "cells": cells,
        "main": extract(folder / "march.csv", days=range(DAYS)),
        "next": extract(folder / "next_day.csv", days=range(DAYS, DAYS + 1)),
    }


def load_world(world: dict[str, Path]):
    """Load the main extract into ``world['wh']`` (the page tests' world too)."""
    return load_and_refresh([world["main"]], warehouse=world["wh"], cells=world["cells"])


def incidents(wh: Path) -> pl.DataFrame:
    with store.reader(wh) as con:
        return store.fetch(con, "select * from incidents order by level, start_at")


@pytest.mark.slow
def test_an_injected_outage_is_stored_as_one_incident_and_a_reload_changes_nothing(world) -> None:
    wh = world["wh"]
    report = load_world(world)
    assert report.rows_loaded == DAYS * 24 * len(CELLS) * CALLS
    assert report.marts["network"]["quality_months"] == ["2026-03"]
    got = incidents(wh)
    start, end = OUTAGE_DAY + dt.timedelta(hours=10), OUTAGE_DAY + dt.timedelta(hours=13)
    cell = got.filter(pl.col("level") == "cell")
    assert cell.select("region", "cell_id", "start_at", "end_at", "hours", "kpis", "attempts", "asr").rows() == [
        ("North", "N1", start, end, 3, "asr low", 36, 0.0)
    ]
    # 36 calls by subscribers rotating over 40 numbers: the calls of hours 10-12 are
    # numbers (h * 12 + j) % 40 for h = 514..516 -> 36 distinct
    assert cell["subscribers"].to_list() == [36]
    assert cell["expected_asr"].to_list() == [pytest.approx(10 / 12)]
    # North's ASR falls from 10/12 to 20/36 in those hours: the region incident, same span;
    # its subscribers are those of its three cells then (36 per cell, distinct numbers)
    region = got.filter(pl.col("level") == "region")
    assert region.select("region", "start_at", "end_at", "kpis", "subscribers").rows() == [
        ("North", start, end, "asr low", 108)
    ]

    # the same file again: nothing loaded, nothing refreshed, the table unchanged
    again = load_and_refresh([world["main"]], warehouse=wh, cells=world["cells"])
    assert again.rows_loaded == 0
    assert_frame_equal(incidents(wh), got)
    with store.writer(wh) as con:  # a refresh with nothing new does no work either
        assert refresh(con) == {"quality_months": [], "incidents": None}
    assert_frame_equal(incidents(wh), got)

    # the next day arrives: the month is rebuilt, the incident is detected again, identical
    nxt = load_and_refresh([world["next"]], warehouse=wh, cells=world["cells"])
    assert nxt.marts["network"]["quality_months"] == ["2026-03"]
    assert nxt.marts["network"]["from"] == "2026-03-24T00:00:00"  # the new day's hours only, not the month
    assert_frame_equal(incidents(wh).drop("detected_at"), got.drop("detected_at"))

    # the lookup's marks: a subscriber's outage call is marked, their other calls are not
    number = msisdn("N1", (21 * 24 + 10) * CALLS)
    with store.reader(wh) as con:
        marks = subscriber_marks(con, number, T0, T0 + dt.timedelta(days=31))
        total = store.scalar(con, "select count(*) from records where msisdn = ?", [number])
    assert marks["record_id"].to_list() == [f"N1-{start:%Y%m%d%H}-0"]
    assert marks["incident_id"].to_list() == [cell["incident_id"][0]]
    assert total > 1  # the same number called at other hours: those stay unmarked

    # invariant: the cell-hour counts add up to the loaded records' outgoing calls
    with store.reader(wh) as con:
        mart = store.fetch(con, "select sum(attempts), sum(connected), sum(failed) from quality_hourly_cell")
        recs = store.fetch(
            con,
            "select count(*), count(*) filter (where disposition in ('answered', 'dropped')),"
            " count(*) filter (where disposition = 'failed') from records where service = 'voice' and direction = 'out'",
        )
    assert mart.rows() == recs.rows()
