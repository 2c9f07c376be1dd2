"""Billed charges of the demo world: the rating engine's expected charge, with rare errors.

Every record is rated with :func:`analytics.rating.rate_records` (so billed = expected
by construction); then a small share of records (``ERROR_RATE`` in all, split evenly
over the classes) is billed wrongly, one class at a time, each built so that the billing
reconciliation's class rules single it out:

* ``over_charged`` / ``under_charged``: a record paying at a single rate with no allowance
  use, billed x1.5 + 5p / x0.5 (nudged a penny if that happened to equal another rate);
* ``charged_but_free``: an incoming call at home or an unanswered call, billed 0.20-1.50;
* ``allowance_not_applied``: a record inside its allowance, billed all its units at its
  own overage rate;
* ``wrong_rate_class``: a domestic outgoing call billed every minute at the intl rate;
* ``duplicate_charge``: a billed record (expected > 0) delivered again in a later file
  (chosen here, written by :mod:`analytics.demo.extracts`); its expected charge is 0.

Money is handled in integer pence.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analytics.demo.world import HOME_COUNTRY
from analytics.rating import INPUT_SCHEMA, RATE_COLUMNS, rate_records  # the one rating engine

ERROR_RATE = 0.0005
MIN_PER_CLASS = 3
CLASSES = (
    "over_charged",
    "under_charged",
    "charged_but_free",
    "allowance_not_applied",
    "wrong_rate_class",
    "duplicate_charge",
)
OWN_RATE = {"voice": "voice_per_min", "sms": "sms_each", "data": "data_per_mb"}


def rate(records: pl.DataFrame, plans: pl.DataFrame, *, timezone: str) -> pl.DataFrame:
    """Expected charge per record (grain kept): adds ``expected_p`` (pence) and the rating columns."""
    needed = records.select(list(INPUT_SCHEMA))  # the wide text columns stay out of the engine's copies
    rated = rate_records(needed.lazy(), plans.lazy(), home_country=HOME_COUNTRY, timezone=timezone)
    return rated.select(
        "record_id",
        pl.col("plan_id").cast(pl.String),
        "rule",
        "allowance_kind",
        "billable_units",
        "units_from_allowance",
        (pl.col("expected_charge").cast(pl.Float64) * 100).round(0).cast(pl.Int64).alias("expected_p"),
    ).collect()


def _rate_pence(rated: pl.DataFrame, plans: pl.DataFrame) -> pl.DataFrame:
    cols = [(pl.col(c).cast(pl.Float64) * 100).round(0).cast(pl.Int64).alias(c) for c in RATE_COLUMNS]
    return rated.select("plan_id").join(plans.select("plan_id", *cols), on="plan_id", how="left", maintain_order="left")


def inject(
    rng: np.random.Generator, rated: pl.DataFrame, plans: pl.DataFrame
) -> tuple[np.ndarray, list[dict], np.ndarray, np.ndarray]:
    """(billed pence per record, billing errors, rows for duplicate_charge, rows for plain duplicates).

    Rows are positions in ``rated``. Plain duplicates are records billed 0 (re-delivered,
    not re-billed), so only ``duplicate_charge`` rows make a duplicate charge.
    """
    n = len(rated)
    billed = rated["expected_p"].to_numpy().copy()
    per_class = max(MIN_PER_CLASS, int(round(ERROR_RATE * n / len(CLASSES))))

    def is_rule(*names: str) -> np.ndarray:
        return rated.select(pl.col("rule").is_in(list(names)))["rule"].to_numpy()

    units = rated["billable_units"].fill_null(0).to_numpy()
    from_allow = rated["units_from_allowance"].fill_null(0).to_numpy()
    expected = billed.copy()
    rates = _rate_pence(rated, plans)
    used = np.zeros(n, dtype=bool)

    def pick(mask: np.ndarray, k: int = per_class) -> np.ndarray:
        pool = np.flatnonzero(mask & ~used)
        chosen = np.sort(rng.choice(pool, size=min(k, len(pool)), replace=False)) if len(pool) else pool
        used[chosen] = True
        return chosen

    def clash(rows: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Billed values that equal some units x rate (would read as a wrong rate class)."""
        hit = np.zeros(len(rows), dtype=bool)
        for c in RATE_COLUMNS:
            r = rates[c].to_numpy()[rows]
            for u in (units[rows], units[rows] - from_allow[rows]):
                hit |= value == u * r
        return hit

    errors: dict[str, np.ndarray] = {}
    single = (from_allow == 0) & is_rule(
        "voice_domestic_overage",
        "voice_international",
        "voice_roaming",
        "sms_overage",
        "sms_international",
        "sms_roaming",
        "data_overage",
        "data_roaming",
    )
    rows = pick(single & (expected >= 4))
    value = np.round(expected[rows] * 1.5).astype(np.int64) + 5
    while (c := clash(rows, value)).any():
        value[c] += 1
    billed[rows], errors["over_charged"] = value, rows
    rows = pick(single & (expected >= 10))
    value = np.round(expected[rows] * 0.5).astype(np.int64)
    while (c := clash(rows, value)).any():
        value[c] -= 1
    billed[rows], errors["under_charged"] = value, rows
    rows = pick(is_rule("voice_incoming_free", "unanswered_free"))
    billed[rows], errors["charged_but_free"] = rng.integers(20, 150, len(rows)), rows
    own = np.zeros(n, dtype=np.int64)
    for k, c in OWN_RATE.items():
        own = np.where((rated["allowance_kind"] == k).fill_null(False).to_numpy(), rates[c].to_numpy(), own)
    full = units * own
    rows = pick((from_allow > 0) & (full > expected) & (units >= 2))
    billed[rows], errors["allowance_not_applied"] = full[rows], rows
    intl = units * rates["intl_voice_per_min"].to_numpy()
    rows = pick(
        is_rule("voice_domestic_allowance", "voice_domestic_overage")
        & (units >= 1)
        & (intl != expected)
        & (intl != full)
    )
    billed[rows], errors["wrong_rate_class"] = intl[rows], rows
    dup_charge = pick(expected > 0)
    plain_dups = pick(expected == 0, max(MIN_PER_CLASS, int(round(0.0003 * n))))

    ids = rated["record_id"]
    out = [
        {
            "record_id": str(ids[int(r)]),
            "class": cls,
            "billed": round(int(billed[r]) / 100, 2),
            "expected": round(int(expected[r]) / 100, 2),
        }
        for cls, rows in errors.items()
        for r in rows
    ]
    out += [
        {
            "record_id": str(ids[int(r)]),
            "class": "duplicate_charge",
            "billed": round(int(billed[r]) / 100, 2),
            "expected": 0.0,
        }
        for r in dup_charge
    ]
    return billed, sorted(out, key=lambda e: e["record_id"]), dup_charge, plain_dups
