"""Precision and recall of every detector on the labelled world of tests/fraud_labelled.py
(generated here, independently of analytics.demo), issue #17 item 4.

Targets: every fraud actor of every type alerted with its type (recall 1.0 per type on this
set), no honest look-alike alerted by any detector, overall precision >= 0.8. The table in
docs/fraud.md is printed by ``.venv/bin/python tests/fraud_labelled.py``.
"""

from __future__ import annotations

import pytest
from fraud_labelled import TYPES, measure

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    return measure(tmp_path_factory.mktemp("labelled"))


def test_the_labelled_world_has_fraud_of_every_type_and_every_look_alike(measured):
    world, _, _ = measured
    assert all(len(world["fraud"][t]) >= 2 for t in TYPES), world["fraud"]
    kinds = {"steady_heavy", "weekend_heavy", "one_off_download", "traveller", "new_line", "call_centre",
             "diaspora_caller", "foreign_caller", "handset_change", "domestic_flyer"}  # fmt: skip
    assert set(world["honest"]) == kinds and all(world["honest"].values())


@pytest.mark.parametrize("alert_type", TYPES)
def test_every_actor_of_the_type_is_caught(measured, alert_type):
    _, rows, _ = measured
    row = next(r for r in rows if r["type"] == alert_type)
    assert row["missed"] == [] and row["recall"] == 1.0, row


def test_overall_precision_at_least_0_8(measured):
    _, rows, overall = measured
    assert overall["precision"] >= 0.8, rows


def test_no_honest_look_alike_is_alerted(measured):
    world, _, _ = measured
    honest = {m: kind for kind, lines in world["honest"].items() for m in lines}
    found = world["found"]
    wrongly = [(t, m, honest[m]) for t, m in zip(found["type"], found["msisdn"], strict=True) if m in honest]
    assert wrongly == []
