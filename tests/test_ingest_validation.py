"""Validation, quarantine and refused files of the v1 ingest (real files, real DuckDB)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from analytics.ingest import ingest_files
from tests.conftest import record, write_v1


def _table(warehouse: Path, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


BAD_ROWS = [
    ("missing:msisdn", {"msisdn": ""}),
    ("missing:record_id", {"record_id": ""}),
    ("missing:charge", {"charge": ""}),
    ("missing:cell_id", {"cell_id": ""}),
    ("bad_enum:service", {"service": "fax"}),
    ("bad_enum:direction", {"direction": "sideways"}),
    ("bad_enum:disposition", {"disposition": "maybe"}),
    ("bad_enum:roaming", {"roaming": "perhaps"}),
    ("negative:duration_s", {"duration_s": "-1"}),
    ("not_a_number:duration_s", {"duration_s": "12.5"}),
    ("negative:charge", {"charge": "-0.01"}),
    ("not_a_number:charge", {"charge": "ten"}),
    ("negative:bytes_up", {"bytes_up": "-10"}),
    ("not_a_number:bytes_down", {"bytes_down": "lots"}),
    ("bad_timestamp:start_time", {"start_time": "yesterday"}),
    ("bad_timestamp:start_time", {"start_time": "2026-02-30T10:00:00Z"}),
    ("bad_value:msisdn", {"msisdn": "call-me"}),
    ("bad_value:destination_country", {"destination_country": "GBR"}),
    ("bad_value:currency", {"currency": "POUNDS"}),
    ("unknown_cell:cell_id", {"cell_id": "NOPE"}),
]


@pytest.mark.parametrize(("reason", "change"), BAD_ROWS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD_ROWS)])
def test_each_rule_quarantines_the_row_and_keeps_the_good_ones(tmp_path, refs, warehouse, reason, change):
    rows = [record(record_id="good1"), record(**{"record_id": "bad", **change}), record(record_id="good2")]
    cols = ["record_id", "start_time", "msisdn", "other_party", "service", "direction", "duration_s", "cell_id",
            "charge", "disposition", "bytes_up", "bytes_down", "roaming", "destination_country", "currency"]
    path = write_v1(tmp_path / "x.csv", rows, columns=cols)
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert (out["rows_read"], out["rows_loaded"], out["rows_rejected"]) == (3, 2, 1)
    assert out["rejects_by_reason"] == {reason: 1}
    q = _table(warehouse, "select source_file, source_line, reason, raw from quarantine where source_file = 'x.csv'")
    assert q.select("source_file", "source_line", "reason").rows() == [("x.csv", 3, reason)]
    assert json.loads(q["raw"][0])["record_id"] in ({"bad", None, ""} if "record_id" in change else {"bad"})
    assert _table(warehouse, "select record_id from records order by record_id")["record_id"].to_list() == ["good1", "good2"]


def test_roaming_record_without_cell_lands_in_roaming_region(tmp_path, refs, warehouse):
    rows = [record(record_id="a", cell_id="", roaming="true"), record(record_id="b", cell_id="FOREIGN9", roaming="1")]
    out = ingest_files([write_v1(tmp_path / "x.csv", rows)], warehouse=warehouse, cells=refs["cells"])
    assert out["rows_loaded"] == 2
    regions = _table(warehouse, "select region, cell_id from records order by record_id").rows()
    assert regions == [("ROAMING", None), ("ROAMING", "FOREIGN9")]


def test_missing_required_columns_refuse_the_file_naming_them(tmp_path, refs, warehouse):
    path = tmp_path / "bad_header.csv"
    path.write_text("record_id,start_time,service,direction,duration_s,cell_id\nr1,2026-03-01T00:00:00Z,voice,out,1,N1\n")
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    f = out["files"][0]
    assert f["status"] == "refused"
    assert "missing columns: msisdn, other_party, charge" in f["error"]
    assert out["_exit"] == 1
    assert _table(warehouse, "select count(*) as n from records")["n"][0] == 0


def test_optional_columns_default_and_extra_columns_are_ignored(tmp_path, refs, warehouse):
    path = tmp_path / "x.csv"
    path.write_text(
        "zzz_extra,charge,cell_id,duration_s,direction,service,other_party,msisdn,start_time,record_id\n"
        "hello,0.10,N1,30,out,Voice,447700900002,+447700900001,2026-03-01T10:00:00Z,r1\n"
    )
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"], home_country="GB", currency="GBP")
    assert out["rows_loaded"] == 1
    row = _table(warehouse, "select * from records").row(0, named=True)
    assert row["disposition"] == "answered"
    assert (row["bytes_up"], row["bytes_down"], row["is_roaming"]) == (0, 0, False)
    assert (row["destination_country"], row["currency"], row["service"]) == ("GB", "GBP", "voice")
    assert "zzz_extra" not in _table(warehouse, "select * from records").columns


def _garbage(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / f"{kind}.csv"
    good = "record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge\n"
    row = "r1,2026-03-01T10:00:00Z,447700900001,447700900002,voice,out,30,N1,0.10\n"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "binary":
        p.write_bytes(bytes(range(256)) * 40)
    elif kind == "truncated_gzip":
        p = tmp_path / "trunc.csv.gz"
        data = gzip.compress((good + row * 2000).encode())
        p.write_bytes(data[: len(data) // 2])
    elif kind == "parquet_named_csv":
        pl.DataFrame({"a": [1]}).write_parquet(p)
    elif kind == "gz_named_but_plain":
        p = tmp_path / "plain.csv.gz"
        p.write_text(good + row)
    return p


@pytest.mark.parametrize("kind", ["empty", "binary", "truncated_gzip", "parquet_named_csv", "gz_named_but_plain"])
def test_garbage_files_are_refused_with_one_line_and_leave_no_records(tmp_path, refs, warehouse, kind):
    out = ingest_files([_garbage(tmp_path, kind)], warehouse=warehouse, cells=refs["cells"])
    f = out["files"][0]
    assert f["status"] == "refused", f
    assert f["error"] and "\n" not in f["error"]
    assert _table(warehouse, "select count(*) as n from records")["n"][0] == 0
    manifest = _table(warehouse, "select status from loads where format = 'v1'")
    assert manifest["status"].to_list() == ["refused"]


def test_header_only_file_loads_zero_rows(tmp_path, refs, warehouse):
    path = write_v1(tmp_path / "empty.csv", [])
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert out["files"][0]["status"] == "loaded"
    assert (out["rows_read"], out["rows_loaded"]) == (0, 0)


def test_bom_and_crlf_are_read(tmp_path, refs, warehouse):
    path = tmp_path / "bom.csv"
    text = "record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge\r\n"
    text += "r1,2026-03-01T10:00:00Z,447700900001,447700900002,voice,out,30,N1,0.10\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert out["rows_loaded"] == 1
    assert _table(warehouse, "select charge from records")["charge"][0] is not None


def test_stray_non_utf8_byte_quarantines_only_that_row(tmp_path, refs, warehouse):
    path = tmp_path / "latin.csv"
    header = b"record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge\n"
    good = b"r1,2026-03-01T10:00:00Z,447700900001,447700900002,voice,out,30,N1,0.10\n"
    bad = b"r2,2026-03-01T10:00:00Z,447700900001,caf\xe9,voice,out,30,N1,0.10\n"
    path.write_bytes(header + good + bad)
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert out["rows_loaded"] == 1
    assert out["rejects_by_reason"] == {"bad_encoding:other_party": 1}


def test_reference_files_are_stored_and_replaced_only_when_changed(tmp_path, refs, warehouse):
    first = ingest_files([], warehouse=warehouse, cells=refs["cells"], plans=refs["plans"], subscribers=refs["subscribers"])
    assert {k: v["status"] for k, v in first["reference"].items()} == {
        "cells": "replaced", "plans": "replaced", "subscribers": "replaced"}
    again = ingest_files([], warehouse=warehouse, cells=refs["cells"])
    assert again["reference"]["cells"]["status"] == "unchanged"
    # later loads without reference files use the stored cells
    out = ingest_files([write_v1(tmp_path / "x.csv", [record(cell_id="S1")])], warehouse=warehouse)
    assert out["rows_loaded"] == 1
    newer = tmp_path / "cells2.csv"
    newer.write_text("cell_id,region,lat,lon\nS1,Coast,50.9,-1.4\nX1,West,50.0,-5.0\nbad,West,north,1\n")
    out = ingest_files([], warehouse=warehouse, cells=newer)
    assert out["reference"]["cells"]["rows_rejected"] == 1
    assert _table(warehouse, "select count(*) as n from cells")["n"][0] == 2
    # records already loaded keep the region they were loaded with
    assert _table(warehouse, "select region from records")["region"].to_list() == ["South"]


def test_plans_reference_validation(tmp_path, warehouse):
    p = tmp_path / "plans.csv"
    p.write_text("plan_id,name,monthly_fee\nP1,Basic,10\n")
    with pytest.raises(Exception, match="missing columns: incl_voice_min"):
        ingest_files([], warehouse=warehouse, plans=p)


def test_records_older_than_an_executed_retention_cutoff_are_quarantined(tmp_path, refs, warehouse):
    from analytics.security.retention import run_retention

    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="old", start_time="2026-01-10T10:00:00Z"),
                                                record(record_id="new", start_time="2026-06-10T10:00:00Z")])],
                 warehouse=warehouse, cells=refs["cells"])
    run_retention(warehouse, keep_months=3, dry_run=False, as_of=dt.date(2026, 6, 20), by="test")
    out = ingest_files([write_v1(tmp_path / "late.csv", [record(record_id="late", start_time="2026-01-11T10:00:00Z")])],
                       warehouse=warehouse)
    assert out["rejects_by_reason"] == {"before_retention:start_time": 1}
