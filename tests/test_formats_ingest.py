"""End to end: ``ingest --format X`` on each real sample into a tmp warehouse.

Every source row is accounted for: rows_read = source data rows = loaded + duplicate
+ rejected, and what loaded carries the source's durations and dispositions.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from analytics import store
from analytics.ingest import ingest_files

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"
FIX = REPO / "tests" / "fixtures" / "formats"

CASES = [
    # (files, format, data rows per file: lines minus header/type rows, extra kwargs)
    ([SAMPLES / "freeswitch" / "kxingyunliushui_Master.csv"], "freeswitch", 0, {}),
    ([SAMPLES / "cucm" / "cdr-examples_cdr.txt"], "cucm", 2, {}),
    ([SAMPLES / "cucm" / "test_fixtures_sample_cdr.txt"], "cucm", 1, {}),
    (
        [SAMPLES / "bandicoot" / "A.csv", SAMPLES / "bandicoot" / "B.csv"],
        "bandicoot",
        1,
        {"cells": SAMPLES / "bandicoot" / "towers.csv"},
    ),
    (
        [SAMPLES / "asterisk-custom" / "kelysaina_Master_custom.csv"],
        "mapping",
        0,
        {"mapping": REPO / "mappings" / "asterisk-custom.toml"},
    ),
    ([FIX / "asterisk_master.csv", FIX / "asterisk_master_newcdr.csv"], "asterisk", 0, {}),
    ([FIX / "freeswitch_default.csv"], "freeswitch", 0, {}),
    ([FIX / "cucm_cdr.txt"], "cucm", 2, {}),
]


def _data_rows(path: Path, skip: int) -> int:
    with path.open(newline="") as fh:
        return sum(1 for r in csv.reader(fh) if r) - skip


@pytest.mark.parametrize(("files", "fmt", "skip", "extra"), CASES, ids=[f"{c[1]}-{c[0][0].stem}" for c in CASES])
def test_every_sample_row_accounted_for(tmp_path: Path, files: list[Path], fmt: str, skip: int, extra: dict) -> None:
    wh = tmp_path / "wh.duckdb"
    result = ingest_files(files, warehouse=wh, fmt=None if fmt == "mapping" else fmt, region="NORTH", **extra)
    expected_rows = sum(_data_rows(f, skip) for f in files)
    assert result["rows_read"] == expected_rows
    assert result["rows_read"] == result["rows_loaded"] + result["rows_duplicate"] + result["rows_rejected"]
    assert all(f["status"] == "loaded" for f in result["files"]), result["files"]
    assert sum(result["rejects_by_reason"].values()) == result["rows_rejected"]
    with store.reader(wh) as con:
        stored = store.scalar(con, "select count(*) from records")
        quarantined = store.scalar(con, "select count(*) from quarantine where source_file not like 'towers%'")
        uncharged = store.scalar(con, "select count(*) from records where charge is not null")
    assert stored == result["rows_loaded"]
    assert quarantined == result["rows_rejected"]
    assert uncharged == 0  # none of these formats carries a billed charge


def test_freeswitch_loaded_rows_as_the_source_says(tmp_path: Path) -> None:
    path = SAMPLES / "freeswitch" / "kxingyunliushui_Master.csv"
    src = list(csv.reader(path.open(newline="")))
    result = ingest_files([path], warehouse=tmp_path / "wh.duckdb", fmt="freeswitch", region="NORTH")
    uuids = [r[10] for r in src]
    assert result["rows_duplicate"] == len(uuids) - len(set(uuids))  # the repeated uuid
    with store.reader(tmp_path / "wh.duckdb") as con:
        got = store.fetch(con, "select record_id, duration_s, region from records order by source_line")
    first = {}
    for r in src:
        first.setdefault(r[10], int(r[8]))
    for rid, dur, region in got.iter_rows():
        assert dur == first[rid] and region == "NORTH"


def test_asterisk_fixture_rejects_with_reasons(tmp_path: Path) -> None:
    result = ingest_files([FIX / "asterisk_master.csv"], warehouse=tmp_path / "wh.duckdb", fmt="asterisk", region="N")
    # line 7: time "yesterday" and disposition WEIRD; the first broken rule is the reason
    assert result["rows_rejected"] == 1
    assert set(result["rejects_by_reason"]) <= {"bad_enum:disposition", "bad_timestamp:start_time"}
    with store.reader(tmp_path / "wh.duckdb") as con:
        disp = store.fetch(con, "select disposition, count(*) n from records group by 1 order by 1")
    assert dict(disp.iter_rows()) == {"answered": 2, "busy": 1, "failed": 2, "no_answer": 1}


def test_cmr_file_refused_whole(tmp_path: Path) -> None:
    result = ingest_files(
        [SAMPLES / "cucm" / "cdr-examples_cmr.txt"], warehouse=tmp_path / "wh.duckdb", fmt="cucm", region="N"
    )
    assert result["files"][0]["status"] == "refused"
    assert "CMR" in result["files"][0]["error"]
    assert result["rows_read"] == 0
