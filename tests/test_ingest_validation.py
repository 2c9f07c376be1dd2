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
    # issue #19: values that used to refuse the whole file (Int32 overflow) or load (implausible)
    ("out_of_range:duration_s", {"duration_s": "3000000000"}),
    ("out_of_range:start_time", {"start_time": "0001-03-01T10:00:00Z"}),
    ("out_of_range:start_time", {"start_time": "1900-03-01T10:00:00Z"}),
    ("out_of_range:start_time", {"start_time": "1999-12-31T23:59:59Z"}),
    ("out_of_range:start_time", {"start_time": "3000-01-01T00:00:00Z"}),
    ("out_of_range:start_time", {"start_time": "9999-12-31 23:59:59"}),
    ("bad_timestamp:start_time", {"start_time": "2026-03-01T10:00:00+25:00"}),
    ("bad_timestamp:start_time", {"start_time": "2026-03-01T10:00:00+99:99"}),
    ("bad_timestamp:start_time", {"start_time": "2026-03-01T10:00:00-14:01"}),
    ("bad_timestamp:start_time", {"start_time": "2026-03-01T10:00:00+0175"}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("reason", "change"), BAD_ROWS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD_ROWS)])
def test_each_rule_quarantines_the_row_and_keeps_the_good_ones(tmp_path, refs, warehouse, reason, change):
    rows = [record(record_id="good1"), record(**{"record_id": "bad", **change}), record(record_id="good2")]
    cols = [
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
    ]
    path = write_v1(tmp_path / "x.csv", rows, columns=cols)
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert (out["rows_read"], out["rows_loaded"], out["rows_rejected"]) == (3, 2, 1)
    assert out["rejects_by_reason"] == {reason: 1}
    q = _table(warehouse, "select source_file, source_line, reason, raw from quarantine where source_file = 'x.csv'")
    assert q.select("source_file", "source_line", "reason").rows() == [("x.csv", 3, reason)]
    assert json.loads(q["raw"][0])["record_id"] in ({"bad", None, ""} if "record_id" in change else {"bad"})
    assert _table(warehouse, "select record_id from records order by record_id")["record_id"].to_list() == [
        "good1",
        "good2",
    ]


def test_roaming_record_without_cell_lands_in_roaming_region(tmp_path, refs, warehouse):
    rows = [record(record_id="a", cell_id="", roaming="true"), record(record_id="b", cell_id="FOREIGN9", roaming="1")]
    out = ingest_files([write_v1(tmp_path / "x.csv", rows)], warehouse=warehouse, cells=refs["cells"])
    assert out["rows_loaded"] == 2
    regions = _table(warehouse, "select region, cell_id from records order by record_id").rows()
    assert regions == [("ROAMING", None), ("ROAMING", "FOREIGN9")]


def test_missing_required_columns_refuse_the_file_naming_them(tmp_path, refs, warehouse):
    path = tmp_path / "bad_header.csv"
    path.write_text(
        "record_id,start_time,service,direction,duration_s,cell_id\nr1,2026-03-01T00:00:00Z,voice,out,1,N1\n"
    )
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
    first = ingest_files(
        [], warehouse=warehouse, cells=refs["cells"], plans=refs["plans"], subscribers=refs["subscribers"]
    )
    assert {k: v["status"] for k, v in first["reference"].items()} == {
        "cells": "replaced",
        "plans": "replaced",
        "subscribers": "replaced",
    }
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

    ingest_files(
        [
            write_v1(
                tmp_path / "a.csv",
                [
                    record(record_id="old", start_time="2026-01-10T10:00:00Z"),
                    record(record_id="new", start_time="2026-06-10T10:00:00Z"),
                ],
            )
        ],
        warehouse=warehouse,
        cells=refs["cells"],
    )
    run_retention(warehouse, keep_months=3, dry_run=False, as_of=dt.date(2026, 6, 20), by="test")
    out = ingest_files(
        [write_v1(tmp_path / "late.csv", [record(record_id="late", start_time="2026-01-11T10:00:00Z")])],
        warehouse=warehouse,
    )
    assert out["rejects_by_reason"] == {"before_retention:start_time": 1}


@pytest.mark.parametrize("text", ["2026-03-01T10:00:00+14:00", "2026-03-01T10:00:00-12:00", "2000-01-01T00:00:00Z"])
def test_extreme_but_real_offsets_and_the_window_start_load(tmp_path, refs, warehouse, text):
    out = ingest_files(
        [write_v1(tmp_path / "x.csv", [record(start_time=text)])], warehouse=warehouse, cells=refs["cells"]
    )
    assert (out["rows_loaded"], out["rows_rejected"]) == (1, 0), out["rejects_by_reason"]


def test_plausibility_window_follows_the_load_time_and_settings():
    from analytics.ingest import IngestSettings, plausible_window

    now = dt.datetime(2026, 3, 1, 12)
    assert plausible_window(IngestSettings(earliest_start="2000-01-01", max_future_days=2), now=now) == (
        dt.datetime(2000, 1, 1),
        dt.datetime(2026, 3, 3, 12),
    )
    assert plausible_window(IngestSettings(earliest_start="2020-06-01", max_future_days=0.5), now=now)[
        1
    ] == dt.datetime(2026, 3, 2)
    with pytest.raises(ValueError, match="earliest_start must be a date"):
        plausible_window(IngestSettings(earliest_start="last year"), now=now)


def test_start_times_more_than_two_days_ahead_are_out_of_range(tmp_path, refs, warehouse):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [
        record(record_id="soon", start_time=(now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")),
        record(record_id="later", start_time=(now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ]
    out = ingest_files([write_v1(tmp_path / "x.csv", rows)], warehouse=warehouse, cells=refs["cells"])
    assert out["rejects_by_reason"] == {"out_of_range:start_time": 1}
    assert _table(warehouse, "select record_id from records")["record_id"].to_list() == ["soon"]


HEADER = "record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge\n"
GOOD = "r{},2026-03-01T10:00:00Z,447700900001,447700900002,voice,out,30,N1,0.10\n"
MALFORMED = [
    ("stray quote", 'x,2026-03-01T10:00:00Z,4477009"00001,447700900002,voice,out,30,N1,0.10\n', "stray quote"),
    ("unterminated quote", 'x,2026-03-01T10:00:00Z,"447700900001,447700900002,voice,out,30,N1,0.10\n', "stray quote"),
    ("too many fields", "x,2026-03-01T10:00:00Z,447700900001,447700900002,voice,out,30,N1,0.10,extra\n", "more fields"),
    ("too few fields", "x,2026-03-01T10:00:00Z,447700900001\n", "fewer fields"),
    (
        "quoted, too many",
        '"x","2026-03-01T10:00:00Z","447700900001","4","voice","out","30","N1","0.10","z"\n',
        "10 fields where the header has 9",
    ),
]


@pytest.mark.parametrize(("case", "line", "detail"), MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("quoted_good_rows", [False, True], ids=["plain", "quoted"])
def test_malformed_lines_are_quarantined_and_the_rest_loads(
    tmp_path, refs, warehouse, case, line, detail, quoted_good_rows
):
    good = GOOD
    if quoted_good_rows:  # the same rows with every field quoted (and a quote and a comma inside one)
        good = '"r{}","2026-03-01T10:00:00Z","447700900001","44770""09,2","voice","out","30","N1","0.10"\n'
    path = tmp_path / "x.csv"
    path.write_text(HEADER + good.format(1) + line + good.format(3))
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    f = out["files"][0]
    assert f["status"] == "loaded", f
    assert (f["rows_read"], f["rows_loaded"], f["rows_rejected"]) == (3, 2, 1)
    assert f["rejects_by_reason"] == {"malformed_row": 1}
    q = _table(warehouse, "select source_line, reason, detail from quarantine where source_file = 'x.csv'")
    assert q.select("source_line", "reason").rows() == [(3, "malformed_row")]
    assert detail in q["detail"][0]
    loaded = _table(warehouse, "select record_id, source_line, other_party from records order by record_id")
    assert loaded.select("record_id", "source_line").rows() == [("r1", 2), ("r3", 4)]
    if quoted_good_rows:
        assert loaded["other_party"].to_list() == ['44770"09,2'] * 2


def test_quoted_fields_and_blank_lines_keep_physical_line_numbers(tmp_path, refs, warehouse):
    path = tmp_path / "q.csv"
    path.write_text(
        HEADER.replace("charge", '"charge"')
        + '"r1",2026-03-01T10:00:00Z,"447700900001","",voice,out,30,N1,0.10\n'
        + "\n"
        + GOOD.format(2)
    )
    out = ingest_files([path], warehouse=warehouse, cells=refs["cells"])
    assert out["rejects_by_reason"] == {"missing:other_party": 1}
    assert _table(warehouse, "select record_id, source_line from records").rows() == [("r2", 4)]  # physical line


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("utf16", "UTF-16 text: re-encode as UTF-8"),
        ("utf16_no_bom", "UTF-16 text: re-encode as UTF-8"),
        ("semicolon", "semicolon-separated, not comma-separated: use --mapping FILE"),
        ("tab", "tab-separated, not comma-separated: use --mapping FILE"),
        ("parquet_named_csv", "Parquet content in a file named like CSV; name it .parquet"),
        ("duplicate_header", "header names a column more than once: msisdn"),
        ("no_newline", "header longer than 65,536 bytes (no line break?)"),
        ("long_line", "line 3 is longer than 1,048,576 bytes (no line break?)"),
    ],
)
def test_refusals_say_what_the_file_is(tmp_path, refs, warehouse, kind, message):
    p = tmp_path / f"{kind}.csv"
    text = HEADER + GOOD.format(1)
    if kind == "utf16":
        p.write_bytes(text.encode("utf-16"))
    elif kind == "utf16_no_bom":
        p.write_bytes(text.encode("utf-16-le"))
    elif kind == "semicolon":
        p.write_text(text.replace(",", ";"))
    elif kind == "tab":
        p.write_text(text.replace(",", "\t"))
    elif kind == "parquet_named_csv":
        pl.DataFrame({"a": [1]}).write_parquet(p)
    elif kind == "duplicate_header":
        p.write_text(HEADER.strip() + ",MSISDN\n" + GOOD.format(1).strip() + ",1\n")
    elif kind == "no_newline":
        p.write_bytes(b"record_id," * 400_000)
    elif kind == "long_line":
        p.write_bytes((HEADER + GOOD.format(1)).encode() + b"x" * 3_000_000 + b"\n" + GOOD.format(2).encode())
    out = ingest_files([p], warehouse=warehouse, cells=refs["cells"])
    f = out["files"][0]
    assert f["status"] == "refused"
    assert message in f["error"] and "\n" not in f["error"], f["error"]


@pytest.mark.slow
def test_a_directory_or_unreadable_path_is_one_refused_entry_and_the_others_load(tmp_path, refs, warehouse):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    a = write_v1(tmp_path / "a.csv", [record(record_id="a")])
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    missing = tmp_path / "missing.csv"
    b = write_v1(tmp_path / "b.csv", [record(record_id="b")])
    paths = [a, folder, missing, b]
    if os.geteuid() != 0:  # root reads a chmod-000 file anyway
        locked = write_v1(tmp_path / "locked.csv", [record(record_id="c")])
        locked.chmod(0)
        paths.insert(2, locked)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics",
            "ingest",
            *map(str, paths),
            "--cells",
            str(refs["cells"]),
            "--warehouse",
            str(warehouse),
            "--json",
            "--no-marts",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = json.loads(proc.stdout)
    assert [(f["file"], f["status"]) for f in out["files"]] == [
        (p.name, "loaded" if p in (a, b) else "refused") for p in paths
    ]
    assert all(f["error"] and "\n" not in f["error"] for f in out["files"] if f["status"] == "refused")
    assert "a directory" in out["files"][1]["error"]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert _table(warehouse, "select record_id from records order by 1")["record_id"].to_list() == ["a", "b"]


def test_a_clean_quoted_file_reads_the_same_through_either_parser(tmp_path):
    from polars.testing import assert_frame_equal

    from analytics.ingest import reader

    path = tmp_path / "q.csv"
    path.write_bytes(b'a,"b",c\n"x",,""\n"q""r","s,t",u\n"caf\xe9",2,\n')
    names = reader.header_columns(path)
    assert reader._every_line_a_row(path, len(names))
    fast = reader._quoted_csv(path, names).collect()
    assert_frame_equal(fast, reader.csv_fields(path, names, quotes=True).collect())
    assert fast.rows() == [("x", "", "", 2, None), ('q"r', "s,t", "u", 3, None), ("caf\ufffd", "2", "", 4, None)]
    path.write_bytes(b'a,"b",c\n"x",,""\n\n"q""r","s,t",u\n')  # a blank line: physical numbers need the line reader
    assert not reader._every_line_a_row(path, len(names))


@pytest.mark.slow
def test_a_killed_gzip_load_leaves_no_plaintext_in_the_temp_folder(tmp_path, refs, warehouse):
    """Issue #19 item 2: the .csv.gz used to be gunzipped into $TMPDIR/cdr-gunzip-*, which a
    killed load left behind. Every file under the temp folder is grepped for the msisdn."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    ingest_files([], warehouse=warehouse, cells=refs["cells"])
    secret = "447712398765"
    rows = [record(record_id=f"z{i}", msisdn=secret) for i in range(3000)]
    plain = write_v1(tmp_path / "src" / "z.csv", rows)
    gz = tmp_path / "z.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "ANALYTICS_FAULT": "after_insert", "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp)}
    proc = subprocess.run(
        [sys.executable, "-m", "analytics", "ingest", str(gz), "--warehouse", str(warehouse), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr  # killed mid-transaction, after the rows were read
    leaks = [p for p in tmp.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cells", "{tmp}/nope.csv"], "--cells {tmp}/nope.csv: no such file"),
        (["--plans", "{tmp}"], "--plans {tmp}: a directory"),
        (["{tmp}/x.csv", "--mapping", "{tmp}/nope.toml"], "--mapping {tmp}/nope.toml: no such file"),
        (["{tmp}/x.csv", "--warehouse", "/proc/no/warehouse.duckdb"], "No such file or directory"),
    ],
    ids=["missing-cells", "plans-is-a-folder", "missing-mapping", "warehouse-folder-missing"],
)
def test_operator_errors_exit_2_with_one_line(tmp_path, warehouse, args, message):
    import subprocess
    import sys

    from tests.conftest import REPO

    write_v1(tmp_path / "x.csv", [record()])
    argv = [a.format(tmp=tmp_path) for a in args]
    if "--warehouse" not in argv:
        argv += ["--warehouse", str(warehouse)]
    proc = subprocess.run(
        [sys.executable, "-m", "analytics", "ingest", *argv, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message.format(tmp=tmp_path) in last, last
    assert "Traceback" not in proc.stderr and proc.stdout == ""
