"""store.fetch is the project's one query runner (#21 item 2)."""

from __future__ import annotations

import ast
from pathlib import Path

import duckdb
import pytest

from analytics import store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def test_a_mapping_may_carry_names_the_statement_does_not_use(con):
    df = store.fetch(con, "select $a::int + 1 as x -- $b in a comment is no parameter", {"a": 1, "b": 2, "c": 3})
    assert df["x"].to_list() == [2]


def test_a_name_the_statement_uses_but_the_mapping_lacks_is_a_type_error(con):
    with pytest.raises(TypeError, match="needs parameters: b"):
        store.fetch(con, "select $a::int + $b::int as x", {"a": 1})


def test_positional_parameters_and_named_files(con):
    assert store.fetch(con, "select ?::int as x", [5])["x"].to_list() == [5]
    con.execute("create table plans (plan_id varchar)")
    con.execute("insert into plans values ('B'), ('A')")
    assert store.fetch(con, "@plans")["plan_id"].to_list() == ["A", "B"]


def test_no_module_defines_a_query_runner_of_its_own():
    own = []
    for path in (ROOT / "analytics").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in {"query", "run_query", "fetch_sql"}:
                own.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert own == []
