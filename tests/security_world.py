"""A small warehouse for the security tests, loaded through the real ingest path.

Records across three months (Jan, Feb, Mar 2026; Europe-free UTC settings), one bad row
(unknown cell, quarantined) and one duplicate (same record_id delivered twice).
"""

from __future__ import annotations

from pathlib import Path

from conftest import record, write_v1

from analytics.ingest import ingest_files

NUMBERS = ("447700900001", "447700900002", "447700900003")


def rows() -> list[dict]:
    out = []
    for i, (day, msisdn) in enumerate(
        [
            ("2026-01-05", NUMBERS[0]),
            ("2026-01-20", NUMBERS[1]),
            ("2026-02-03", NUMBERS[0]),
            ("2026-02-28", NUMBERS[2]),
            ("2026-03-01", NUMBERS[1]),
            ("2026-03-15", NUMBERS[0]),
        ]
    ):
        out.append(
            record(
                record_id=f"r{i}",
                start_time=f"{day}T10:00:00Z",
                msisdn=msisdn,
                imsi=f"23415000000000{i}",
                imei=f"35000000000000{i}",
            )
        )
    out.append(record(record_id="bad1", start_time="2026-01-06T10:00:00Z", msisdn=NUMBERS[2], cell_id="NOPE"))
    out.append(record(record_id="r0", start_time="2026-01-05T10:00:00Z", msisdn=NUMBERS[0]))  # duplicate
    return out


def build(tmp: Path, refs: dict[str, Path], warehouse: Path) -> Path:
    extract = write_v1(tmp / "in" / "jan_mar.csv", rows())
    result = ingest_files(
        [extract], warehouse=warehouse, cells=refs["cells"], plans=refs["plans"], subscribers=refs["subscribers"]
    )
    assert result["rows_loaded"] == 6 and result["rows_rejected"] == 1 and result["rows_duplicate"] == 1, result
    return warehouse
