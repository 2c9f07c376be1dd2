"""The one tariff table (analytics/tariff.py) and the two engines generated from it.

* tiny frames: the generated Polars rule and unit expressions, one case at a time;
* both engines over every combination of the facts the rules test: the SQL fragments run in a
  real DuckDB and the Polars engine must put each record in the same rule class, count the same
  units and call the same records free; with the contract's table and with changed copies
  of it, so a rule changed in the table moves both engines, and a rule hand-written in one
  engine only would part them;
* the SQL files of the re-rating restate no rule (they include the generated fragments).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from decimal import Decimal as D
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import store, tariff
from analytics.marketing import rerate
from analytics.rating import INPUT_SCHEMA, rate_records

SQL_DIR = Path(__file__).resolve().parents[1] / "analytics" / "sql"
T0 = dt.datetime(2026, 3, 10, 12, 0)
PLANS = pl.DataFrame(
    {
        "plan_id": ["P"],
        "incl_voice_min": [3],
        "incl_sms": [1],
        "incl_data_mb": [2],
        "voice_per_min": [D("0.10")],
        "sms_each": [D("0.05")],
        "data_per_mb": [D("0.0125")],
        "intl_voice_per_min": [D("0.50")],
        "roaming_voice_per_min": [D("1.00")],
        "roaming_data_per_mb": [D("0.20")],
    }
)


def _rule(name: str, **changes) -> tuple[tariff.Rule, ...]:
    """A copy of the contract's table with one rule changed."""
    return tuple(dataclasses.replace(r, **changes) if r.name == name else r for r in tariff.TARIFF)


def _swap(first: str, second: str) -> tuple[tariff.Rule, ...]:
    rules = list(tariff.TARIFF)
    i, j = (next(k for k, r in enumerate(rules) if r.name == n) for n in (first, second))
    rules[i], rules[j] = rules[j], rules[i]
    return tuple(rules)


CHANGED = {
    "contract": tariff.TARIFF,
    "incoming calls at home pay voice_per_min": _rule("voice_incoming_free", rate="voice_per_min"),
    "sms abroad spend the sms allowance": _rule(
        "sms_international", allowance="incl_sms", overage="sms_international_overage"
    ),
    "international beats roaming": _swap("voice_roaming", "voice_international"),
    "roaming data is free": _rule("data_roaming", rate=None),
}


def rec(service: str = "voice", **kw) -> dict:
    row = {
        "record_id": "r",
        "start_at": T0,
        "msisdn": "447700900001",
        "service": service,
        "direction": "out",
        "duration_s": 0,
        "disposition": "answered",
        "bytes_up": 0,
        "bytes_down": 0,
        "is_roaming": False,
        "destination_country": "GB",
        "plan_id": "P",
    }
    return row | kw


def rated(rows: list[dict], rules: tuple[tariff.Rule, ...] = tariff.TARIFF) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=INPUT_SCHEMA).lazy()
    return rate_records(frame, PLANS.lazy(), home_country="GB", rules_table=rules).collect()


# --- tiny frames: the generated Polars expressions -------------------------------------------


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        (rec(disposition="busy", is_roaming=True), "unanswered_free"),
        (rec(direction="in", is_roaming=True), "voice_roaming"),
        (rec(direction="in"), "voice_incoming_free"),
        (rec(destination_country="fr"), "voice_international"),
        (rec(destination_country=" "), "voice_domestic_allowance"),
        (rec(destination_country=None, disposition=None, is_roaming=None), "voice_domestic_allowance"),
        (rec("mms", direction="in", is_roaming=True), "sms_incoming_free"),
        (rec("sms", is_roaming=True, destination_country="FR"), "sms_roaming"),
        (rec("sms", destination_country="FR"), "sms_international"),
        (rec("sms", disposition="failed"), "sms_allowance"),
        (rec("video", direction="in", is_roaming=True), "data_roaming"),
        (rec("voip", destination_country="FR"), "data_allowance"),
        (rec(plan_id="NOPE"), "unknown_plan"),
        (rec("fax"), "unknown_plan"),
    ],
)
def test_rule_case_picks_the_first_matching_rule(row: dict, rule: str) -> None:
    frame = pl.DataFrame([row], schema=INPUT_SCHEMA).with_columns(
        pl.col("plan_id").replace_strict({"P": 0}, default=None, return_dtype=pl.Int64).alias("_plan_idx")
    )
    code = frame.select(tariff.rule_case("GB", pl.col("_plan_idx").is_null()).alias("c"))["c"][0]
    assert tariff.compile_tariff().codes[code] == rule


@pytest.mark.parametrize(
    ("row", "units"),
    [
        (rec(duration_s=0), 0),
        (rec(duration_s=1), 1),
        (rec(duration_s=60), 1),
        (rec(duration_s=61), 2),
        (rec("sms"), 1),
        (rec("data", bytes_up=1), 1),
        (rec("data", bytes_up=1_000_000), 1),
        (rec("data", bytes_up=999_999, bytes_down=2), 2),
        (rec("video", bytes_up=None, bytes_down=3_000_000), 3),
        (rec(direction="in", duration_s=600), 0),  # free: no units
        (rec(duration_s=None), None),  # a required duration missing is not taken for 0 s
    ],
)
def test_units_of_the_rule_family(row: dict, units: int | None) -> None:
    assert rated([row])["billable_units"].to_list() == [units]


def test_a_changed_table_changes_the_polars_engine() -> None:
    rows = [rec(record_id="a", direction="in", duration_s=61), rec("sms", record_id="b", destination_country="FR")]
    got = rated(rows, CHANGED["incoming calls at home pay voice_per_min"]).sort("record_id")
    assert got["rule"].to_list() == ["voice_incoming_free", "sms_international"]
    assert got["expected_charge"].to_list() == [D("0.20"), D("0.05")]  # 2 min x 0.10; one sms x 0.05
    got = rated(rows, CHANGED["sms abroad spend the sms allowance"]).sort("record_id")
    assert got["rule"].to_list() == ["voice_incoming_free", "sms_international"]
    assert got["expected_charge"].to_list() == [D("0"), D("0")]
    assert got["allowance_kind"].to_list() == [None, "sms"]


def test_an_inconsistent_table_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="sms_roaming: rate 'sms_per_unit' not a plans.csv rate column"):
        tariff.compile_tariff(_rule("sms_roaming", rate="sms_per_unit"))
    with pytest.raises(ValueError, match="names an incl_\\* column, a rate and its overage rule"):
        tariff.compile_tariff(_rule("data_roaming", allowance="incl_data_mb"))


# --- both engines over every combination of facts --------------------------------------------


def _combinations() -> list[dict]:
    rows = []
    services = ["voice", "sms", "mms", "data", "voip", "video"]
    for i, (service, direction, disposition, roaming, dest) in enumerate(
        itertools.product(services, ["out", "in"], ["answered", "busy"], [False, True], ["GB", "gb", "", "FR"])
    ):
        rows.append(
            rec(
                service,
                record_id=f"r{i:03d}",
                start_at=T0 + dt.timedelta(minutes=i),
                direction=direction,
                disposition=disposition,
                is_roaming=roaming,
                destination_country=dest,
                duration_s=(i * 37) % 200,
                bytes_up=(i * 337_001) % 3_000_000,
                bytes_down=(i * 1_234_567) % 4_000_000,
            )
        )
    return rows


def _sql_side(rows: list[dict], rules: tuple[tariff.Rule, ...]) -> pl.DataFrame:
    frag = tariff.sql_fragments(rules)
    query = (
        f"select record_id, {frag['rating_class']}, {frag['rating_units']}, "
        f"{frag['rating_free_record']} as is_free from _records order by record_id"
    )
    frame = pl.DataFrame(rows, schema=INPUT_SCHEMA)
    home = tariff.sql_home_values(frame["destination_country"].unique(), home_country="GB")
    con = duckdb.connect()
    try:
        con.register("_records", frame)
        return con.sql(query, params={"home_values": home}).pl()
    finally:
        con.close()


@pytest.mark.parametrize("change", list(CHANGED))
def test_sql_fragments_and_polars_engine_follow_the_same_table(change: str) -> None:
    rules = CHANGED[change]
    compiled = tariff.compile_tariff(rules)
    rows = _combinations()
    sql = _sql_side(rows, rules)
    engine = rated(rows, rules).sort("record_id")
    base_rule = {r.overage: r.name for r in rules if r.overage} | {r.name: r.name for r in rules}
    free = tariff.free_rules(rules)
    expected = engine.select(
        "record_id",
        pl.col("rule").replace_strict(base_rule).replace_strict(compiled.rule_class).cast(pl.Int64).alias("class"),
        pl.col("billable_units").alias("units"),
        pl.col("rule").is_in(free).alias("is_free"),
    )
    got = sql.with_columns(
        pl.col("class").cast(pl.Int64), pl.when(pl.col("class") > 0).then(pl.col("units")).otherwise(0).cast(pl.Int64)
    )
    assert_frame_equal(got, expected)
    # the free rules are exactly those that charge nothing, and charge nothing under any plan
    assert engine.filter(pl.col("rule").is_in(free))["expected_charge"].sum() == 0
    charging = engine.filter(~pl.col("rule").is_in(free) & (pl.col("billable_units") > 0))
    assert charging.height > 0 and not (charging["rule"].str.ends_with("_overage")).all()
    if change != "contract":  # not vacuous: the change moved some record in both engines
        before = rated(rows).sort("record_id")
        cols = ["rule", "allowance_kind", "units_from_allowance", "expected_charge"]
        assert not engine.select(cols).equals(before.select(cols))
        assert not sql["class"].equals(_sql_side(rows, tariff.TARIFF)["class"])


def test_sql_classes_price_as_the_engine() -> None:
    """rerate's plan rates (class -> allowance, rate) are the engine's: a class's records pay
    its rate for each unit beyond its allowance."""
    rows = _combinations()
    engine = rated(rows).sort("record_id")
    sql = _sql_side(rows, tariff.TARIFF)
    rates = rerate.plan_rates(PLANS)
    joined = (
        engine.join(sql.select("record_id", "class"), on="record_id")
        .filter(pl.col("class") > 0)
        .join(rates, on=["plan_id", "class"])
    )
    paid = pl.col("billable_units") - pl.col("units_from_allowance")
    cents = (paid * pl.col("rate_e4") + 50) // 100
    assert joined.height == sql.filter(pl.col("class") > 0).height
    assert (joined["expected_charge"] * 100).cast(pl.Int64).to_list() == joined.select(cents).to_series().to_list()
    own = tariff.allowance_rates()
    allowance = engine.filter(pl.col("allowance_kind").is_not_null())
    assert set(allowance["allowance_kind"]) == set(own)


# --- the SQL text restates no rule -----------------------------------------------------------

RULE_TEXT = re.compile(
    r"service\s*(=|in\b)|disposition\s*(=|<>)|direction\s*(=|<>)|list_contains\(\$home_values|\+\s*59\b|999999"
)
RERATING = ("marketing_plan_costs", "marketing_allowance_units", "marketing_exceeded_months", "marketing_rating_input")


@pytest.mark.parametrize("name", RERATING)
def test_rerating_sql_includes_the_generated_rules_and_restates_none(name: str) -> None:
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
    assert "{include:rating_" in code
    assert not RULE_TEXT.search(code), f"{name}.sql restates a tariff rule: {RULE_TEXT.search(code).group(0)!r}"
    assert RULE_TEXT.search(store.sql(name)), "the generated rules are spliced in"


def test_no_sql_file_shadows_a_generated_fragment() -> None:
    shadows = [n for n in tariff.sql_fragments() if (SQL_DIR / f"{n}.sql").exists()]
    assert not shadows, f"generated from analytics/tariff.py, remove the files: {shadows}"
