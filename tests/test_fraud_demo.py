"""On the seeded demo world: every injected fraud actor is found with its type, and no honest
look-alike (call centre, traveller, streamer, handset change) is flagged by any detector."""

from __future__ import annotations

import json

import pytest

from analytics import demo, store
from analytics.fraud import detect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory):
    build = getattr(demo, "build", None)
    if build is None:
        pytest.skip("analytics.demo.build does not exist yet")
    folder = tmp_path_factory.mktemp("fraud_demo")
    warehouse = folder / "warehouse.duckdb"
    build(warehouse, folder / "demo", subscribers=1500, months=2, seed=7)
    truth = json.loads((folder / "demo" / "truth.json").read_text())
    with store.reader(warehouse) as con:
        found = detect(con)
    return truth, found


def test_every_injected_actor_is_found_with_its_type(demo_world):
    truth, found = demo_world
    flagged = set(zip(found["type"], found["msisdn"], strict=True))
    expected = {(t, m) for t, actors in truth["fraud"].items() for m in actors}
    assert expected, "the demo world injected no fraud"
    assert expected - flagged == set()


def test_no_honest_look_alike_is_flagged(demo_world):
    truth, found = demo_world
    honest = {m: kind for kind, lines in truth["honest"].items() for m in lines}
    assert all(truth["honest"].values()), truth["honest"]
    wrongly = [(t, m, honest[m]) for t, m in zip(found["type"], found["msisdn"], strict=True) if m in honest]
    assert wrongly == []


def test_no_alert_on_lines_outside_the_truth(demo_world):
    truth, found = demo_world
    actors = {m for lines in truth["fraud"].values() for m in lines}
    assert sorted(set(found["msisdn"]) - actors) == []
