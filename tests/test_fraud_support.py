"""Fixture builders shared by the fraud tests (no tests here).

Warehouses are real DuckDB files loaded the real way: a small cdr-extract v1 CSV and a
cells.csv written in tmp_path and passed to ``ingest_files``.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from analytics.ingest import ingest_files

# London, a cell next to it, Manchester (~262 km), Edinburgh (~534 km), Birmingham.
CELLS = [
    ("C1", "SOUTH", 51.5074, -0.1278),
    ("C2", "SOUTH", 51.5200, -0.1000),
    ("C3", "NORTH", 53.4808, -2.2426),
    ("C4", "SCOTLAND", 55.9533, -3.1883),
    ("C5", "MIDLANDS", 52.4862, -1.8904),
]

COLUMNS = [
    "record_id", "start_time", "msisdn", "other_party", "service", "direction", "duration_s", "cell_id",
    "charge", "disposition", "bytes_up", "bytes_down", "roaming", "destination_country", "imei",
]  # fmt: skip

T0 = dt.datetime(2026, 3, 2, 0, 0, 0)  # a Monday, UTC


class Records:
    """Collects v1 rows with generated record_ids."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def add(
        self,
        at: dt.datetime,
        msisdn: str,
        other_party: str,
        *,
        service: str = "voice",
        direction: str = "out",
        duration_s: int = 60,
        cell_id: str = "C1",
        disposition: str = "answered",
        bytes_total: int = 0,
        roaming: bool = False,
        destination_country: str = "",
        imei: str = "",
    ) -> str:
        record_id = f"R{len(self.rows) + 1:07d}"
        self.rows.append(
            {
                "record_id": record_id,
                "start_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "msisdn": msisdn,
                "other_party": other_party,
                "service": service,
                "direction": direction,
                "duration_s": str(duration_s),
                "cell_id": cell_id,
                "charge": "0",
                "disposition": disposition,
                "bytes_up": str(bytes_total // 10),
                "bytes_down": str(bytes_total - bytes_total // 10),
                "roaming": "true" if roaming else "false",
                "destination_country": destination_country,
                "imei": imei,
            }
        )
        return record_id

    def ids_of(self, msisdn: str) -> list[str]:
        return [r["record_id"] for r in self.rows if r["msisdn"] == msisdn]


def ordinary_line(
    recs: Records, msisdn: str, *, days: int, seed: int, cell_id: str = "C1", start: dt.datetime = T0
) -> None:
    """A plain subscriber: a few calls both ways, some sms, modest data, every day."""
    rng = random.Random(seed)
    for d in range(days):
        day = start + dt.timedelta(days=d)
        for _ in range(rng.randint(2, 5)):
            recs.add(day + dt.timedelta(hours=rng.randint(8, 21), minutes=rng.randint(0, 59)), msisdn,
                     f"+4477009{rng.randint(0, 99):05d}", direction=rng.choice(["in", "out"]),
                     duration_s=rng.randint(20, 400), cell_id=cell_id)  # fmt: skip
        for _ in range(rng.randint(1, 4)):
            recs.add(day + dt.timedelta(hours=rng.randint(8, 22)), msisdn, f"+4477009{rng.randint(0, 99):05d}",
                     service="sms", direction=rng.choice(["in", "out"]), duration_s=0, cell_id=cell_id)  # fmt: skip
        recs.add(day + dt.timedelta(hours=12), msisdn, "internet", service="data", duration_s=0,
                 bytes_total=rng.randint(50, 150) * 1_000_000, cell_id=cell_id)  # fmt: skip


def build(tmp_path: Path, recs: Records, *, name: str = "wh.duckdb") -> Path:
    """Write the rows and cells as v1 files and ingest them into a new warehouse."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cells = tmp_path / "cells.csv"
    with cells.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cell_id", "region", "lat", "lon"])
        w.writerows(CELLS)
    extract = tmp_path / f"extract_{len(list(tmp_path.glob('extract_*.csv')))}.csv"
    with extract.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(recs.rows)
    warehouse = tmp_path / name
    result = ingest_files([extract], warehouse=warehouse, cells=cells, home_country="GB")
    assert result["rows_rejected"] == 0, result
    return warehouse
