"""Plan recommendations: re-rated costs equal hand-computed bills (rating engine reused)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from test_marketing_support import make_warehouse, plans_frame, records_frame

from analytics import store
from analytics.marketing.recommend import RECOMMENDATION_SCHEMA, month_recommendations

PLANS = plans_frame(
    [
        # plan, name, fee, voice min, sms, MB, voice/min, sms, data/MB, intl/min, roam voice/min, roam data/MB
        ("S", "Small", "10", 10, 5, 100, "0.10", "0.05", "0.0125", "1.00", "2.00", "0.50"),
        ("L", "Large", "30", 1000, 1000, 10000, "0.05", "0.02", "0.005", "0.80", "1.50", "0.25"),
    ]
)
SUBSCRIBERS = pl.DataFrame({"msisdn": ["U1", "U2"], "plan_id": ["S", "S"]})


def _rows():
    def r(i, when, msisdn, service, **kw):
        return {"record_id": f"r{i}", "start_at": when, "msisdn": msisdn, "service": service, **kw}

    u1 = [
        # allowance 10 min: 6 used, then a 7-minute call crosses the boundary (4 free + 3 paid)
        r(1, "2026-03-02 10:00:00", "U1", "voice", duration_s=301),
        r(2, "2026-03-02 11:00:00", "U1", "voice", duration_s=361),
        r(3, "2026-03-02 12:00:00", "U1", "voice", duration_s=61, destination_country="FR"),  # intl 2 min
        r(4, "2026-03-02 13:00:00", "U1", "voice", duration_s=600, direction="in"),  # free at home
        r(5, "2026-03-02 14:00:00", "U1", "voice", duration_s=0, disposition="no_answer"),  # free
        r(
            6,
            "2026-03-03 09:00:00",
            "U1",
            "voice",
            duration_s=90,
            direction="in",
            is_roaming=True,
            cell_id=None,
            region="ROAMING",
        ),  # roaming incoming: 2 min
        *[r(10 + k, f"2026-03-04 10:0{k}:00", "U1", "sms") for k in range(6)],  # 5 in allowance + 1
        r(20, "2026-03-04 11:00:00", "U1", "sms", direction="in"),  # free
        r(21, "2026-03-04 12:00:00", "U1", "sms", is_roaming=True, cell_id=None, region="ROAMING"),
        # 102,000,001 bytes = 103 started MB: 100 in allowance, 3 x 0.0125 = 0.0375 -> 0.04
        r(22, "2026-03-05 10:00:00", "U1", "data", bytes_up=2_000_001, bytes_down=100_000_000),
        r(
            23,
            "2026-03-05 11:00:00",
            "U1",
            "data",
            bytes_down=2_000_001,
            is_roaming=True,
            cell_id=None,
            region="ROAMING",
        ),  # 3 MB roaming
        *[r(30 + k, f"2026-02-10 10:0{k}:00", "U1", "sms") for k in range(6)],  # February: over too
    ]
    u2 = [
        r(40, "2026-03-06 10:00:00", "U2", "voice", duration_s=30, plan_id="L"),  # own plan_id wins
        r(41, "2026-03-06 10:05:00", "U2", "sms", plan_id="L"),
    ]
    u3 = [r(50, "2026-03-07 10:00:00", "U3", "voice", duration_s=120)]  # no plan known
    return records_frame(u1 + u2 + u3)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    path = make_warehouse(tmp_path_factory.mktemp("rec") / "wh.duckdb", _rows(), plans=PLANS, subscribers=SUBSCRIBERS)
    with store.reader(path) as con:
        return month_recommendations(con, dt.date(2026, 3, 1), timezone="UTC", home_country="GB")


def _cost(result, msisdn, plan):
    costs = result["plan_costs"]
    return costs.filter((pl.col("msisdn") == msisdn) & (pl.col("plan_id") == plan))["total_cost"][0]


def test_bills_under_every_plan_equal_hand_computed(result):
    # S: 0.30 (3 min over) + 2.00 intl + 4.00 roaming call + 0.05 sms over + 0.05 roaming sms
    #    + 0.04 data over + 1.50 roaming data = 7.94, + fee 10
    assert _cost(result, "U1", "S") == Decimal("17.94")
    # L: 1.60 intl + 3.00 roaming call + 0.02 roaming sms + 0.75 roaming data = 5.37, + fee 30
    assert _cost(result, "U1", "L") == Decimal("35.37")
    assert _cost(result, "U2", "S") == Decimal("10")
    assert _cost(result, "U2", "L") == Decimal("30")
    assert _cost(result, "U3", "S") == Decimal("10")  # 2 minutes inside the allowance
    assert _cost(result, "U3", "L") == Decimal("30")


def test_recommendations(result):
    recs = result["recommendations"]
    assert recs.schema == RECOMMENDATION_SCHEMA
    by = {r["msisdn"]: r for r in recs.to_dicts()}
    assert by["U1"]["current_plan"] == "S" and not by["U1"]["is_recommendation"]
    assert by["U1"]["recommended_plan"] == "S" and by["U1"]["saving"] == Decimal("0")
    assert by["U1"]["voice_allowance_use"] == pytest.approx(13 / 10)
    assert by["U1"]["sms_allowance_use"] == pytest.approx(6 / 5)
    assert by["U1"]["data_allowance_use"] == pytest.approx(103 / 100)
    assert by["U2"]["current_plan"] == "L" and by["U2"]["is_recommendation"]
    assert (by["U2"]["recommended_plan"], by["U2"]["recommended_cost"]) == ("S", Decimal("10"))
    assert by["U2"]["saving"] == Decimal("20") and by["U2"]["revenue_delta"] == Decimal("-20")
    assert by["U3"]["current_plan"] is None and not by["U3"]["is_recommendation"]
    assert by["U3"]["recommended_plan"] == "S"


def test_upsell_lists_regular_overage(result):
    ups = result["upsell"].to_dicts()
    assert [(u["msisdn"], u["months_exceeded"], u["upsell_plan"]) for u in ups] == [("U1", 2, "L")]
    assert ups[0]["upsell_cost"] == Decimal("35.37")


def test_empty_month_keeps_schema(tmp_path):
    path = make_warehouse(tmp_path / "wh.duckdb", _rows(), plans=PLANS, subscribers=SUBSCRIBERS)
    with store.reader(path) as con:
        out = month_recommendations(con, dt.date(2031, 1, 1), timezone="UTC", home_country="GB")
    assert out["recommendations"].height == 0
    assert out["recommendations"].schema == RECOMMENDATION_SCHEMA
