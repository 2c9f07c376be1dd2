"""Shared fixtures: tiny v1 extracts written to tmp_path and real DuckDB warehouses."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"

V1_COLUMNS = [
    "record_id",
    "start_time",
    "msisdn",
    "other_party",
    "service",
    "direction",
    "duration_s",
    "cell_id",
    "charge",
    "disposition",
    "bytes_up",
    "bytes_down",
    "roaming",
    "destination_country",
    "currency",
    "plan_id",
    "imsi",
    "imei",
]

CELLS_CSV = """cell_id,region,lat,lon,site_id,technology,capacity_erlangs
N1,North,54.9,-1.6,S1,4G,30
N2,North,54.8,-1.5,S1,5G,40
S1,South,50.9,-1.4,S2,4G,20
E1,East,52.6,1.3,S3,4G,25
Q1,Quiet,57.1,-2.1,S4,4G,10
"""

PLANS_CSV = """plan_id,name,monthly_fee,incl_voice_min,incl_sms,incl_data_mb,voice_per_min,sms_each,data_per_mb,intl_voice_per_min,roaming_voice_per_min,roaming_data_per_mb
P10,Basic,10.00,100,100,1000,0.10,0.05,0.01,1.00,1.50,0.50
P30,Unlimited-ish,30.00,3000,3000,50000,0.05,0.02,0.005,0.80,1.20,0.40
"""

SUBSCRIBERS_CSV = """msisdn,plan_id,activation_date
447700900001,P10,2025-01-15
447700900002,P30,2024-06-01
447700900003,P10,
"""


def record(**overrides: Any) -> dict[str, Any]:
    """One valid v1 row; override any field."""
    base = {
        "record_id": "r1",
        "start_time": "2026-03-10T12:00:00Z",
        "msisdn": "447700900001",
        "other_party": "447700900002",
        "service": "voice",
        "direction": "out",
        "duration_s": "60",
        "cell_id": "N1",
        "charge": "0.00",
    }
    base.update({k: ("" if v is None else str(v)) for k, v in overrides.items()})
    return base


def write_v1(path: Path, rows: list[dict[str, Any]], *, columns: list[str] | None = None, newline: str = "\n") -> Path:
    cols = columns or sorted({k for r in rows for k in r}, key=lambda c: V1_COLUMNS.index(c) if c in V1_COLUMNS else 99)
    if not rows and columns is None:
        cols = V1_COLUMNS[:9]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator=newline, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
    return path


@pytest.fixture
def refs(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "ref"
    d.mkdir()
    (d / "cells.csv").write_text(CELLS_CSV)
    (d / "plans.csv").write_text(PLANS_CSV)
    (d / "subscribers.csv").write_text(SUBSCRIBERS_CSV)
    return {"cells": d / "cells.csv", "plans": d / "plans.csv", "subscribers": d / "subscribers.csv"}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"


@pytest.fixture(autouse=True)
def _sign_in_off_outside_security_tests(request, monkeypatch):
    """Sign-in is tested by tests/test_security_*; elsewhere the app runs as local admin."""
    if not request.node.path.name.startswith("test_security_"):
        monkeypatch.setenv("ANALYTICS_AUTH", "off")
