"""One home for SQL reads (#21 item 2): a select in analytics/ lives in analytics/sql/<name>.sql
and runs by name (``store.fetch(con, "@name", {...})``); writes stay with their owner.

The scan parses every module of analytics/ (but the folders other work rewrites) and flags
string literals and f-strings that start like a read (``select ...`` or ``with x as (``).
The few short guards left inline are listed below with their reason."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ANALYTICS = ROOT / "analytics"
SQL_DIR = ANALYTICS / "sql"
SKIPPED = ("analytics/ingest/", "analytics/forecast/", "analytics/lake.py")  # being rewritten elsewhere
READ = re.compile(r"^\s*\(?\s*(select\b|with\s+(recursive\s+)?\w+\s+as\s*\()", re.IGNORECASE)

CATALOG = "a catalog lookup guarding a schema step, not data returned to a caller"
# (module, start of the statement with spaces collapsed) -> why it stays inline
ALLOWED: dict[tuple[str, str], str] = {
    ("analytics/store.py", "select path from duckdb_databases()"): CATALOG + " (the runner's own module)",
    ("analytics/store.py", "select table_type from information_schema.tables"): CATALOG + " (the runner's own module)",
    ("analytics/store.py", "select count(*) from lake_files where tbl = 'records'"): CATALOG + " (store._moved)",
    ("analytics/store.py", "select sql from duckdb_views()"): CATALOG + " (store._moved)",
    ("analytics/store.py", "select count(*) from information_schema.tables"): "store.has_table: the guard itself",
    ("analytics/store.py", "select count(*) from records"): "store._migrate: counts checked inside its write",
    ("analytics/store.py", "select distinct strftime("): "store._migrate: the months it rewrites, inside its write",
    ("analytics/store.py", "select * from records where strftime("): "store._migrate: a month's rows it rewrites",
    ("analytics/store.py", "select count(*) from {}"): "store._migrate_cube: counts checked inside its write",
    ("analytics/store.py", "select * from {}"): "store._migrate_cube: the cube rows it moves, inside its write",
    ("analytics/billing/rated.py", "select table_type from information_schema.tables"): CATALOG,
    ("analytics/fraud/alerts.py", "select count(*) from duckdb_tables()"): CATALOG,
    ("analytics/fraud/cases.py", "select count(*) from fraud_alerts where alert_key = ?"): (
        "set_status: the alert exists, checked before its write"
    ),
    ("analytics/security/audit.py", "select path from duckdb_databases()"): "_warehouse_of: which file con is",
    ("analytics/security/retention.py", "select table_name from information_schema.tables"): CATALOG,
    ("analytics/security/retention.py", "select count(*) from {}"): (
        "run: rows before/after its own delete, on a table name it owns (no $parameter for a name)"
    ),
    ("analytics/security/db.py", "select * from {}{}"): (
        "_legacy_rows: a one-time copy of the old tables into the new store (table names, not values)"
    ),
}


def _text(node: ast.AST) -> str | None:
    """A literal's text; an f-string with ``{}`` for each replacement field."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and _text(body[0].value) is not None:
                out.add(id(body[0].value))
    return out


def inline_reads(source: str) -> list[tuple[int, str]]:
    """(line, statement with spaces collapsed) of every literal in ``source`` that reads like a query."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in ast.walk(tree):
        text = _text(node)
        if text is None or id(node) in skip or id(node) in inner:
            continue
        if READ.match(text):
            found.append((node.lineno, " ".join(text.split())))
    return sorted(found)


def _modules() -> list[Path]:
    return [p for p in sorted(ANALYTICS.rglob("*.py")) if not str(p.relative_to(ROOT)).startswith(SKIPPED)]


def _scan() -> list[tuple[str, int, str]]:
    return [
        (str(p.relative_to(ROOT)), line, text)
        for p in _modules()
        for line, text in inline_reads(p.read_text(encoding="utf-8"))
    ]


def _allowed(module: str, text: str) -> bool:
    return any(m == module and text.lower().startswith(start.lower()) for m, start in ALLOWED)


def test_no_inline_sql_read_outside_analytics_sql():
    offenders = [f"{m}:{line}: {text[:100]}" for m, line, text in _scan() if not _allowed(m, text)]
    assert not offenders, (
        "SQL reads belong in analytics/sql/<module>_<what>.sql, run with store.fetch(con, '@name', {...}) "
        "(or list a short guard in ALLOWED with its reason):\n" + "\n".join(offenders)
    )


def test_every_allowed_guard_still_exists():
    found = _scan()
    stale = [
        key for key in ALLOWED if not any(m == key[0] and t.lower().startswith(key[1].lower()) for m, _, t in found)
    ]
    assert not stale, f"allow-list entries that match nothing any more (remove them): {stale}"


@pytest.mark.parametrize(
    "source",
    [
        'store.fetch(con, "select * from plans")',
        'con.execute("""\n    SELECT count(*) FROM records\n""").fetchone()',
        'QUERY = "with final as (select 1) select * from final"',
        'store.fetch(con, f"select * from {table} where x = ?", [1])',
        'con.sql("select a " + "from b")',
        "def f(con):\n    return con.sql('(select 1)').pl()",
    ],
)
def test_the_scan_flags_an_inline_read(source):
    assert inline_reads(source), source


@pytest.mark.parametrize(
    "source",
    [
        'store.fetch(con, "@plans")',
        'def f():\n    """Select the mapped columns with care."""',
        'con.execute("insert into t select * from _incoming")',
        'con.execute("delete from rated_months where month_date = ?", [m])',
        'log.info("with %d rows", n)',
        'frame.select("msisdn")',
    ],
)
def test_the_scan_leaves_writes_names_and_prose_alone(source):
    assert not inline_reads(source), source


def test_every_named_sql_a_module_runs_exists_and_says_what_it_returns():
    names = set()
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            text = _text(node)
            if isinstance(node, ast.Constant) and id(node) not in inner and text and re.fullmatch(r"@[a-z0-9_]+", text):
                names.add(text[1:])
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "sql" and node.args:
                arg = _text(node.args[0])
                if arg and re.fullmatch(r"[a-z0-9_]+", arg):
                    names.add(arg)
    missing = sorted(n for n in names if not (SQL_DIR / f"{n}.sql").exists())
    assert not missing, f"named SQL without a file in analytics/sql: {missing}"
    headless = sorted(p.name for p in SQL_DIR.glob("*.sql") if not p.read_text(encoding="utf-8").startswith("--"))
    assert not headless, f"analytics/sql files without a header comment (what it returns, its parameters): {headless}"
