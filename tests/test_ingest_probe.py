"""The bad-input probe (issue #19): a catalogue of hostile and broken extracts, loaded in
one multi-file run, must give every path its own entry, never a traceback, and for every
file ``rows_read = rows_loaded + rows_duplicate + rows_rejected``. Also: a big file with no
line break is refused in bounded memory, and the landing-folder watcher survives it.

Real files, real DuckDB, the real CLI in a subprocess.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from analytics.ingest import ingest_files
from tests.conftest import REPO

pytestmark = pytest.mark.slow

HEADER = "record_id,start_time,msisdn,other_party,service,direction,duration_s,cell_id,charge\n"


def good(i: int, **change: str) -> str:
    row = {
        "record_id": f"r{i}",
        "start_time": "2026-03-01T10:00:00Z",
        "msisdn": "447700900001",
        "other_party": "447700900002",
        "service": "voice",
        "direction": "out",
        "duration_s": "30",
        "cell_id": "N1",
        "charge": "0.10",
    }
    row.update(change)
    return ",".join(row.values()) + "\n"


def rows(n: int, start: int = 0) -> str:
    return "".join(good(i) for i in range(start, start + n))


def _text(name: str, text: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_text(text, encoding="utf-8", newline="")
        return p

    return make


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p

    return make


def _parquet(d: Path) -> Path:
    p = d / "typed.parquet"
    pl.DataFrame(
        {
            "record_id": ["p1", "p2", "p3", "p4"],
            "start_time": ["2026-03-01T10:00:00Z", "3000-01-01T00:00:00Z", "2026-03-01T10:00:00Z", "x"],
            "msisdn": ["447700900001"] * 4,
            "other_party": ["447700900002"] * 4,
            "service": ["voice"] * 4,
            "direction": ["out"] * 4,
            "duration_s": [30, 30, 3_000_000_000, 5],
            "cell_id": ["N1"] * 4,
            "charge": [0.1] * 4,
        }
    ).write_parquet(p)
    return p


def _directory(d: Path) -> Path:
    p = d / "a_folder.csv"
    p.mkdir()
    return p


# name -> how to make it; expected: "loaded" or "refused"
CATALOGUE: list[tuple[str, Callable[[Path], Path], str]] = [
    ("clean", _text("clean.csv", HEADER + rows(50)), "loaded"),
    ("int32 overflow", _text("overflow.csv", HEADER + rows(5) + good(99, duration_s="3000000000")), "loaded"),
    ("year 0001", _text("y0001.csv", HEADER + rows(5, 10) + good(98, start_time="0001-01-01T00:00:00Z")), "loaded"),
    (
        "year 9999",
        _text("y9999.csv", HEADER + rows(5, 20) + good(97, start_time="9999-12-31T23:59:59+14:00")),
        "loaded",
    ),
    (
        "bad offsets",
        _text(
            "offsets.csv",
            HEADER
            + good(30, start_time="2026-03-01T10:00:00+25:00")
            + good(31, start_time="2026-03-01T10:00:00+99:99")
            + rows(3, 32),
        ),
        "loaded",
    ),
    (
        "stray quote",
        _text("stray.csv", HEADER + rows(3, 40) + 'q1,2026-03-01T10:00:00Z,44"77,4,voice,out,1,N1,0\n' + rows(3, 43)),
        "loaded",
    ),
    (
        "unterminated quote",
        _text("unterminated.csv", HEADER + rows(3, 50) + 'q2,"2026-03-01,4,4,voice,out,1,N1,0\n' + rows(3, 53)),
        "loaded",
    ),
    (
        "all quoted, one bad",
        _text(
            "allquoted.csv",
            HEADER
            + "".join(",".join(f'"{v}"' for v in good(i).strip().split(",")) + "\n" for i in range(60, 64))
            + '"q3","x\n',
        ),
        "loaded",
    ),
    ("ragged rows", _text("ragged.csv", HEADER + rows(2, 70) + good(72).strip() + ",extra\n" + "r73,2026\n"), "loaded"),
    ("duplicates in file", _text("dups.csv", HEADER + rows(3, 80) + rows(3, 80)), "loaded"),
    (
        "blank lines and CRLF",
        _text("crlf.csv", (HEADER + rows(3, 90) + "\n" + rows(2, 93)).replace("\n", "\r\n")),
        "loaded",
    ),
    ("BOM", _bytes("bom.csv", b"\xef\xbb\xbf" + (HEADER + rows(2, 100)).encode()), "loaded"),
    (
        "latin-1 byte",
        _bytes(
            "latin.csv", (HEADER + rows(2, 110)).encode() + b"r112,2026-03-01T10:00:00Z,1,caf\xe9,voice,out,1,N1,0\n"
        ),
        "loaded",
    ),
    (
        "NUL after the head",
        _bytes("nul.csv", (HEADER + rows(1200, 1000)).encode() + b"r9,\x00,1,1,voice,out,1,N1,0\n"),
        "loaded",
    ),
    ("gzip with bad rows", _bytes("bad.csv.gz", gzip.compress((HEADER + rows(3, 120) + 'q4,"x\n').encode())), "loaded"),
    ("header only", _text("header_only.csv", HEADER), "loaded"),
    ("parquet implausible", _parquet, "loaded"),
    ("empty", _bytes("empty.csv", b""), "refused"),
    ("binary", _bytes("binary.csv", bytes(range(256)) * 40), "refused"),
    ("truncated gzip", _bytes("trunc.csv.gz", gzip.compress((HEADER + rows(3000, 2000)).encode())[:5000]), "refused"),
    ("gz named, plain", _text("plain.csv.gz", HEADER + rows(1, 130)), "refused"),
    ("utf-16", _bytes("utf16.csv", (HEADER + rows(2, 140)).encode("utf-16")), "refused"),
    ("semicolon", _text("semi.csv", (HEADER + rows(2, 150)).replace(",", ";")), "refused"),
    ("tab", _text("tab.csv", (HEADER + rows(2, 160)).replace(",", "\t")), "refused"),
    ("parquet named csv", lambda d: (pl.DataFrame({"a": [1]}).write_parquet(d / "pq.csv"), d / "pq.csv")[1], "refused"),
    ("duplicate header", _text("duphdr.csv", HEADER.strip() + ",record_id\n" + good(170).strip() + ",x\n"), "refused"),
    ("missing columns", _text("missing.csv", "record_id,start_time\nr1,2026-03-01T10:00:00Z\n"), "refused"),
    ("no line break", _bytes("noline.csv", b"record_id,start_time," * 10_000), "refused"),
    ("over-long line", _bytes("longline.csv", (HEADER + rows(2, 180)).encode() + b"9" * 2_000_000 + b"\n"), "refused"),
    ("directory", _directory, "refused"),
    ("missing file", lambda d: d / "not_there.csv", "refused"),
]


def test_every_file_of_the_catalogue_is_accounted_for(tmp_path, refs, warehouse):
    src = tmp_path / "in"
    src.mkdir()
    paths = [make(src) for _, make, _ in CATALOGUE]
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
        timeout=600,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    out = json.loads(proc.stdout)
    assert proc.returncode == 1  # some files refused: the JSON is printed and the exit says so
    assert [f["file"] for f in out["files"]] == [p.name for p in paths]
    for (case, _, expected), f in zip(CATALOGUE, out["files"], strict=True):
        assert f["status"] == expected, (case, f)
        assert f["rows_read"] == f["rows_loaded"] + f["rows_duplicate"] + f["rows_rejected"], (case, f)
        assert sum(f["rejects_by_reason"].values()) == f["rows_rejected"], (case, f)
        if expected == "refused":
            assert f["error"] and "\n" not in f["error"] and len(f["error"]) < 400, (case, f["error"])
            assert f["rows_read"] == 0
    by_case = {case: f for (case, _, _), f in zip(CATALOGUE, out["files"], strict=True)}
    assert by_case["int32 overflow"]["rejects_by_reason"] == {"out_of_range:duration_s": 1}
    assert by_case["year 0001"]["rejects_by_reason"] == {"out_of_range:start_time": 1}
    assert by_case["year 9999"]["rejects_by_reason"] == {"out_of_range:start_time": 1}
    assert by_case["bad offsets"]["rejects_by_reason"] == {"bad_timestamp:start_time": 2}
    for case in ("stray quote", "unterminated quote", "all quoted, one bad", "gzip with bad rows"):
        assert by_case[case]["rejects_by_reason"] == {"malformed_row": 1}, case
    assert by_case["ragged rows"]["rejects_by_reason"] == {"malformed_row": 2}
    assert by_case["parquet implausible"]["rejects_by_reason"] == {
        "out_of_range:start_time": 1,
        "out_of_range:duration_s": 1,
        "bad_timestamp:start_time": 1,
    }
    assert (out["rows_read"], out["rows_loaded"] + out["rows_duplicate"] + out["rows_rejected"]) == (
        sum(f["rows_read"] for f in out["files"]),
    ) * 2


def _peak_rss_mib_of_refusing(path: Path, warehouse: Path) -> tuple[dict, float]:
    code = (
        "import json, resource, sys; from analytics.ingest import ingest_files; "
        f"out = ingest_files([{str(path)!r}], warehouse={str(warehouse)!r}); "
        "print(json.dumps([out['files'][0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result, peak = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, peak


def test_a_big_file_without_line_breaks_is_refused_in_bounded_memory(tmp_path, warehouse):
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small.write_bytes(b"x" * 2_000_000)
    with big.open("wb") as fh:  # 400 MB, no line break
        for _ in range(100):
            fh.write(b"record_id,start_time," * 200_000)
    base_result, base_peak = _peak_rss_mib_of_refusing(small, warehouse)
    result, peak = _peak_rss_mib_of_refusing(big, warehouse)
    big.unlink()
    assert base_result["status"] == result["status"] == "refused"
    assert "header longer than" in result["error"]
    assert peak - base_peak < 64, (base_peak, peak)  # a 400 MB line costs no more than a 2 MB one


def test_the_watcher_survives_a_hostile_file(tmp_path, refs, warehouse):
    from analytics.live.watch import Watcher

    ingest_files([], warehouse=warehouse, cells=refs["cells"])
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "hostile.csv").write_bytes(HEADER.encode() + b"9" * 5_000_000)
    (landing / "utf16.csv").write_bytes((HEADER + rows(2)).encode("utf-16"))
    (landing / "good.csv").write_text(HEADER + rows(3, 500))
    os.utime(landing / "good.csv", (2e9, 2e9))  # last in the watcher's order
    watcher = Watcher(landing, warehouse=warehouse, alerts=False, marts_idle_s=None)
    results = {r["file"]: r for r in watcher.run_once()}
    assert {k: v["status"] for k, v in results.items()} == {
        "hostile.csv": "refused",
        "utf16.csv": "refused",
        "good.csv": "loaded",
    }
    assert "longer than 1,048,576 bytes" in results["hostile.csv"]["error"]
    assert (landing / "rejected" / "hostile.csv").exists()
    assert "UTF-16" in (landing / "rejected" / "utf16.csv.reason.txt").read_text()
    assert results["good.csv"]["rows_loaded"] == 3
