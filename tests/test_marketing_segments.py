"""Segments: deterministic with a seed, named from centroids; the two commands end to end."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys

import polars as pl
import pytest
from test_marketing_support import make_warehouse, plans_frame, records_frame

from analytics import store
from analytics.marketing.report import segment_report

PLANS = plans_frame(
    [
        ("S", "Small", "10", 100, 50, 1000, "0.10", "0.05", "0.01", "1.00", "2.00", "0.50"),
        ("XL", "Extra", "40", 3000, 3000, 50000, "0.05", "0.02", "0.005", "0.80", "1.50", "0.25"),
    ]
)


def _population() -> pl.DataFrame:
    rnd = random.Random(11)
    rows, n = [], 0

    def add(msisdn, day, hour, service, **kw):
        nonlocal n
        n += 1
        rows.append(
            {
                "record_id": f"r{n}",
                "start_at": f"2026-03-{day:02d} {hour:02d}:{rnd.randrange(60):02d}:00",
                "msisdn": msisdn,
                "service": service,
                "other_party": f"+44{rnd.randrange(30)}",
                **kw,
            }
        )

    for i in range(20):  # heavy data users
        for d in range(1, 21):
            add(f"D{i:02d}", d, 14, "data", bytes_down=rnd.randrange(200, 400) * 1_000_000)
        add(f"D{i:02d}", 3, 12, "voice", duration_s=30)
    for i in range(20):  # long callers, daytime
        for d in range(1, 16):
            add(f"V{i:02d}", d, 10, "voice", duration_s=rnd.randrange(600, 1800))
    for i in range(20):  # night texters
        for d in range(1, 11):
            for _ in range(4):
                add(f"T{i:02d}", d, 23, "sms")
    # two months of history for the churn signal: T-users were busier in February
    for i in range(20):
        for d in range(1, 28):
            for _ in range(3):
                add(f"T{i:02d}", d, 22, "sms")
                rows[-1]["start_at"] = rows[-1]["start_at"].replace("2026-03-", "2026-02-")
    return records_frame(rows)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    subs = pl.DataFrame(
        {"msisdn": [f"{g}{i:02d}" for g in "DVT" for i in range(20)], "plan_id": ["XL"] * 20 + ["S"] * 40}
    )
    path = tmp_path_factory.mktemp("seg") / "wh.duckdb"
    return make_warehouse(path, _population(), plans=PLANS, subscribers=subs)


def test_segments_are_deterministic_and_named(warehouse):
    with store.reader(warehouse) as con:
        first = segment_report(con, options={"seed": 3})
        second = segment_report(con, options={"seed": 3})
    a, b = first["subscribers"], second["subscribers"]
    assert a.select("msisdn", "segment_id", "segment").equals(b.select("msisdn", "segment_id", "segment"))
    assert 3 <= first["totals"]["k"] <= 8
    segs = first["segments"]
    assert segs["segment"].n_unique() == segs.height
    assert segs["subscribers"].sum() == 60
    # the three behaviours land in different segments, each homogeneous
    by_group = (
        a.with_columns(pl.col("msisdn").str.slice(0, 1).alias("g"))
        .group_by("g")
        .agg(pl.col("segment").n_unique().alias("n"), pl.col("segment").first().alias("segment"))
    )
    assert by_group["n"].to_list() == [1, 1, 1]
    names = dict(zip(by_group["g"], by_group["segment"], strict=False))
    assert len(set(names.values())) == 3
    assert "heavy data" in names["D"]
    assert "night owl" in names["T"] or "texter" in names["T"]
    # T users fell from 81 to 40 texts month over month: churn risk
    t_seg = segs.filter(pl.col("segment") == names["T"])
    assert t_seg["churn_risk_share"][0] == 1.0
    matrix = first["matrix"]
    assert matrix.filter(pl.col("segment") == names["D"])["current_plan"].to_list() == ["XL"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *args, "--json"], capture_output=True, text=True)


@pytest.mark.slow
def test_segments_command_json_and_out_csv(warehouse, tmp_path):
    out = tmp_path / "seg.csv"
    res = _cli("segments", "--warehouse", str(warehouse), "--month", "2026-03", "--out", str(out), "--seed", "3")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert sum(s["subscribers"] for s in data["segments"]) == 60
    assert {"segment", "subscribers"} <= set(data["segments"][0])
    assert isinstance(data["recommendations"], int) and "estimated_savings" in data
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60
    for col in (
        "msisdn",
        "segment",
        "current_plan",
        "recommended_plan",
        "current_cost",
        "recommended_cost",
        "radius_of_gyration",
        "entropy_of_contacts_call",
    ):
        assert col in rows[0]
    d00 = next(r for r in rows if r["msisdn"] == "D00")
    assert d00["current_plan"] == "XL" and float(d00["current_cost"]) >= 40.0
    assert sum(r["is_recommendation"] == "true" for r in rows) == data["recommendations"]


def test_indicators_command_numbers_as_delivered(warehouse):
    res = _cli("indicators", "--warehouse", str(warehouse), "--month", "2026-03")
    assert res.returncode == 0, res.stderr
    subs = json.loads(res.stdout)["subscribers"]
    assert len(subs) == 60 and subs[0]["msisdn"] == "D00"
    t = next(s for s in subs if s["msisdn"] == "T00")
    assert t["number_of_interactions_text"] == 40 and t["percent_nocturnal_text"] == 1.0
    assert t["number_of_interactions_call"] is None


def test_empty_warehouse_keeps_shape(tmp_path):
    path = make_warehouse(tmp_path / "wh.duckdb", records_frame([]), plans=PLANS)
    res = _cli("segments", "--warehouse", str(path), "--month", "2026-03")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["segments"] == [] and data["recommendations"] == 0 and data["estimated_savings"] == 0
    res = _cli("indicators", "--warehouse", str(path))
    assert res.returncode == 0 and json.loads(res.stdout)["subscribers"] == []
