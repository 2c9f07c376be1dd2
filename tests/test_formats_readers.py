"""Readers of the real source formats: every source row comes out, as the source says.

Expected values are computed from the source text with the csv module (samples) or
written by hand from each format's documentation (tests/fixtures/formats).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

from analytics.formats import FormatError, FormatOptions, cucm, freeswitch, read, read_cells

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"
FIX = REPO / "tests" / "fixtures" / "formats"
OPTS = FormatOptions(region="NORTH")


def _rows(path: Path, skip: int = 0) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.reader(fh) if r][skip:]


def _check_schema(out: pl.DataFrame) -> None:
    assert out.schema["source_line"] == pl.Int64
    assert all(dtype == pl.String for name, dtype in out.schema.items() if name != "source_line")


# ---------------------------------------------------------------- FreeSWITCH
def test_freeswitch_sample_every_row_as_the_source_says() -> None:
    path = SAMPLES / "freeswitch" / "kxingyunliushui_Master.csv"
    src = _rows(path)
    out = read(path, "freeswitch", OPTS).collect()
    _check_schema(out)
    assert out.height == len(src)
    assert out["source_line"].to_list() == list(range(1, len(src) + 1))
    assert out["record_id"].to_list() == [r[10] for r in src]
    assert out["duration_s"].to_list() == [r[8] for r in src]  # billsec
    # spreadsheet times cut to the minute, e.g. 2020/2/10 22:41 -> 2020-02-10T22:41:00
    expected_times = [dt.datetime.strptime(r[4], "%Y/%m/%d %H:%M").strftime("%Y-%m-%dT%H:%M:%S") for r in src]
    assert out["start_time"].to_list() == expected_times
    expected_disp = []
    for r in src:
        answered = r[5] != "" or int(r[8]) > 0
        if answered:
            expected_disp.append("dropped" if r[9] in freeswitch.DROP_CAUSES else "answered")
        elif r[9] in freeswitch.BUSY_CAUSES:
            expected_disp.append("busy")
        else:
            expected_disp.append("no_answer" if r[9] in freeswitch.NO_ANSWER_CAUSES else "failed")
    assert out["disposition"].to_list() == expected_disp
    assert set(out["region"]) == {"NORTH"}
    assert out["charge"].null_count() == out.height


def test_freeswitch_default_template_fixture() -> None:
    out = read(FIX / "freeswitch_default.csv", "freeswitch", OPTS).collect()
    assert out["disposition"].to_list() == [
        "answered",
        "no_answer",
        "busy",
        "no_answer",
        "dropped",
        "answered",
        "failed",
    ]
    assert out["duration_s"].to_list() == ["300", "0", "0", "0", "60", "90", "0"]
    # context "public" is an inbound call: the served subscriber is the callee
    inbound = out.row(5, named=True)
    assert (inbound["direction"], inbound["msisdn"], inbound["other_party"]) == ("in", "1000", "+447700900123")
    assert out["start_time"][0] == "2024-10-27 00:30:00"  # ISO already: passed unchanged


# ---------------------------------------------------------------- Asterisk
def test_asterisk_master_fixture_18_columns() -> None:
    path = FIX / "asterisk_master.csv"
    src = _rows(path)
    out = read(path, "asterisk", OPTS).collect()
    _check_schema(out)
    assert out.height == len(src) == 7
    assert out["record_id"].to_list() == [r[16] for r in src]
    assert out["duration_s"].to_list() == [r[13] for r in src]  # billsec, not duration
    assert out["disposition"].to_list() == [
        "answered",
        "no_answer",
        "busy",
        "failed",
        "failed",
        "answered",
        "WEIRD",  # unknown stays raw
    ]
    assert out["start_time"][6] == "yesterday"  # unparseable time left for ingest to reject
    inbound = out.row(5, named=True)  # dcontext from-trunk
    assert (inbound["direction"], inbound["msisdn"], inbound["other_party"]) == ("in", "1001", "447700900123")
    assert out.filter(pl.col("direction") == "out").height == 6


def test_asterisk_newcdrcolumns_record_id_has_sequence() -> None:
    out = read(FIX / "asterisk_master_newcdr.csv", "asterisk", OPTS).collect()
    # one call (same uniqueid) wrote two CDRs: the sequence keeps them apart
    assert out["record_id"].to_list() == ["1714550400.1-10", "1714550400.1-11", "1714554000.4-12"]
    assert out["record_id"].n_unique() == out.height


def test_asterisk_refuses_other_column_counts() -> None:
    with pytest.raises(FormatError, match="--mapping"):
        read(SAMPLES / "asterisk-custom" / "kelysaina_Master_custom.csv", "asterisk", OPTS)


def test_asterisk_gzip_and_empty(tmp_path: Path) -> None:
    gz = tmp_path / "Master.csv.gz"
    gz.write_bytes(gzip.compress((FIX / "asterisk_master.csv").read_bytes()))
    plain = read(FIX / "asterisk_master.csv", "asterisk", OPTS).collect()
    assert read(gz, "asterisk", OPTS).collect().equals(plain)
    empty = tmp_path / "Master.csv"
    empty.write_text("")
    out = read(empty, "asterisk", OPTS).collect()
    assert out.height == 0 and "record_id" in out.columns and out.schema["source_line"] == pl.Int64


@pytest.mark.parametrize("fmt", ["asterisk", "freeswitch", "cucm"])
def test_cell_less_formats_need_a_region(fmt: str) -> None:
    path = {
        "asterisk": FIX / "asterisk_master.csv",
        "freeswitch": FIX / "freeswitch_default.csv",
        "cucm": FIX / "cucm_cdr.txt",
    }[fmt]
    with pytest.raises(FormatError, match="--region"):
        read(path, fmt, FormatOptions())


# ---------------------------------------------------------------- CUCM
@pytest.mark.parametrize("name", ["cdr-examples_cdr.txt", "test_fixtures_sample_cdr.txt"])
def test_cucm_samples_every_row(name: str) -> None:
    path = SAMPLES / "cucm" / name
    lines = _rows(path)
    has_names = lines[0][0] == "cdrRecordType"
    names = lines[0] if has_names else cucm.FIELDS[: len(lines[0])]
    src = [dict(zip(names, r, strict=True)) for r in lines[(2 if has_names else 1) :]]
    out = read(path, "cucm", OPTS).collect()
    _check_schema(out)
    assert out.height == len(src)
    first = 3 if has_names else 2  # after the name row and the type row
    assert out["source_line"].to_list() == list(range(first, first + len(src)))
    assert out["duration_s"].to_list() == [r["duration"] for r in src]
    assert out["msisdn"].to_list() == [r["callingPartyNumber"] for r in src]
    utc = [dt.datetime.fromtimestamp(int(r["dateTimeOrigination"]), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for r in src]
    assert out["start_time"].to_list() == utc
    connected = [int(r["dateTimeConnect"]) > 0 for r in src]
    assert [d == "answered" for d in out["disposition"]] == connected
    assert out["record_id"].n_unique() == out.height


def test_cucm_fixture_dispositions_and_legs() -> None:
    out = read(FIX / "cucm_cdr.txt", "cucm", OPTS).collect()
    assert out["disposition"].to_list() == ["answered", "busy", "no_answer", "dropped", "answered"]
    assert out["service"].to_list() == ["voice"] * 4 + ["video"]
    # an empty finalCalledPartyNumber falls back to the original called number
    assert out["other_party"][2] == "5551004"
    # a transferred call: two CDRs with one global call id stay two records
    assert out["record_id"][3] != out["record_id"][4]
    assert out["record_id"][3].startswith("3-1004-") and out["record_id"][4].startswith("3-1004-")
    assert out["start_time"][0] == "2024-03-31T00:59:50Z"


@pytest.mark.parametrize("name", ["cdr-examples_cmr.txt", "test_fixtures_sample_cmr.txt"])
def test_cucm_cmr_files_refused(name: str) -> None:
    with pytest.raises(FormatError, match="CMR"):
        read(SAMPLES / "cucm" / name, "cucm", OPTS)


# ---------------------------------------------------------------- bandicoot
@pytest.mark.parametrize("user", ["A", "B"])
def test_bandicoot_samples(user: str) -> None:
    path = SAMPLES / "bandicoot" / f"{user}.csv"
    src = [dict(zip(_rows(path)[0], r, strict=True)) for r in _rows(path, 1)]
    out = read(path, "bandicoot", FormatOptions()).collect()
    _check_schema(out)
    assert out.height == len(src)
    assert set(out["msisdn"]) == {user}
    assert out["service"].to_list() == [{"call": "voice", "text": "sms"}[r["interaction"]] for r in src]
    assert out["duration_s"].to_list() == [r["call_duration"] or "0" for r in src]
    assert out["cell_id"].to_list() == [r["antenna_id"] for r in src]
    assert out["direction"].to_list() == [r["direction"] for r in src]
    assert out["record_id"].n_unique() == out.height
    assert "region" not in out.columns  # records carry their antenna


def test_bandicoot_antennas_as_cells() -> None:
    path = SAMPLES / "bandicoot" / "towers.csv"
    src = _rows(path, 1)
    cells = read_cells(path, "bandicoot", FormatOptions(region="PARIS"))
    assert cells.columns[:4] == ["cell_id", "region", "lat", "lon"]
    assert cells.height == len(src)  # the trailing blank line is not an antenna
    assert cells["cell_id"].to_list() == [r[0] for r in src]
    assert set(cells["region"]) == {"PARIS"}
    assert cells["lon"].to_list() == [r[2].strip() for r in src]


def test_bandicoot_missing_columns(tmp_path: Path) -> None:
    bad = tmp_path / "U1.csv"
    bad.write_text("interaction,direction,datetime\ncall,in,2014-01-01 00:00:00\n")
    with pytest.raises(FormatError, match="correspondent_id"):
        read(bad, "bandicoot", FormatOptions())


def test_bandicoot_accepts_a_v1_cells_file(tmp_path: Path) -> None:
    cells = tmp_path / "cells.csv"
    cells.write_text("cell_id,region,lat,lon,site_id\n13084,Paris,48.85,2.35,S1\n\n")
    out = read_cells(cells, "bandicoot", FormatOptions(region="IGNORED"))
    assert out.columns == [
        "cell_id",
        "region",
        "lat",
        "lon",
        "site_id",
        "technology",
        "capacity_erlangs",
        "source_line",
    ]
    assert out.rows() == [("13084", "Paris", "48.85", "2.35", "S1", None, None, 2)]
