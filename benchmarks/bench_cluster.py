"""Cluster ingest benchmark: one machine vs ``--cluster local:1`` vs ``--cluster local:2``.

    python benchmarks/bench_cluster.py --rows 2000000 --files 20 [--workdir /tmp/bench_cluster]

Writes ``--files`` v1 CSV extracts of ``--rows / --files`` rows each (the rows of
bench_ingest.make_extract: mixed timestamp forms, 0.1 % bad rows, 0.1 % repeated ids
within a file; record_ids unique across files; file i covers the i-th slice of 90 days,
as daily extracts do), then loads all of them into a fresh warehouse, each mode in a fresh
process: ``one`` (analytics.ingest.ingest_files), ``local:1`` and ``local:2`` (the same
with ``cluster=``; the time includes starting and stopping the local cluster). Prints the
seconds, rows/s, the ratio to one machine, the run's phases from the cluster log (workers,
cross-file de-duplication, the driver's commit with its cube refresh), the cluster's
start-up alone, and the load average of this machine before each run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_ingest import make_extract  # noqa: E402

DAYS = 90

LOAD = """
import json, logging, sys, time
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
logging.getLogger("analytics.ingest.distributed").setLevel(logging.INFO)
from analytics.ingest import ingest_files
if __name__ == "__main__":
    files, wh, cells, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    t = time.perf_counter()
    out = ingest_files(files, warehouse=wh, cells=cells, cluster=None if mode == "one" else mode)
    secs = time.perf_counter() - t
    print(json.dumps({"seconds": secs, "rows_read": out["rows_read"], "rows_loaded": out["rows_loaded"],
                      "rows_duplicate": out["rows_duplicate"], "rows_rejected": out["rows_rejected"],
                      "file_seconds": sum(f["seconds"] for f in out["files"])}))
"""

STARTUP = """
import sys, time
from analytics import cluster
if __name__ == "__main__":
    t = time.perf_counter()
    with cluster.connect(sys.argv[1]) as client:
        client.wait_for_workers(int(sys.argv[1].split(":")[1]))
        up = time.perf_counter() - t
    print(up, time.perf_counter() - t)
"""


def make_files(wd: Path, rows: int, files: int) -> list[Path]:
    """``files`` extracts of ``rows // files`` rows, ids unique across files, each its slice of days."""
    per = rows // files
    out = []
    for i in range(files):
        path = wd / f"extract_{rows}_{files}_{i:03d}.csv"
        out.append(path)
        if path.exists():
            continue
        tmp = wd / "tmp" / "x.csv"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        make_extract(tmp, per, seed=i + 1)
        shift = pl.duration(seconds=int(i * DAYS * 86400 / files))
        frame = pl.read_csv(tmp, infer_schema=False).with_columns(
            record_id=pl.lit(f"f{i}-") + pl.col("record_id"),
            # the slice of days: map the 90-day span onto its 1/files share, keep the time form
            start_time=pl.col("start_time"),
        )
        secs = pl.col("start_time").str.slice(0, 19).str.replace(" ", "T").str.to_datetime(
            "%Y-%m-%dT%H:%M:%S"
        ) - pl.datetime(2026, 1, 1)
        squeezed = pl.datetime(2026, 1, 1) + pl.duration(seconds=(secs.dt.total_seconds() // files)) + shift
        frame = frame.with_columns(start_time=squeezed.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        frame.write_csv(path)
        shutil.copy(tmp.parent / "cells.csv", wd / "cells.csv")
    return out


def _run(code: str, *args: str) -> tuple[str, str, float]:
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-c", code, *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, "ANALYTICS_AUTH": "off"})
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return proc.stdout.strip().splitlines()[-1], proc.stderr, int(proc.stderr.strip().splitlines()[-1]) / 1024


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--modes", default="one,local:1,local:2")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_cluster"))
    args = ap.parse_args()
    wd = args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    paths = make_files(wd, args.rows, args.files)
    print(
        f"{len(paths)} files of {args.rows // args.files:,} rows ready in {time.perf_counter() - t:.1f}s "
        f"({sum(p.stat().st_size for p in paths) / 1e9:.2f} GB)"
    )
    base = None
    for mode in args.modes.split(","):
        if mode.startswith("local:"):
            load = _load()
            up, total, _ = _run(STARTUP, mode)[0].split() + [""]
            print(f"{mode:8} cluster start {float(up):6.2f}s, start+stop {float(total):6.2f}s  (load avg {load})")
        wh = wd / f"wh_{mode.replace(':', '')}" / "w.duckdb"
        shutil.rmtree(wh.parent, ignore_errors=True)
        load = _load()
        out, err, mem = _run(LOAD, json.dumps([str(p) for p in paths]), str(wh), str(wd / "cells.csv"), mode)
        r = json.loads(out)
        base = base or r["seconds"]
        phases = re.findall(r"cluster ingest of .*", err)
        print(
            f"{mode:8} {r['seconds']:7.2f}s  {args.rows / r['seconds']:10,.0f} rows/s  x{r['seconds'] / base:4.2f} of one"
            f"  peak driver RSS {mem:5.0f} MiB  loaded {r['rows_loaded']:,} dup {r['rows_duplicate']:,} "
            f"rejected {r['rows_rejected']:,}  per-file seconds {r['file_seconds']:.1f}  (load avg {load})"
        )
        for line in phases:
            print(f"         {line}")


if __name__ == "__main__":
    main()
