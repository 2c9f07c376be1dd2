"""Named SQL: every file loads, and shared fragments are spliced in by {include:name}."""

from __future__ import annotations

from analytics import store


def test_every_sql_file_loads_with_its_includes_resolved():
    names = sorted(p.stem for p in store.SQL_DIR.glob("*.sql"))
    assert names
    for name in names:
        assert "{include:" not in "\n".join(
            ln for ln in store.sql(name).splitlines() if not ln.lstrip().startswith("--")
        ), name


def test_include_splices_the_fragment_without_its_comments():
    text = store.sql("live_series")
    fragment = store.sql("live_kpi_aggregates")
    body = [ln for ln in fragment.splitlines() if ln.strip() and not ln.lstrip().startswith("--")]
    assert all(ln.strip() in text for ln in body)
    assert "count(distinct msisdn) as active_subscribers" in store.sql("live_window_aggregates")
    assert "-- The live KPIs' aggregate columns" not in text
    # the three marketing queries count units with the rating engine's one definition
    for name in ("marketing_plan_costs", "marketing_allowance_units", "marketing_exceeded_months"):
        assert "(bytes_up + bytes_down + 999999) // 1000000" in store.sql(name)


def test_transaction_commits_or_leaves_no_trace(tmp_path):
    import duckdb
    import pytest

    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("create table t (x int)")
    with store.transaction(con) as cur:
        cur.execute("insert into t values (1)")
    with pytest.raises(ValueError, match="boom"):
        with store.transaction(con) as cur:
            cur.execute("insert into t values (2)")
            raise ValueError("boom")
    assert con.execute("select list(x order by x) from t").fetchall() == [([1],)]
    con.close()
