"""Per-cell capacity outlook (issue 22): channels needed, the day the grade of service is
first broken, months to exhaustion, busy-hour data volume and the ranked cells to act on,
against hand-computed values on a small warehouse."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from analytics import store
from analytics.forecast import capacity, cells, persist
from analytics.ingest import ingest_files
from tests.conftest import record, write_v1

CUTOFF = dt.date(2026, 3, 1)  # the last observed day; forecasts start the day after


@pytest.mark.parametrize(
    ("traffic", "blocking", "channels"),
    [
        (60.0, 0.02, 71),  # Erlang B table, 2 %: 70 trunks carry 59.13 E, 71 carry 60.04 E
        (40.0, 0.02, 50),  # 49 trunks carry 39.38 E, 50 carry 40.26 E
        (5.0, 0.01, 11),  # 1 %: 10 trunks carry 4.46 E, 11 carry 5.16 E
        (0.5, 0.02, 3),  # B(0.5, 2) = 0.125/1.625 = 0.077; B(0.5, 3) = 0.0127
        (0.0, 0.02, 0),
    ],
)
def test_channels_needed_matches_the_erlang_b_table(traffic, blocking, channels):
    assert capacity.channels_for(traffic, blocking=blocking) == channels


def _load(tmp_path, refs, warehouse) -> None:
    """Observed 2026-03-01 (UTC): voice N1 2 E and N2 1 E at 10:00, S1 1 E; data: N1 2 GB at
    10:00 and 0.5 GB at 12:00, N2 1 GB at 11:00 (North's day 3.5 GB, its busiest hour 2 GB)."""
    voice = [
        record(record_id=f"n1-{i}", start_time="2026-03-01T10:00:00Z", cell_id="N1", duration_s=3600) for i in range(2)
    ]
    voice += [
        record(record_id="n2", start_time="2026-03-01T10:00:00Z", cell_id="N2", duration_s=3600),
        record(record_id="s1", start_time="2026-03-01T10:00:00Z", cell_id="S1", duration_s=3600),
    ]
    data = [
        record(record_id=f"d{i}", start_time=t, cell_id=c, service="data", duration_s=0, bytes_up=0, bytes_down=b)
        for i, (t, c, b) in enumerate(
            [
                ("2026-03-01T10:00:00Z", "N1", 1_000_000_000),
                ("2026-03-01T10:00:00Z", "N1", 1_000_000_000),
                ("2026-03-01T12:00:00Z", "N1", 500_000_000),
                ("2026-03-01T11:00:00Z", "N2", 1_000_000_000),
            ]
        )
    ]
    ingest_files([write_v1(tmp_path / "x.csv", voice + data)], warehouse=warehouse, cells=refs["cells"])


def _store_forecast(con, region: str, metric: str, values: list[float]) -> None:
    days = [dt.datetime(2026, 3, 2) + dt.timedelta(days=i) for i in range(len(values))]
    frame = pl.DataFrame(
        {
            "freq": "daily",
            "unique_id": f"{region}/{metric}",
            "region": region,
            "metric": metric,
            "ds": days,
            "model": "ets",
            "yhat": values,
            "yhat_lower": values,
            "yhat_upper": values,
            "yhat_lower_95": values,
            "yhat_upper_95": values,
        }
    )
    con.register("f", frame)
    con.execute("insert into forecast_values by name select * from f")
    con.unregister("f")


@pytest.fixture
def outlook(tmp_path, refs, warehouse):
    """North's busy hour 10, 40, 57, 60 E, then flat at 10 E to day 60 and 60 E on day 61;
    its daily data 7 GB every day. Capacity model ``servers`` (N1 30, N2 40 channels)."""
    _load(tmp_path, refs, warehouse)
    north = [10.0, 40.0, 57.0, 60.0]
    with store.writer(warehouse) as con:
        persist.ensure_forecast_schema(con)
        _store_forecast(con, "North", "busy_hour_erlangs", north)
        _store_forecast(con, "North", "data_gb", [7.0] * 4)
        summary, daily = capacity.outlook(con, timezone="UTC", utilisation=0.8, blocking=0.02, capacity_model="servers")
        persist.save_capacity(con, summary, daily)
        per_cell = cells.cell_outlook(con)
    return summary, daily, per_cell


def test_outlook_gives_channels_needed_and_the_day_the_gos_is_broken(outlook):
    summary, _, _ = outlook
    n1 = summary.filter(pl.col("cell_id") == "N1").row(0, named=True)
    # N1 carried 2/3 of North's busy hour: 6.67, 26.67, 38, 40 E on 30 channels. The table's
    # 30 trunks carry 21.93 E at 2 %: 26.67 E breaks the grade of service on 2026-03-03.
    assert n1["first_blocking_date"] == dt.date(2026, 3, 3)
    assert n1["channels_needed"] == 50  # 40 E at 2 %: 50 trunks (40.26 E)
    n2 = summary.filter(pl.col("cell_id") == "N2").row(0, named=True)
    # N2: 1/3 -> 3.33, 13.33, 19, 20 E on 40 channels (31.0 E at 2 %): never broken
    assert n2["first_blocking_date"] is None and n2["channels_needed"] == 28  # 20 E: 28 trunks carry 20.15 E
    region = summary.filter(pl.col("level") == "region").row(0, named=True)
    assert region["channels_needed"] == 71  # pooled 60 E


def test_months_to_exhaustion_and_busy_hour_data(outlook):
    summary, daily, _ = outlook
    n1 = summary.filter(pl.col("cell_id") == "N1").row(0, named=True)
    # N1 utilisation 26.67 / 30 = 0.89 on 2026-03-03: 2 days after the cut-off = 2 / 30.4375 months
    assert n1["days_to_exhaustion"] == 2 and n1["months_to_exhaustion"] == pytest.approx(0.1)
    # data: North's busiest hour 2 of 3.5 GB; N1's busiest 2 GB, N2's 1 GB: x 7 GB forecast
    assert n1["busy_hour_data_gb_peak"] == pytest.approx(4.0)
    assert n1["busy_hour_data_gb_now"] == pytest.approx(2.0)
    n2 = summary.filter(pl.col("cell_id") == "N2").row(0, named=True)
    assert n2["busy_hour_data_gb_peak"] == pytest.approx(2.0)
    region = summary.filter(pl.col("level") == "region").row(0, named=True)
    assert region["busy_hour_data_gb_peak"] == pytest.approx(4.0)
    assert daily.filter(pl.col("cell_id") == "N2")["busy_hour_data_gb"].to_list() == pytest.approx([2.0] * 4)


def test_months_to_exhaustion_far_out(tmp_path, refs, warehouse):
    # North at 10 E for 60 days, 60 E from day 61 (2026-05-01): N1 40 E on 30 channels
    _load(tmp_path, refs, warehouse)
    with store.writer(warehouse) as con:
        persist.ensure_forecast_schema(con)
        _store_forecast(con, "North", "busy_hour_erlangs", [10.0] * 60 + [60.0] * 5)
        summary, _ = capacity.outlook(con, timezone="UTC", capacity_model="servers")
    n1 = summary.filter(pl.col("cell_id") == "N1").row(0, named=True)
    assert n1["exhaustion_date"] == dt.date(2026, 5, 1) and n1["days_to_exhaustion"] == 61
    assert n1["months_to_exhaustion"] == 2.0  # 61 / 30.4375 = 2.004
    assert n1["busy_hour_data_gb_peak"] is None  # no data forecast stored: unknown, not 0


def test_cells_to_act_are_ranked_with_their_place(outlook):
    _, _, per_cell = outlook
    assert set(per_cell["cell_id"]) == {"N1", "N2"}  # cells of regions with a forecast
    n1 = per_cell.filter(pl.col("cell_id") == "N1").row(0, named=True)
    assert (n1["lat"], n1["lon"], n1["channels_to_add"]) == (54.9, -1.6, 20)  # 50 needed, 30 there
    act = cells.rank_cells_to_act(per_cell)
    # N1 exhausts (2 days); N2 peaks at 20 / 40 = 0.5 with enough channels: nothing to do
    assert act["cell_id"].to_list() == ["N1"] and act["rank"].to_list() == [1]
    assert act.columns == list(cells.ACT_COLUMNS)


def test_ranking_orders_by_exhaustion_then_gos_then_utilisation():
    d = dt.date
    frame = pl.DataFrame(
        {
            "cell_id": ["A", "B", "C", "D", "E"],
            "days_to_exhaustion": [30, 5, None, 5, None],
            "exhaustion_date": [d(2026, 4, 1), d(2026, 3, 7), None, d(2026, 3, 7), None],
            "first_blocking_date": [None, d(2026, 3, 20), None, d(2026, 3, 9), None],
            "utilisation_peak": [0.9, 0.85, 0.95, 0.99, 0.5],
            "channels_needed": [10, 10, 14, 10, 5],
            "servers": [10, 10, 12, 10, 10],
        },
        schema_overrides={"days_to_exhaustion": pl.Int64},
    )
    frame = frame.with_columns(channels_to_add=cells.channels_to_add(), months_to_exhaustion=pl.lit(None, pl.Float64))
    for c in cells.ACT_COLUMNS:
        if c not in frame.columns and c != "rank":
            frame = frame.with_columns(pl.lit(None).alias(c))
    act = cells.rank_cells_to_act(frame)
    # D and B exhaust first (5 days; D breaks the GoS earlier), then A; C has no date but
    # needs 2 more channels; E needs nothing
    assert act["cell_id"].to_list() == ["D", "B", "A", "C"]
    assert act.filter(pl.col("cell_id") == "C")["channels_to_add"].item() == 2


def test_map_frame_keeps_placed_cells_and_clips_the_colour(outlook):
    _, _, per_cell = outlook
    m = cells.map_frame(per_cell, horizon_months=0.05)
    assert m.height == 2
    n1 = m.filter(pl.col("cell_id") == "N1").row(0, named=True)
    assert n1["colour_months"] == 0.05 and n1["months_to_exhaustion"] == pytest.approx(0.1)
    assert m.filter(pl.col("cell_id") == "N2")["colour_months"].item() is None


def test_cell_outlook_of_a_warehouse_without_forecasts(tmp_path, refs, warehouse):
    _load(tmp_path, refs, warehouse)
    with store.reader(warehouse) as con:
        frame = cells.cell_outlook(con)
    assert frame.is_empty() and "channels_to_add" in frame.columns
    assert cells.rank_cells_to_act(frame).columns == list(cells.ACT_COLUMNS)
