"""The tariff rules of cdr-extract v1 ("Rating rules"), written once.

:data:`TARIFF` is a table of rules tested in order, first match wins, within a service family
(:data:`FAMILIES`). A rule says which record facts (:data:`FACTS`) must hold, which
``plans.csv`` rate column prices a unit (``None``: free) and which ``incl_*`` allowance the
record spends first. Both engines are generated from it:

* Polars (:mod:`analytics.rating`): :func:`rule_case`, :func:`units_expr` and the code tables
  of :class:`Compiled` drive ``rate_records``;
* SQL: :func:`sql_fragments` renders the ``{include:rating_class}``,
  ``{include:rating_units}`` and ``{include:rating_free_record}`` fragments that
  ``store.sql`` splices into the marketing re-rating queries (``analytics/sql/marketing_*``);
  these three are the only SQL text generated in Python, the queries around them stay in
  ``analytics/sql/``.

A SQL *class* groups rules priced alike: 0 free; 1-3 the allowance kinds (:data:`KINDS`: voice,
sms, data), whose units beyond the allowance pay the rule's rate; 4 and up one per (rate
column, unit) of pay-as-you-go rules, every unit paid. ``docs/billing.md`` has the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import polars as pl

# Allowance kinds in the order of the plans.csv incl_* columns (kind code = index).
KINDS = ("voice", "sms", "data")
ALLOWANCE_COLUMNS = ("incl_voice_min", "incl_sms", "incl_data_mb")
RATE_COLUMNS = (
    "voice_per_min",
    "sms_each",
    "data_per_mb",
    "intl_voice_per_min",
    "roaming_voice_per_min",
    "roaming_data_per_mb",
)
UNKNOWN_PLAN = "unknown_plan"
UNKNOWN_PLAN_TEXT = "no plan known for the record: not rated (expected_charge null)"


@dataclass(frozen=True)
class Unit:
    """Started units of ``size`` of the sum of ``columns`` (no columns: one per record);
    ``null_is_zero``: a missing value counts 0 (the contract's optional columns default to 0)."""

    name: str
    columns: tuple[str, ...]
    size: int
    null_is_zero: bool = False

    def polars(self) -> pl.Expr:
        if not self.columns:
            return pl.lit(1, dtype=pl.Int64)
        cols = [pl.col(c).cast(pl.Int64) for c in self.columns]
        total = pl.sum_horizontal(c.fill_null(0) for c in cols) if self.null_is_zero else sum(cols[1:], cols[0])
        return (total + (self.size - 1)) // self.size

    def sql(self) -> str:
        if not self.columns:
            return "1"
        cols = [f"{c}::bigint" for c in self.columns] if len(self.columns) == 1 else list(self.columns)
        return f"({' + '.join(cols)} + {self.size - 1}) // {self.size}"


MINUTE = Unit("started minute of duration_s", ("duration_s",), 60)
MESSAGE = Unit("message", (), 1)
MEGABYTE = Unit(
    "started MB (1,000,000 bytes) of bytes_up + bytes_down", ("bytes_up", "bytes_down"), 1_000_000, null_is_zero=True
)


@dataclass(frozen=True)
class Family:
    services: tuple[str, ...]
    unit: Unit


FAMILIES: dict[str, Family] = {
    "voice": Family(("voice",), MINUTE),
    "sms": Family(("sms", "mms"), MESSAGE),
    "data": Family(("data", "voip", "video"), MEGABYTE),
}


@dataclass(frozen=True)
class Fact:
    """A yes/no property of a record, in each engine (the records table has no nulls; the
    Polars side reads rating input where disposition and is_roaming may be null)."""

    sql_true: str
    sql_false: str

    def sql(self, value: bool) -> str:
        return self.sql_true if value else self.sql_false


FACTS: dict[str, Fact] = {
    "answered": Fact("disposition = 'answered'", "disposition <> 'answered'"),
    "roaming": Fact("is_roaming", "not is_roaming"),
    "outgoing": Fact("direction = 'out'", "direction <> 'out'"),
    # $home_values: the raw destination_country values at_home() reads as home (see rerate.home_values)
    "abroad": Fact(
        "not list_contains($home_values, destination_country)", "list_contains($home_values, destination_country)"
    ),
}


def at_home(destination_country: pl.Expr, home_country: str) -> pl.Expr:
    """True when a destination is the home country: case-insensitive, blank or null = home."""
    dest = destination_country.cast(pl.String).str.strip_chars().str.to_uppercase()
    return dest.is_in(["", home_country.upper()]).fill_null(True)


def sql_home_values(values: pl.Series, *, home_country: str) -> list[str]:
    """The ``$home_values`` of the SQL ``abroad`` fact: the raw ``destination_country``
    values among ``values`` that :func:`at_home` reads as home (never an empty list)."""
    home = values.cast(pl.String).to_frame("d").filter(at_home(pl.col("d"), home_country))["d"]
    return [v for v in home.to_list() if v is not None] or [""]


def polars_facts(home_country: str) -> dict[str, pl.Expr]:
    """:data:`FACTS` as Polars expressions over the rating input columns."""
    return {
        "answered": pl.col("disposition").fill_null("answered") == "answered",
        "roaming": pl.col("is_roaming").fill_null(False),
        "outgoing": pl.col("direction") == "out",
        "abroad": ~at_home(pl.col("destination_country"), home_country),
    }


@dataclass(frozen=True)
class Rule:
    """One tariff rule: the first rule of its family whose facts hold prices the record."""

    name: str
    family: str
    when: tuple[tuple[str, bool], ...]  # (fact, value) pairs that must all hold
    rate: str | None  # plans.csv rate per unit; None: free
    text: str
    allowance: str | None = None  # plans.csv incl_* column spent first
    overage: str | None = None  # the rule's name when the record pays for some units
    overage_text: str = ""


TARIFF: tuple[Rule, ...] = (
    Rule(
        "unanswered_free",
        "voice",
        (("answered", False),),
        None,
        "unanswered call (no_answer, busy, failed, dropped): free",
    ),
    Rule(
        "voice_roaming",
        "voice",
        (("roaming", True),),
        "roaming_voice_per_min",
        "call while roaming (either direction): every minute at roaming_voice_per_min",
    ),
    Rule("voice_incoming_free", "voice", (("outgoing", False),), None, "incoming call at home: free"),
    Rule(
        "voice_international",
        "voice",
        (("abroad", True),),
        "intl_voice_per_min",
        "outgoing call abroad: every minute at intl_voice_per_min",
    ),
    Rule(
        "voice_domestic_allowance",
        "voice",
        (),
        "voice_per_min",
        "outgoing answered domestic call fully inside the voice allowance",
        allowance="incl_voice_min",
        overage="voice_domestic_overage",
        overage_text="outgoing answered domestic call, minutes beyond the allowance at voice_per_min",
    ),
    Rule("sms_incoming_free", "sms", (("outgoing", False),), None, "incoming sms/mms: free"),
    Rule("sms_roaming", "sms", (("roaming", True),), "sms_each", "outgoing sms/mms while roaming: always sms_each"),
    Rule("sms_international", "sms", (("abroad", True),), "sms_each", "outgoing sms/mms abroad: always sms_each"),
    Rule(
        "sms_allowance",
        "sms",
        (),
        "sms_each",
        "outgoing domestic sms/mms inside the sms allowance",
        allowance="incl_sms",
        overage="sms_overage",
        overage_text="outgoing domestic sms/mms beyond the allowance at sms_each",
    ),
    Rule(
        "data_roaming",
        "data",
        (("roaming", True),),
        "roaming_data_per_mb",
        "data/voip/video while roaming: every MB at roaming_data_per_mb",
    ),
    Rule(
        "data_allowance",
        "data",
        (),
        "data_per_mb",
        "data/voip/video at home fully inside the data allowance",
        allowance="incl_data_mb",
        overage="data_overage",
        overage_text="data/voip/video at home, MB beyond the allowance at data_per_mb",
    ),
)


def validate_tariff(tariff: tuple[Rule, ...]) -> None:
    """Raise ``ValueError`` naming what is wrong with a rule table."""
    problems = []
    names = [UNKNOWN_PLAN, *(r.name for r in tariff), *(r.overage for r in tariff if r.overage)]
    if len(set(names)) != len(names):
        problems.append(f"rule names repeat: {names}")
    for r in tariff:
        if r.family not in FAMILIES:
            problems.append(f"{r.name}: family {r.family!r} not in {list(FAMILIES)}")
        if any(f not in FACTS for f, _ in r.when):
            problems.append(f"{r.name}: facts must be among {list(FACTS)}")
        if r.rate is not None and r.rate not in RATE_COLUMNS:
            problems.append(f"{r.name}: rate {r.rate!r} not a plans.csv rate column")
        if r.allowance is not None and (r.allowance not in ALLOWANCE_COLUMNS or r.rate is None or not r.overage):
            problems.append(f"{r.name}: an allowance rule names an incl_* column, a rate and its overage rule")
    if problems:
        raise ValueError("tariff rules: " + "; ".join(problems))


@dataclass(frozen=True)
class Compiled:
    """Integer codes of a tariff for the Polars engine and its SQL classes.

    ``codes``: rule names, ``unknown_plan`` first, each allowance rule followed by its overage
    (so an allowance code + 1 is its overage code)."""

    tariff: tuple[Rule, ...]
    codes: tuple[str, ...]
    classes: dict[int, tuple[str | None, str, Unit]]  # SQL class -> (allowance, rate, unit)
    rule_class: dict[str, int]  # base rule name -> SQL class (0: free)

    def code(self, name: str) -> int:
        return self.codes.index(name)


@lru_cache(maxsize=8)
def compile_tariff(tariff: tuple[Rule, ...] = TARIFF) -> Compiled:
    validate_tariff(tariff)
    codes = [UNKNOWN_PLAN]
    for r in tariff:
        codes += [r.name, r.overage] if r.overage else [r.name]
    classes: dict[int, tuple[str | None, str, Unit]] = {}
    rule_class: dict[str, int] = {}
    for r in tariff:
        unit = FAMILIES[r.family].unit
        if r.rate is None:
            rule_class[r.name] = 0
            continue
        if r.allowance is not None:
            key = 1 + ALLOWANCE_COLUMNS.index(r.allowance)
        else:
            key = next((k for k, v in classes.items() if k > 3 and v == (None, r.rate, unit)), max([3, *classes]) + 1)
        if classes.setdefault(key, (r.allowance, r.rate, unit)) != (r.allowance, r.rate, unit):
            raise ValueError(f"tariff rules: {r.name} spends {r.allowance} like another rule but prices it otherwise")
        rule_class[r.name] = key
    return Compiled(tariff, tuple(codes), dict(sorted(classes.items())), rule_class)


def rules_text(tariff: tuple[Rule, ...] = TARIFF) -> dict[str, str]:
    """Rule name -> plain-language text, in code order."""
    out = {UNKNOWN_PLAN: UNKNOWN_PLAN_TEXT}
    for r in tariff:
        out[r.name] = r.text
        if r.overage:
            out[r.overage] = r.overage_text
    return out


def free_rules(tariff: tuple[Rule, ...] = TARIFF) -> tuple[str, ...]:
    """Names of the rules that never charge (whatever the plan)."""
    return tuple(r.name for r in tariff if r.rate is None)


def allowance_rates(tariff: tuple[Rule, ...] = TARIFF) -> dict[str, str]:
    """Allowance kind -> the rate its units beyond the allowance pay."""
    return {KINDS[ALLOWANCE_COLUMNS.index(r.allowance)]: r.rate for r in tariff if r.allowance and r.rate}


# --- Polars -------------------------------------------------------------------------------


def rule_case(home_country: str, no_plan: pl.Expr, tariff: tuple[Rule, ...] = TARIFF) -> pl.Expr:
    """UInt8 code of each record's rule before its allowance is applied (an allowance rule's
    own code; ``unknown_plan`` when ``no_plan`` or no rule matches)."""
    compiled = compile_tariff(tariff)
    facts = polars_facts(home_country)
    service = pl.col("service")
    in_family = {name: service.is_in(list(f.services)) for name, f in FAMILIES.items()}
    expr = pl.when(no_plan).then(pl.lit(compiled.code(UNKNOWN_PLAN), dtype=pl.UInt8))
    for r in tariff:
        cond = in_family[r.family]
        for fact, value in r.when:
            cond = cond & (facts[fact] if value else ~facts[fact])
        expr = expr.when(cond).then(pl.lit(compiled.code(r.name), dtype=pl.UInt8))
    return expr.otherwise(pl.lit(compiled.code(UNKNOWN_PLAN), dtype=pl.UInt8))


def units_expr(code: pl.Expr, tariff: tuple[Rule, ...] = TARIFF) -> pl.Expr:
    """Billable units of a record given its rule ``code``: its family's unit, 0 when free."""
    compiled = compile_tariff(tariff)
    by_unit: dict[Unit, list[int]] = {}
    for r in tariff:
        if r.rate is not None:
            by_unit.setdefault(FAMILIES[r.family].unit, []).append(compiled.code(r.name))
    expr = None
    for unit, codes in by_unit.items():
        expr = (pl.when if expr is None else expr.when)(code.is_in(codes)).then(unit.polars())
    return pl.lit(0, dtype=pl.Int64) if expr is None else expr.otherwise(pl.lit(0, dtype=pl.Int64))


# --- SQL ----------------------------------------------------------------------------------


def _sql_service(family: Family) -> str:
    if len(family.services) == 1:
        return f"service = '{family.services[0]}'"
    return "service in (" + ", ".join(f"'{s}'" for s in family.services) + ")"


def _sql_when(rule: Rule) -> str:
    return " and ".join([_sql_service(FAMILIES[rule.family]), *(FACTS[f].sql(v) for f, v in rule.when)])


def sql_fragments(tariff: tuple[Rule, ...] = TARIFF) -> dict[str, str]:
    """The generated SQL fragments by include name (over the ``records`` columns)."""
    compiled = compile_tariff(tariff)
    cls = "\n".join(f"    when {_sql_when(r)} then {compiled.rule_class[r.name]}" for r in tariff)
    units = "\n".join(f"    when {_sql_service(f)} then {f.unit.sql()}" for f in FAMILIES.values())
    free = []
    for i, r in enumerate(tariff):
        if r.rate is not None:
            continue
        earlier = [p for p in tariff[:i] if p.family == r.family and p.rate is not None]
        parts = [_sql_service(FAMILIES[r.family]), *(FACTS[f].sql(v) for f, v in r.when)]
        for p in earlier:  # a chargeable rule tested first takes the record: it must not hold
            parts.append(_sql_not(p.when))
        free.append("(" + " and ".join(parts) + ")")
    return {
        "rating_class": f"case\n{cls}\n    else 0\nend as class",
        "rating_units": f"case\n{units}\n    else 0\nend as units",
        "rating_free_record": "(\n    " + ("\n    or ".join(free) or "false") + "\n)",
    }


def _sql_not(when: tuple[tuple[str, bool], ...]) -> str:
    if not when:
        return "false"
    if len(when) == 1:
        return FACTS[when[0][0]].sql(not when[0][1])
    return "not (" + " and ".join(FACTS[f].sql(v) for f, v in when) + ")"
