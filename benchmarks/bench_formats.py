"""Read rate of each mapped source format against the v1 CSV reader, on generated files.

    python benchmarks/bench_formats.py --rows 200000

Writes the same seeded calls as a v1 CSV and in each source layout under a temp folder,
then times, best of --repeat:
* read: ``collect(engine="streaming")`` of each reader (v1: the ingest's ``open_v1``);
* load: ``ingest_files`` of the file into a fresh warehouse (validation, de-duplication,
  DuckDB insert and cube refresh: what an operator waits for), unless --no-load.
Prints rows/s, MB/s, the ratio to v1 (target >= 0.5) and peak memory. Generation time is
not counted. CUCM rows are ~4x the bytes of v1 rows (133 fields), so compare MB/s too.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.formats import FormatOptions, read  # noqa: E402
from analytics.formats.cucm import FIELDS  # noqa: E402
from analytics.ingest import ingest_files  # noqa: E402
from analytics.ingest.reader import open_v1  # noqa: E402

MAPPING = Path(__file__).resolve().parent.parent / "mappings" / "asterisk-custom.toml"


def generate(folder: Path, rows: int, seed: int) -> dict[str, Path]:
    rng = random.Random(seed)
    base = 1_711_000_000
    calls = []
    for i in range(rows):
        t = base + i * 7
        billsec = rng.choice([0, rng.randint(1, 900)])
        calls.append((i, t, f"4477009{rng.randint(0, 99999):05d}", f"4477009{rng.randint(0, 99999):05d}", billsec))
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))  # noqa: E731
    paths = {
        k: folder / n
        for k, n in [
            ("v1", "v1.csv"),
            ("asterisk", "Master.csv"),
            ("freeswitch", "fs.csv"),
            ("cucm", "cdr.txt"),
            ("bandicoot", "447700900001.csv"),
            ("mapping", "custom.csv"),
        ]
    }
    with paths["v1"].open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
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
            ]
        )
        for i, t, a, b, s in calls:
            w.writerow([f"r{i}", stamp(t), a, b, "voice", "out", s, "N1", "0.10", "answered" if s else "no_answer"])
    with paths["asterisk"].open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        for i, t, a, b, s in calls:
            w.writerow(
                [
                    "",
                    a,
                    b,
                    "from-internal",
                    f'"" <{a}>',
                    "PJSIP/a-1",
                    "PJSIP/b-2",
                    "Dial",
                    "PJSIP/b",
                    stamp(t),
                    stamp(t + 3) if s else "",
                    stamp(t + 3 + s),
                    s + 3,
                    s,
                    "ANSWERED" if s else "NO ANSWER",
                    "DOCUMENTATION",
                    f"{t}.{i}",
                    "",
                ]
            )
    with paths["freeswitch"].open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        for i, t, a, b, s in calls:
            w.writerow(
                [
                    "n",
                    a,
                    b,
                    "default",
                    stamp(t),
                    stamp(t + 3) if s else "",
                    stamp(t + 3 + s),
                    s + 3,
                    s,
                    "NORMAL_CLEARING" if s else "NO_ANSWER",
                    f"00000000-0000-4000-8000-{i:012d}",
                    "",
                    "",
                    "PCMU",
                    "PCMU",
                ]
            )
    with paths["cucm"].open("w", newline="") as fh:
        fh.write(",".join(f'"{n}"' for n in FIELDS) + "\n" + ",".join("INTEGER" for _ in FIELDS) + "\n")
        idx = {n: k for k, n in enumerate(FIELDS)}
        for i, t, a, b, s in calls:
            row = ["0"] * len(FIELDS)
            for n, v in (
                ("cdrRecordType", 1),
                ("globalCallID_callManagerId", 1),
                ("globalCallID_callId", i),
                ("origLegCallIdentifier", i),
                ("destLegIdentifier", i + 1),
                ("dateTimeOrigination", t),
                ("callingPartyNumber", a),
                ("finalCalledPartyNumber", b),
                ("duration", s),
                ("dateTimeConnect", t + 3 if s else 0),
                ("destCause_value", 16 if s else 19),
            ):
                row[idx[n]] = str(v)
            fh.write(",".join(row) + "\n")
    with paths["bandicoot"].open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["interaction", "direction", "correspondent_id", "datetime", "call_duration", "antenna_id"])
        for _i, t, _a, b, s in calls:
            w.writerow(["call" if s else "text", "out", b, stamp(t), s if s else "", "N1"])
    with paths["mapping"].open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        for i, t, a, b, s in calls:
            w.writerow(
                [
                    f'"" <{a}>',
                    a,
                    b,
                    "default",
                    "PJSIP/a-1",
                    "PJSIP/b-2",
                    "Dial",
                    "PJSIP/b",
                    stamp(t),
                    stamp(t + 3) if s else "",
                    stamp(t + 3 + s),
                    s + 3,
                    s,
                    "ANSWERED" if s else "NO ANSWER",
                    "DOCUMENTATION",
                    "",
                    f"{t}.{i}",
                    "",
                    i % 7,
                ]
            )
    return paths


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-load", action="store_true", help="time the readers only")
    args = ap.parse_args()
    opts = FormatOptions(region="NORTH", mapping_path=MAPPING)
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as tmp:
        paths = generate(Path(tmp), args.rows, args.seed)
        cells = Path(tmp) / "cells.csv"
        cells.write_text("cell_id,region,lat,lon\nN1,NORTH,54.9,-1.6\n")

        def read_v1() -> None:
            with open_v1(paths["v1"]) as lf:
                lf.collect(engine="streaming")

        def reader(fmt: str):
            return lambda: read(paths[fmt], fmt, opts).collect(engine="streaming")

        def loader(fmt: str):
            counter = iter(range(10_000))

            def run() -> None:
                wh = Path(tmp) / f"wh-{fmt}-{next(counter)}.duckdb"
                kw = {"mapping": MAPPING} if fmt == "mapping" else {"fmt": None if fmt == "v1" else fmt}
                res = ingest_files([paths[fmt]], warehouse=wh, cells=cells, region="NORTH", **kw)
                assert res["rows_read"] == args.rows, (fmt, res["rows_read"])

            return run

        print(f"rows={args.rows}  (best of {args.repeat})")
        print(
            f"{'format':<11} {'MB':>6} {'read s':>7} {'read rows/s':>12} {'MB/s':>6} {'vs v1':>6}"
            + ("" if args.no_load else f" {'load s':>7} {'load rows/s':>12} {'vs v1':>6}")
        )
        base_read = base_load = None
        for fmt in ("v1", "asterisk", "freeswitch", "cucm", "bandicoot", "mapping"):
            if fmt != "v1":
                n = read(paths[fmt], fmt, opts).collect().height
                assert n == args.rows, (fmt, n)
            mb = paths[fmt].stat().st_size / 1e6
            r = timed(read_v1 if fmt == "v1" else reader(fmt), args.repeat)
            base_read = base_read or r
            line = f"{fmt:<11} {mb:6.1f} {r:7.3f} {args.rows / r:12,.0f} {mb / r:6.0f} {base_read / r:6.2f}"
            if not args.no_load:
                ld = timed(loader(fmt), args.repeat)
                base_load = base_load or ld
                line += f" {ld:7.3f} {args.rows / ld:12,.0f} {base_load / ld:6.2f}"
                if base_load / ld < 0.5:
                    line += "  LOAD BELOW TARGET"
            print(line)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
