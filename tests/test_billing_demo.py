"""The demo world's injected billing errors (truth.json) are all found, with the right class,
and nothing else is flagged."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from analytics import demo, store
from analytics.billing.reconcile import reconcile


@pytest.mark.slow
def test_injected_billing_errors_found_exactly(tmp_path: Path) -> None:
    if not hasattr(demo, "build"):
        pytest.skip("analytics.demo.build does not exist yet")
    out = demo.build(tmp_path / "wh.duckdb", tmp_path / "demo", subscribers=300, months=2, seed=11)
    truth = json.loads(Path(out["truth"]).read_text(encoding="utf-8"))
    errors = truth["billing_errors"]
    assert {e["class"] for e in errors} >= {
        "over_charged",
        "under_charged",
        "charged_but_free",
        "allowance_not_applied",
        "wrong_rate_class",
        "duplicate_charge",
    }
    with store.reader(tmp_path / "wh.duckdb") as con:
        summary, mism = reconcile(con)
    found = {(r["record_id"], r["mismatch_class"]) for r in mism.iter_rows(named=True)}
    assert found == {(e["record_id"], e["class"]) for e in errors}
    amounts = {(r["record_id"], r["mismatch_class"]): (r["billed"], r["expected"]) for r in mism.iter_rows(named=True)}
    for e in errors:
        billed, expected = amounts[(e["record_id"], e["class"])]
        assert (billed, expected) == (Decimal(str(e["billed"])), Decimal(str(e["expected"]))), e
    assert summary["mismatches"] == len(errors)
    assert summary["records_checked"] > 10 * len(errors)
