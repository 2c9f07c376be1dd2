"""The coherent totals are not refit after every load (issue 22): a load into a warehouse with
forecasts refits the changed region series, but the hierarchy (minutes for thousands of cells)
only once ``hierarchy_refit_days`` new complete local days arrived since the data of its run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analytics import store
from analytics.config import with_options
from analytics.forecast import hierarchy, pipeline
from analytics.pipeline import load_and_refresh
from tests.conftest import write_v1
from tests.test_forecast_cli import START, _rows
from tests.test_forecast_hierarchy import _world

FAST = {
    "models_daily": ["seasonal_naive"],
    "models_hourly": ["seasonal_naive"],
    "combinations_daily": [],
    "combinations_hourly": [],
    "hierarchy_models_upper": ["seasonal_naive"],
    "backtest_windows": 2,
    "n_jobs": 1,
    "horizon_days": 7,
}


def _days(first: int, days: int, *, prefix: str) -> list[dict]:
    """``days`` days of the hierarchy world's traffic from day ``first`` (day 0 = its first day)."""
    rows = _rows(first + days, cells=("N1", "N2", "S1", "E1"), seed=first, prefix=prefix)
    since = START + dt.timedelta(days=first)
    return [r for r in rows if r["start_time"] >= since.strftime("%Y-%m-%d")]


def _stored(warehouse: Path) -> dict:
    with store.reader(warehouse) as con:
        return hierarchy._stored_run(con)


@pytest.mark.slow
def test_a_small_load_keeps_the_totals_and_a_week_of_new_days_refits_them(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "config", lambda: with_options(pipeline.ForecastSettings(), FAST))
    warehouse = _world(tmp_path)  # 70 days, the last hour with traffic 18:00 UTC of day 69
    first = pipeline.refresh(warehouse)
    assert first.totals_refit
    before = _stored(warehouse)
    with store.reader(warehouse) as con:
        horizon_start = hierarchy.read_values(con)["ds"].min()

    # one more day of traffic: the region series change and are refit, the totals are kept
    small = load_and_refresh([write_v1(tmp_path / "d70.csv", _days(70, 1, prefix="a"))], warehouse=warehouse)
    assert small.marts["forecasts"]["series_refit"] > 0
    assert _stored(warehouse) == before
    with store.reader(warehouse) as con:
        assert hierarchy.read_values(con)["ds"].min() == horizon_start
        p = hierarchy.plan(
            con,
            options=pipeline.options_for("daily"),
            horizon=7,
            cfg=pipeline.config(),
            timezone="UTC",
        )
        age = hierarchy.age(con, timezone="UTC")  # the page's "how old" line
    assert p.changed and not p.due and p.stale_days == 1
    assert age["data_day"] == (START + dt.timedelta(days=69)).date() and age["days_behind"] == 1

    # six more days complete the week since the run's data: the load refits the totals
    week = load_and_refresh([write_v1(tmp_path / "d71.csv", _days(71, 7, prefix="b"))], warehouse=warehouse)
    assert week.marts["forecasts"]["series_refit"] > 0
    after = _stored(warehouse)
    assert after["computed_at"] > before["computed_at"] and after["input_hash"] != before["input_hash"]
    with store.reader(warehouse) as con:
        assert hierarchy.read_values(con)["ds"].min() == horizon_start + dt.timedelta(days=8)
        assert hierarchy.age(con, timezone="UTC")["days_behind"] == 0


def test_due_counts_complete_local_days_and_options():
    base = dict(
        nodes=None, jobs=[], horizon=7, window=0, input_hash="new", stored_hash="old", options_hash="o",
        stored_options_hash="o", refit_days=7,
    )  # fmt: skip
    day = dt.date(2026, 3, 1)
    plan = hierarchy.Plan(**base, complete_day=day + dt.timedelta(days=6), stored_complete_day=day)
    assert not plan.due and plan.stale_days == 6
    assert hierarchy.Plan(**base, complete_day=day + dt.timedelta(days=7), stored_complete_day=day).due
    assert hierarchy.Plan(**{**base, "stored_options_hash": "p"}, complete_day=day, stored_complete_day=day).due
    assert not hierarchy.Plan(**{**base, "input_hash": "old"}, complete_day=day, stored_complete_day=day).due
    # a day is complete once its last hour has traffic or a later day has any (local days)
    end = dt.datetime(2026, 3, 1, 23, 0) + dt.timedelta(hours=1)
    assert hierarchy.last_complete_day(end, timezone="UTC") == dt.date(2026, 3, 1)
    assert hierarchy.last_complete_day(end - dt.timedelta(hours=1), timezone="UTC") == dt.date(2026, 2, 28)
    # 23:00 UTC is midnight in Paris (UTC+1 in March): Paris's 1 March is complete, the UTC one not
    assert hierarchy.last_complete_day(end - dt.timedelta(hours=1), timezone="Europe/Paris") == dt.date(2026, 3, 1)


OLD_SCHEMA = """
create table forecast_hierarchy_values (metric varchar not null, level varchar not null, node_id varchar not null,
    region varchar not null, cell_id varchar not null, ds timestamp not null, yhat_base double not null,
    yhat double not null, method varchar not null, base_model varchar not null);
create table forecast_hierarchy_choice (metric varchar not null, method varchar not null, mae_national double,
    mae_region double, mae_cell double, score double, is_chosen boolean not null, cutoff_at timestamp,
    window_days integer not null, nodes integer not null, input_hash varchar not null,
    computed_at timestamp not null, seconds double not null);
insert into forecast_hierarchy_choice values ('records', 'bottom_up', null, null, null, null, true, null, 0, 3,
    'h', '2026-03-01 10:00:00', 1.0);
"""


def test_a_run_stored_before_the_rule_is_due_once_and_its_tables_gain_the_new_columns():
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute(OLD_SCHEMA)
    stored = hierarchy._stored_run(con)  # read before any write: the old columns only
    assert stored["input_hash"] == "h" and stored["options_hash"] is None and stored["data_end_at"] is None
    plan = hierarchy.Plan(
        nodes=None, jobs=[], horizon=7, window=0, input_hash="new", stored_hash="h", options_hash="o",
        stored_options_hash=stored["options_hash"], complete_day=dt.date(2026, 3, 2), stored_complete_day=None,
    )  # fmt: skip
    assert plan.due  # a run from before options_hash: refit once
    hierarchy.ensure_schema(con)
    columns = {r[0] for r in con.execute("describe forecast_hierarchy_choice").fetchall()}
    assert {"options_hash", "data_end_at", *hierarchy.COVERAGE} <= columns
    columns = {r[0] for r in con.execute("describe forecast_hierarchy_values").fetchall()}
    assert set(hierarchy.BANDS) <= columns
