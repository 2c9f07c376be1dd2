"""Exactly-once, atomic loads, timestamps and the readers (CSV, gzip, Parquet)."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from analytics import store
from analytics.ingest import ingest_files
from tests.conftest import REPO, record, write_v1


def _q(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def _state(warehouse: Path) -> dict[str, list[tuple]]:
    tables = [
        "records",
        "quarantine",
        "duplicates",
        "loads",
        "usage_hourly_cell",
        "usage_daily_region",
        "usage_monthly_region",
        "subscriber_month",
    ]
    return {t: sorted(map(repr, _q(warehouse, f"select * from {t}"))) for t in tables}


def test_loading_a_file_twice_changes_nothing_and_says_so(tmp_path, refs, warehouse):
    path = write_v1(tmp_path / "x.csv", [record(record_id=f"r{i}") for i in range(5)] + [record(record_id="r0")])
    first = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert (first["rows_read"], first["rows_loaded"], first["rows_duplicate"]) == (6, 5, 1)
    before = _state(warehouse)
    second = ingest_files([path], warehouse=warehouse)
    f = second["files"][0]
    assert f["status"] == "already_loaded" and "nothing changed" in f["error"]
    assert f["rows_loaded"] == 0
    assert f["rows_read"] == f["rows_loaded"] + f["rows_duplicate"] + f["rows_rejected"]
    assert _state(warehouse) == before


def test_record_ids_seen_in_another_file_are_duplicates(tmp_path, refs, warehouse):
    a = write_v1(tmp_path / "a.csv", [record(record_id="r1"), record(record_id="r2")])
    b = write_v1(tmp_path / "b.csv", [record(record_id="r2", charge="9.99"), record(record_id="r3")])
    out = ingest_files([a, b], warehouse=warehouse, cells=refs["cells"])
    assert [(f["rows_loaded"], f["rows_duplicate"]) for f in out["files"]] == [(2, 0), (1, 1)]
    assert _q(warehouse, "select count(*), count(distinct record_id) from records") == [(3, 3)]
    assert _q(warehouse, "select record_id, charge::double from duplicates") == [("r2", 9.99)]
    for f in out["files"]:
        assert f["rows_read"] == f["rows_loaded"] + f["rows_duplicate"] + f["rows_rejected"]
    manifest = _q(
        warehouse, "select file_name, rows_read, rows_loaded, rows_duplicate, rows_rejected from loads order by load_id"
    )
    assert [m for m in manifest if m[0] in ("a.csv", "b.csv")] == [("a.csv", 2, 2, 0, 0), ("b.csv", 2, 1, 1, 0)]


@pytest.mark.slow
def test_killed_load_leaves_no_trace(tmp_path, refs, warehouse):
    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="a1")])], warehouse=warehouse, cells=refs["cells"])
    before = _state(warehouse)
    snapshot_before = store.snapshot_version(warehouse)
    big = write_v1(tmp_path / "b.csv", [record(record_id=f"b{i}") for i in range(2000)])
    env = {**os.environ, "ANALYTICS_FAULT": "after_insert"}
    proc = subprocess.run(
        [sys.executable, "-m", "analytics", "ingest", str(big), "--warehouse", str(warehouse), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr  # SIGKILL mid-transaction
    assert _state(warehouse) == before
    assert store.snapshot_version(warehouse) == snapshot_before
    # and the same file loads cleanly afterwards
    out = ingest_files([big], warehouse=warehouse)
    assert out["rows_loaded"] == 2000


@pytest.mark.parametrize(
    ("text", "zone", "expected_utc"),
    [
        ("2026-03-01T14:05:33Z", "UTC", datetime(2026, 3, 1, 14, 5, 33)),
        ("2026-03-01 14:05:33+01:00", "UTC", datetime(2026, 3, 1, 13, 5, 33)),
        ("2026-03-01T14:05:33-0530", "UTC", datetime(2026, 3, 1, 19, 35, 33)),
        ("2026-03-01T14:05:33.250Z", "UTC", datetime(2026, 3, 1, 14, 5, 33, 250000)),
        ("2026-03-01 14:05:33", "UTC", datetime(2026, 3, 1, 14, 5, 33)),
        ("2026-07-01 14:05:33", "Europe/London", datetime(2026, 7, 1, 13, 5, 33)),
        # DST fall-back: 01:30 happens twice in London; the earlier instant (BST) is taken
        ("2026-10-25 01:30:00", "Europe/London", datetime(2026, 10, 25, 0, 30)),
        ("2026-10-25T01:30:00+00:00", "Europe/London", datetime(2026, 10, 25, 1, 30)),
    ],
)
def test_timestamps_land_as_utc(tmp_path, refs, warehouse, text, zone, expected_utc):
    out = ingest_files(
        [write_v1(tmp_path / "t.csv", [record(start_time=text)])],
        warehouse=warehouse,
        cells=refs["cells"],
        timezone=zone,
    )
    assert out["rows_loaded"] == 1, out
    assert _q(warehouse, "select start_at from records") == [(expected_utc,)]


def test_local_time_in_the_spring_forward_gap_is_rejected(tmp_path, refs, warehouse):
    rows = [
        record(record_id="gap", start_time="2026-03-29 01:30:00"),
        record(record_id="ok", start_time="2026-03-29 02:30:00"),
    ]
    out = ingest_files(
        [write_v1(tmp_path / "t.csv", rows)], warehouse=warehouse, cells=refs["cells"], timezone="Europe/London"
    )
    assert out["rejects_by_reason"] == {"bad_timestamp:start_time": 1}
    assert _q(warehouse, "select start_at from records") == [(datetime(2026, 3, 29, 1, 30),)]


def test_csv_gzip_and_parquet_load_the_same_records(tmp_path, refs):
    rows = [
        record(record_id=f"r{i}", start_time=f"2026-03-0{1 + i % 5}T1{i % 10}:00:00+01:00", duration_s=i)
        for i in range(40)
    ]
    csv_path = write_v1(tmp_path / "x.csv", rows)
    gz_path = tmp_path / "x.csv.gz"
    gz_path.write_bytes(gzip.compress(csv_path.read_bytes()))
    pq_path = tmp_path / "x.parquet"
    pl.read_csv(csv_path, infer_schema=False).write_parquet(pq_path)
    results = []
    for p in (csv_path, gz_path, pq_path):
        wh = tmp_path / f"{p.name}.duckdb"
        assert ingest_files([p], warehouse=wh, cells=refs["cells"])["rows_loaded"] == 40
        # source_line differs by design: CSV counts the header as line 1, Parquet rows start at 1
        results.append(_q(wh, "select * exclude (load_id, source_line) from records order by record_id"))
    assert results[0] == results[1] == results[2]


def test_typed_parquet_timestamps(tmp_path, refs, warehouse):
    df = pl.DataFrame(
        {
            "record_id": ["a", "b"],
            "start_time": [datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 11)],
            "msisdn": ["447700900001"] * 2,
            "other_party": ["447700900002"] * 2,
            "service": ["voice", "sms"],
            "direction": ["out", "out"],
            "duration_s": [60, 0],
            "cell_id": ["N1", "S1"],
            "charge": [0.1, 0.05],
            "roaming": [False, False],
        }
    ).with_columns(pl.col("start_time").dt.replace_time_zone("Europe/Paris"))
    path = tmp_path / "typed.parquet"
    df.write_parquet(path)
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert out["rows_loaded"] == 2
    assert _q(warehouse, "select start_at from records order by record_id") == [
        (datetime(2026, 3, 1, 9),),
        (datetime(2026, 3, 1, 10),),
    ]


@pytest.mark.slow
def test_dashboard_snapshot_stays_readable_while_a_load_runs(tmp_path, refs, warehouse):
    """The writer holds DuckDB's lock on the warehouse; the dashboard reads the snapshot."""
    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="a1")])], warehouse=warehouse, cells=refs["cells"])
    big = write_v1(
        tmp_path / "big.csv",
        [record(record_id=f"b{i}", start_time=f"2026-03-{1 + i % 28:02d}T10:00:00Z") for i in range(200_000)],
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "analytics", "ingest", str(big), "--warehouse", str(warehouse)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reads, errors = 0, []
    try:
        while proc.poll() is None:
            try:
                con = store.snapshot_reader(warehouse)
                n = con.execute("select count(*) from records").fetchone()[0]
                con.close()
                assert n in (1, 200_001)
                reads += 1
            except Exception as exc:  # any failure to read is the defect under test
                errors.append(repr(exc))
            time.sleep(0.02)
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == 0, proc.stderr.read()
    assert not errors
    assert reads > 3
    con = store.snapshot_reader(warehouse)
    assert con.execute("select count(*) from records").fetchone()[0] == 200_001
    con.close()


def test_writers_queue_instead_of_failing(tmp_path, refs, warehouse):
    files = [write_v1(tmp_path / f"f{i}.csv", [record(record_id=f"f{i}-{j}") for j in range(50)]) for i in range(4)]
    ingest_files([], warehouse=warehouse, cells=refs["cells"])
    errors: list[str] = []

    def load(p: Path) -> None:
        try:
            ingest_files([p], warehouse=warehouse)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=load, args=(p,)) for p in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _q(warehouse, "select count(*) from records") == [(200,)]


@pytest.mark.slow
def test_cli_ingest_json_and_exit_codes(tmp_path, refs, warehouse):
    good = write_v1(tmp_path / "g.csv", [record(record_id="g1")])
    bad = tmp_path / "b.csv"
    bad.write_bytes(b"\x00\x01\x02binary")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics",
            "ingest",
            str(good),
            str(bad),
            "--cells",
            str(refs["cells"]),
            "--warehouse",
            str(warehouse),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    import json

    out = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 file(s) refused")
    assert {
        k for k in ("files", "rows_read", "rows_loaded", "rows_duplicate", "rows_rejected", "rejects_by_reason")
    } <= out.keys()
    assert [f["status"] for f in out["files"]] == ["loaded", "refused"]
    shutil.rmtree(warehouse.parent)


def test_a_new_snapshot_is_seen_while_an_old_connection_is_open(tmp_path, refs, warehouse):
    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="a1")])], warehouse=warehouse, cells=refs["cells"])
    old = store.snapshot_reader(warehouse)
    v1 = store.snapshot_version(warehouse)
    ingest_files([write_v1(tmp_path / "b.csv", [record(record_id="b1")])], warehouse=warehouse)
    assert store.snapshot_version(warehouse) != v1
    new = store.snapshot_reader(warehouse)
    assert new.execute("select count(*) from records").fetchall() == [(2,)]
    assert old.execute("select count(*) from records").fetchall() == [(1,)]
    old.close()
    new.close()


def test_typed_parquet_columns_are_validated_without_text_round_trip(tmp_path, refs, warehouse):
    df = pl.DataFrame(
        {
            "record_id": ["a", "b", "c", "d"],
            "start_time": [datetime(2026, 3, 1, 10)] * 4,
            "msisdn": [447700900001, 447700900001, 447700900001, 447700900001],  # numbers, not text
            "other_party": ["447700900002"] * 4,
            "service": ["voice"] * 4,
            "direction": ["out"] * 4,
            "duration_s": [60, -5, 30, 30],
            "cell_id": ["N1"] * 4,
            "charge": [0.1, 0.1, None, 0.25],
            "roaming": [False, False, False, True],
            "bytes_up": [0, 0, 0, 10],
        }
    )
    path = tmp_path / "typed.parquet"
    df.write_parquet(path)
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert out["rejects_by_reason"] == {"negative:duration_s": 1, "missing:charge": 1}
    assert _q(warehouse, "select record_id, msisdn, charge::double, is_roaming, region from records order by 1") == [
        ("a", "447700900001", 0.1, False, "North"),
        ("d", "447700900001", 0.25, True, "ROAMING"),
    ]


def test_staged_timestamp_parse_equals_the_single_expression():
    from analytics.ingest.validate import parse_start_time, with_start_at

    values = [
        "2026-03-01T14:05:33Z",
        "2026-03-01 14:05:33+01:00",
        "2026-03-01T14:05:33-0530",
        "2026-03-01T14:05:33+02",
        "2026-03-01T14:05:33.25Z",
        "2026-03-01 14:05:33",
        "2026-10-25 01:30:00",
        "2026-03-29 01:30:00",
        "junk",
        "",
        None,
        "2026-03-01T14:05:33+1",
        "2026-03-01T14:05:33Zulu",
        " 2026-03-01T14:05:33Z ",
    ]
    lf = pl.LazyFrame({"start_time": values}, schema={"start_time": pl.String})
    for zone in ("UTC", "Europe/London"):
        one = lf.select(parse_start_time(timezone=zone).alias("_start_at")).collect()
        staged = with_start_at(lf, timezone=zone).select("_start_at").collect()
        assert one.equals(staged), zone


def test_chunked_validation_gives_the_same_load(tmp_path, refs, monkeypatch):
    import analytics.ingest as ingest_pkg

    rows = [
        record(
            record_id=f"r{i % 40}", duration_s=-1 if i % 17 == 0 else i, start_time=f"2026-03-0{1 + i % 9}T10:00:00Z"
        )
        for i in range(50)
    ]
    path = write_v1(tmp_path / "x.csv", rows)
    whole = ingest_files([path], warehouse=tmp_path / "whole.duckdb", cells=refs["cells"])
    monkeypatch.setattr(ingest_pkg, "CHUNK_ROWS", 7)
    chunked = ingest_files([path], warehouse=tmp_path / "chunked.duckdb", cells=refs["cells"])
    for key in ("rows_read", "rows_loaded", "rows_duplicate", "rows_rejected", "rejects_by_reason"):
        assert whole[key] == chunked[key], key
    assert _q(tmp_path / "whole.duckdb", "select * from records order by record_id") == _q(
        tmp_path / "chunked.duckdb", "select * from records order by record_id"
    )
    assert _q(tmp_path / "whole.duckdb", "select source_line, reason from quarantine order by 1") == _q(
        tmp_path / "chunked.duckdb", "select source_line, reason from quarantine order by 1"
    )


def test_duplicates_across_chunks_and_earlier_loads_keep_the_first_row(tmp_path, refs, warehouse, monkeypatch):
    """A record_id stored by an earlier load is a duplicate wherever it repeats; one first
    seen in this file keeps its first line, even when its repeat lies in a later chunk."""
    import analytics.ingest as ingest_pkg

    monkeypatch.setattr(ingest_pkg, "CHUNK_ROWS", 3)
    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="old")])], warehouse=warehouse, cells=refs["cells"])
    rows = [
        record(record_id="n1", charge="1.00"),
        record(record_id="old"),
        record(record_id="n2"),
        record(record_id="n3"),
        record(record_id="n1", charge="2.00"),
        record(record_id="old"),
        record(record_id="n1", duration_s="-5"),
        record(record_id="n2", charge="3.00"),
        record(record_id="n4", duration_s="-1"),
        record(record_id="n4", charge="4.00"),
    ]
    out = ingest_files([write_v1(tmp_path / "b.csv", rows)], warehouse=warehouse)
    f = out["files"][0]
    # a rejected line does not make a later good line of the same id a duplicate
    assert (f["rows_read"], f["rows_loaded"], f["rows_duplicate"], f["rows_rejected"]) == (10, 4, 4, 2)
    assert _q(warehouse, "select record_id, charge::double, source_line from records where load_id = 3 order by 1") == [
        ("n1", 1.0, 2),
        ("n2", 0.0, 4),
        ("n3", 0.0, 5),
        ("n4", 4.0, 11),
    ]
    assert _q(warehouse, "select record_id, source_line from duplicates order by source_line") == [
        ("old", 3),
        ("n1", 6),
        ("old", 7),
        ("n2", 9),
    ]
    assert _q(warehouse, "select sum(records) from usage_hourly_cell") == [(5,)]


def test_progress_counts_rows_within_a_file(tmp_path, refs, warehouse, monkeypatch):
    import analytics.ingest as ingest_pkg

    monkeypatch.setattr(ingest_pkg, "CHUNK_ROWS", 4)
    a = write_v1(tmp_path / "a.csv", [record(record_id=f"a{i}") for i in range(10)])
    b = write_v1(tmp_path / "b.csv", [record(record_id=f"b{i}") for i in range(3)])
    seen: list[tuple[float, str]] = []
    ingest_files([a, b], warehouse=warehouse, cells=refs["cells"], on_progress=lambda f, m: seen.append((f, m)))
    within_a = [m for _, m in seen if m.startswith("loading a.csv (1/2): ")]
    assert within_a == [f"loading a.csv (1/2): {n} of 10 rows" for n in (4, 8, 10)]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert (1.0, "loading b.csv (2/2): 3 of 3 rows") in seen
