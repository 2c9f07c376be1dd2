"""Coherent totals (issue 22 item 2) on a small ingested warehouse: the stored forecasts of
the cells add up to their region and the regions to the national total, for every day and
metric; the reconciliation is chosen per metric by backtest and stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import store
from analytics.config import with_options
from analytics.forecast import hierarchy, pipeline, series
from analytics.ingest import ingest_files
from tests.conftest import CELLS_CSV, record, write_v1
from tests.test_forecast_cli import _rows

FAST = {"models_daily": ["seasonal_naive", "ets"], "backtest_windows": 2, "n_jobs": 1}


def _world(root: Path, *, timezone: str = "UTC") -> Path:
    """70 days on four cells of three regions, plus roaming records without a cell (region ROAMING,
    the '(no cell)' series)."""
    (root / "cells.csv").write_text(CELLS_CSV)
    rows = _rows(70, cells=("N1", "N2", "S1", "E1"))
    rows += [
        record(
            record_id=f"nc{d}",
            start_time=f"2026-01-{5 + d:02d}T23:30:00Z",
            cell_id="",
            service="sms",
            duration_s=0,
            roaming="true",
        )
        for d in range(0, 20, 3)
    ]
    warehouse = root / "wh" / "warehouse.duckdb"
    ingest_files([write_v1(root / "a.csv", rows)], warehouse=warehouse, cells=root / "cells.csv", timezone=timezone)
    return warehouse


@pytest.fixture(scope="module")
def forecast_world(tmp_path_factory) -> Path:
    warehouse = _world(tmp_path_factory.mktemp("hierarchy"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "config", lambda: with_options(pipeline.ForecastSettings(), FAST))
        with store.writer(warehouse) as con:
            pipeline.run_forecast(con, freq="daily", horizon_days=10)
    return warehouse


def test_cell_days_add_up_to_the_daily_region_cube(tmp_path):
    """The hierarchy's regions (sums of cells over local days) are the cube's region days, in a non-UTC zone."""
    warehouse = _world(tmp_path, timezone="Europe/Paris")
    with store.reader(warehouse) as con:
        nodes = hierarchy.node_series(hierarchy.cell_days(con, timezone="Europe/Paris"))
        cube = series.daily_series(con, timezone="Europe/Paris").filter(pl.col("metric").is_in(hierarchy.METRICS))
    regions = nodes.filter(pl.col("level") == "region").select("region", "metric", "ds", "y")
    joined = cube.drop_nulls("y").join(regions, on=["region", "metric", "ds"], how="inner", suffix="_h")
    assert (
        joined.height
        == cube.drop_nulls("y").filter(pl.col("region").is_in(regions["region"].unique().implode())).height
    )
    assert np.allclose(joined["y"], joined["y_h"])
    assert nodes.filter(pl.col("level") == "cell")["cell_id"].unique().sort().to_list() == [
        "(no cell)",
        "E1",
        "N1",
        "N2",
        "S1",
    ]
    assert nodes["y"].min() >= 0


def test_structure_is_the_summing_matrix():
    ds = dt.datetime(2026, 1, 1)
    cells = pl.DataFrame(
        {"region": ["A", "A", "B"], "cell_id": ["a1", "a2", "b1"], "metric": "sms", "ds": ds, "y": [1.0, 2.0, 4.0]}
    )
    nodes = hierarchy.node_series(cells)
    assert nodes.select("level", "node_id", "y").rows() == [
        ("national", "total", 7.0),
        ("region", "A", 3.0),
        ("region", "B", 4.0),
        ("cell", "A/a1", 1.0),
        ("cell", "A/a2", 2.0),
        ("cell", "B/b1", 4.0),
    ]
    s_df, tags = hierarchy.structure(nodes)
    assert s_df.rows() == [
        ("total", 1.0, 1.0, 1.0),
        ("A", 1.0, 1.0, 0.0),
        ("B", 0.0, 0.0, 1.0),
        ("A/a1", 1.0, 0.0, 0.0),
        ("A/a2", 0.0, 1.0, 0.0),
        ("B/b1", 0.0, 0.0, 1.0),
    ]
    assert list(tags["region"]) == ["A", "B"] and list(tags["cell"]) == ["A/a1", "A/a2", "B/b1"]


def test_score_weighs_each_level_once():
    actual = pl.DataFrame({"unique_id": ["total", "A", "A/a1"], "ds": dt.datetime(2026, 1, 1), "y": [100.0, 10.0, 1.0]})
    forecast = actual.with_columns(yhat=pl.Series([110.0, 10.0, 2.0])).drop("y")
    levels = pl.DataFrame({"unique_id": ["total", "A", "A/a1"], "level": ["national", "region", "cell"]})
    got = hierarchy.score(actual, forecast, levels)
    assert got["mae_national"] == 10.0 and got["mae_region"] == 0.0 and got["mae_cell"] == 1.0
    assert got["score"] == pytest.approx((0.1 + 0.0 + 1.0) / 3)


@pytest.mark.slow
def test_stored_forecasts_are_coherent_every_day_and_metric(forecast_world):
    with store.reader(forecast_world) as con:
        values = hierarchy.read_values(con)
        check = hierarchy.read_check(con)
    assert set(values["metric"]) == set(hierarchy.METRICS)
    assert set(values["level"]) == {"national", "region", "cell"}
    assert values.filter(pl.col("level") == "national")["ds"].n_unique() == 10
    cells = values.filter(pl.col("level") == "cell").group_by("metric", "region", "ds").agg(cells=pl.col("yhat").sum())
    regions = values.filter(pl.col("level") == "region").select("metric", "region", "ds", "yhat")
    by_region = regions.join(cells, on=["metric", "region", "ds"], how="full", coalesce=True)
    assert by_region.height == 4 * 4 * 10 and by_region.null_count().sum_horizontal().item() == 0
    assert (by_region["yhat"] - by_region["cells"]).abs().max() < 1e-6
    sums = regions.group_by("metric", "ds").agg(regions=pl.col("yhat").sum())
    national = values.filter(pl.col("level") == "national").join(sums, on=["metric", "ds"])
    assert national.height == 4 * 10 and (national["yhat"] - national["regions"]).abs().max() < 1e-6
    # the base forecasts alone do not add up: reconciliation did the work
    base_cells = (
        values.filter(pl.col("level") == "cell").group_by("metric", "region", "ds").agg(b=pl.col("yhat_base").sum())
    )
    base = values.filter(pl.col("level") == "region").join(base_cells, on=["metric", "region", "ds"])
    assert (base["yhat_base"] - base["b"]).abs().max() > 1e-3
    # the page's check (SQL) agrees
    assert check.height == 4 * 10 + 4 * 4 * 10 and check["abs_diff"].max() < 1e-6


def test_coherent_bands_move_with_the_mean_and_coverage_counts_each_level_once():
    day = dt.datetime(2026, 3, 1)
    ids = ["total", "A", "Z"]  # Z: a cell of zeros, forecast 0 with a zero-wide band
    base = pl.DataFrame(
        {
            "unique_id": ids,
            "ds": [day] * 3,
            "base": [10.0, 4.0, 0.0],
            "yhat_lower": [8.0, 3.0, 0.0],
            "yhat_upper": [13.0, 5.0, 0.0],
            "yhat_lower_95": [6.0, 2.0, 0.0],
            "yhat_upper_95": [15.0, 6.0, 0.0],
        }
    )
    rec = pl.DataFrame({"unique_id": ids, "ds": [day] * 3, "yhat": [9.0, 4.5, 0.01]})
    expect = pl.DataFrame(
        {
            "unique_id": ids,
            "ds": [day] * 3,
            "yhat": [9.0, 4.5, 0.01],
            "yhat_lower": [7.0, 3.5, 0.0],  # moved by yhat - base; Z's stretched to hold its own 0
            "yhat_upper": [12.0, 5.5, 0.01],
            "yhat_lower_95": [5.0, 2.5, 0.0],
            "yhat_upper_95": [14.0, 6.5, 0.01],
        }
    )
    bands = hierarchy.coherent_bands(base, rec)
    assert_frame_equal(bands, expect)
    levels = pl.DataFrame({"unique_id": ids, "level": ["national", "cell", "cell"]})
    actual = pl.DataFrame({"unique_id": ids, "ds": [day] * 3, "y": [11.0, 6.0, 0.0]})
    cover = hierarchy.band_coverage(actual, bands, levels)
    assert cover["coverage_80_national"] == 1.0 and cover["coverage_80_cell"] == 0.5
    assert cover["coverage_80_region"] is None and cover["coverage_80"] == 0.75 and cover["coverage_95"] == 1.0


@pytest.mark.slow
def test_coherent_bands_of_every_level_hold_the_coherent_mean_and_their_coverage_is_stored(forecast_world):
    with store.reader(forecast_world) as con:
        values = hierarchy.read_values(con)
        choice = hierarchy.read_choice(con)
    assert set(values["level"]) == set(hierarchy.LEVELS)
    assert values.select(hierarchy.BANDS).null_count().sum_horizontal().item() == 0
    nested = values.filter(
        (pl.col("yhat_lower_95") <= pl.col("yhat_lower"))
        & (pl.col("yhat_lower") <= pl.col("yhat") + 1e-9)
        & (pl.col("yhat") <= pl.col("yhat_upper") + 1e-9)
        & (pl.col("yhat_upper") <= pl.col("yhat_upper_95"))
    )
    assert nested.height == values.height
    assert (values["yhat_upper"] - values["yhat_lower"]).max() > 0
    # the backtest measured every method's coherent bands on the held-out days, per level
    coherent = choice.filter(pl.col("method") != "base")
    for column in hierarchy.COVERAGE:
        assert coherent[column].null_count() == 0, column
        assert coherent[column].is_between(0, 1).all(), column
    assert choice.filter(pl.col("method") == "base")["coverage_80"].null_count() == 0  # the base bands, for reference


@pytest.mark.slow
def test_the_method_is_chosen_by_backtest_and_stored(forecast_world):
    with store.reader(forecast_world) as con:
        choice = hierarchy.read_choice(con)
        values = hierarchy.read_values(con)
    for (metric,), rows in choice.group_by(["metric"]):
        assert set(rows["method"]) == {"base", *hierarchy.METHODS}
        chosen = rows.filter(pl.col("is_chosen"))
        assert chosen.height == 1 and chosen["method"][0] in hierarchy.METHODS
        coherent = rows.filter(pl.col("method") != "base")
        assert coherent["score"].null_count() == 0 and chosen["score"][0] == coherent["score"].min()
        assert rows["window_days"][0] == 14 and rows["cutoff_at"][0] == dt.datetime(2026, 3, 2)
        assert set(values.filter(pl.col("metric") == metric)["method"]) == {chosen["method"][0]}
    assert choice["nodes"].unique().to_list() == [1 + 4 + 5]
    # cells take the cheaper model set, the national total and regions hierarchy_models_upper
    cells = values.filter(pl.col("level") == "cell")
    assert set(cells["base_model"]) <= set(pipeline.config().hierarchy_models_cell)
    assert "seasonal_naive" in set(cells["base_model"])
    # total, 4 regions (ROAMING too)
    assert set(values.filter(pl.col("level") != "cell")["base_model"]) <= set(pipeline.config().hierarchy_models_upper)


@pytest.mark.slow
def test_an_unchanged_warehouse_skips_the_hierarchy(forecast_world):
    cfg = with_options(pipeline.ForecastSettings(), FAST)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "config", lambda: cfg)
        options = pipeline.options_for("daily")
    with store.reader(forecast_world) as con:
        before = hierarchy.read_choice(con)
        plan = hierarchy.plan(con, options=options, horizon=10, cfg=cfg, timezone="UTC")
        other = hierarchy.plan(con, options=options, horizon=11, cfg=cfg, timezone="UTC")
    assert not plan.changed and plan.stored_hash == before["input_hash"][0]
    assert other.changed  # another horizon is another run
    assert len(plan.jobs) == 2 * 4 * 10  # base + backtest job per metric per node
    with store.writer(forecast_world) as con:
        assert not hierarchy.run(con, options=options, horizon=10, cfg=cfg, timezone="UTC", n_jobs=1)
        assert_frame_equal(hierarchy.read_choice(con), before)


def test_reads_before_any_run_keep_their_columns(tmp_path, refs, warehouse):
    ingest_files([], warehouse=warehouse, cells=refs["cells"])
    with store.reader(warehouse) as con:
        assert hierarchy.read_values(con).is_empty() and "yhat_base" in hierarchy.read_values(con).columns
        assert hierarchy.read_check(con).is_empty() and hierarchy.payload(con) is None
        assert hierarchy.cell_days(con, timezone="UTC").is_empty()


def test_without_hierarchicalforecast_the_error_names_the_install_step(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hierarchicalforecast.methods", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install hierarchicalforecast==1\.5\.3"):
        hierarchy._reconciler("bottom_up")
