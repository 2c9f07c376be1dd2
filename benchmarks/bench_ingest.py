"""Ingest benchmark: our load (validate, dedupe, quarantine, cubes) vs DuckDB's own floor.

    python benchmarks/bench_ingest.py --rows 10000000 [--repeat 2] [--workdir /tmp/bench_ingest]

Writes a v1 CSV of ``--rows`` rows (about 100 bytes a row, mixed timestamp forms, 0.1 %
bad rows, 0.1 % duplicate ids) and the same rows as Parquet, then times, each in a
fresh process (so peak memory is that step's own):
  floor   DuckDB read_csv + one GROUP BY into an hourly cube table
  bound   DuckDB alone, with no validation, de-duplication or quarantine: the file's rows
          stored as a table (typed by read_csv's sniffer, so msisdn is an integer) and the
          hourly cube grouped from that table, once without and once with exact distinct
          subscribers, in one transaction. Every load that keeps its records pays at least
          this; our load does more (21 columns, text numbers, validation, 4 cubes).
  csv     analytics.ingest.ingest_files on the CSV into an empty warehouse
  parquet the same on the Parquet file
  again   the CSV a second time (already loaded: hash check only)
and prints rows/s, seconds, the ratio to the floor and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parent.parent
N_CELLS = 600


def make_extract(path: Path, rows: int, *, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00:00")
    secs = rng.integers(0, 90 * 86400, rows)
    ts = (start + secs.astype("timedelta64[s]")).astype(str)
    forms = rng.integers(0, 3, rows)
    services = np.array(["voice", "sms", "data", "mms", "voip", "video"])[
        rng.choice(6, rows, p=[0.35, 0.25, 0.3, 0.02, 0.05, 0.03])
    ]
    ids = np.arange(rows).astype(str)
    dup = rng.random(rows) < 0.001
    ids[dup] = "0"
    df = (
        pl.DataFrame(
            {
                "record_id": np.char.add("r", ids),
                "start_time": ts,
                "form": forms,
                "msisdn": np.char.add("4477", rng.integers(10_000_000, 10_200_000, rows).astype(str)),
                "other_party": np.char.add("4478", rng.integers(10_000_000, 19_000_000, rows).astype(str)),
                "service": services,
                "direction": np.array(["out", "in"])[rng.integers(0, 2, rows)],
                "duration_s": rng.integers(0, 600, rows),
                "cell_id": np.char.add("C", rng.integers(0, N_CELLS, rows).astype(str)),
                "charge": np.round(rng.random(rows) * 2, 2),
                "bytes_up": rng.integers(0, 5_000_000, rows),
                "bytes_down": rng.integers(0, 50_000_000, rows),
            }
        )
        .with_columns(
            start_time=pl.when(pl.col("form") == 0)
            .then(pl.col("start_time") + "Z")
            .when(pl.col("form") == 1)
            .then(pl.col("start_time").str.replace("T", " ") + "+01:00")
            .otherwise(pl.col("start_time")),
            service=pl.when(pl.int_range(pl.len()) % 1000 == 7).then(pl.lit("fax")).otherwise(pl.col("service")),
        )
        .drop("form")
    )
    df.write_csv(path)
    df.write_parquet(path.with_suffix(".parquet"))
    cells = pl.DataFrame(
        {
            "cell_id": [f"C{i}" for i in range(N_CELLS)],
            "region": [f"R{i % 12}" for i in range(N_CELLS)],
            "lat": rng.uniform(50, 58, N_CELLS),
            "lon": rng.uniform(-5, 1, N_CELLS),
        }
    )
    cells.write_csv(path.parent / "cells.csv")


DUCKDB = """
import duckdb, sys, time
csv, db, mode = sys.argv[1:4]
t = time.perf_counter()
con = duckdb.connect(db)
con.execute('begin')
if mode == 'floor':  # read_csv straight into the hourly GROUP BY
    source, params = 'read_csv(?, header = true)', [csv]
else:  # the bound: the rows stored as a table first, the cube grouped from it
    con.execute('create table records as select * from read_csv(?, header = true)', [csv])
    source, params = 'records', []
distinct = 'count(distinct msisdn) as subscribers,' if mode == 'distinct' else ''
con.execute(f'''create table usage_hourly as
select date_trunc('hour', start_time::timestamptz) as hour_at, cell_id, service, direction,
       count(*) as records, {distinct} sum(duration_s) as duration_s, sum(bytes_up) as bytes_up,
       sum(bytes_down) as bytes_down, sum(charge) as charge
from {source} group by all''', params)
con.execute('commit')
con.close()
print(time.perf_counter() - t)
"""

OURS = """
import json, sys, time, resource
from analytics import lake, store
from analytics.ingest import ingest_files
t = time.perf_counter()
out = ingest_files([sys.argv[1]], warehouse=sys.argv[2], cells=sys.argv[3] if len(sys.argv) > 3 else None)
secs = time.perf_counter() - t
lake_bytes = sum(p.stat().st_size for p in lake.table_dir(sys.argv[2]).glob("month=*/*.parquet"))
print(json.dumps({"seconds": secs, "rows_read": out["rows_read"], "rows_loaded": out["rows_loaded"],
  "rows_duplicate": out["rows_duplicate"], "rows_rejected": out["rows_rejected"],
  "status": out["files"][0]["status"], "published": store.published_bytes(sys.argv[2]), "lake_bytes": lake_bytes}))
"""


def _run(code: str, *args: str) -> tuple[str, float]:
    """Run ``code`` in a fresh interpreter; (stdout, peak RSS in MiB of that process)."""
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-c", code, *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return proc.stdout.strip().splitlines()[-1], peak_kib / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_ingest"))
    ap.add_argument("--repeat", type=int, default=1, help="runs of each format, alternating (default 1)")
    args = ap.parse_args()
    wd = args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    csv = wd / f"extract_{args.rows}.csv"
    if not csv.exists():
        t = time.perf_counter()
        make_extract(csv, args.rows)
        print(f"generated {args.rows:,} rows ({csv.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.1f}s")
    for f in wd.glob("*.duckdb*"):
        shutil.rmtree(f) if f.is_dir() else f.unlink()
    floor_s, floor_mem = _run(DUCKDB, str(csv), str(wd / "floor.duckdb"), "floor")
    floor = float(floor_s)
    print(
        f"floor   duckdb read_csv + hourly GROUP BY: {floor:7.2f}s  {args.rows / floor:12,.0f} rows/s  peak {floor_mem:6.0f} MiB"
        f"  (bar: 1.5x = {1.5 * floor:.2f}s)"
    )
    for kind in ("plain", "distinct"):
        secs, mem = _run(DUCKDB, str(csv), str(wd / f"bound_{kind}.duckdb"), kind)
        print(
            f"bound   duckdb: store rows + hourly cube ({kind:8}): {float(secs):7.2f}s  x{float(secs) / floor:4.2f} of floor"
            f"  peak {mem:6.0f} MiB"
        )
    # CSV and Parquet alternate, each into a new warehouse, --repeat times; the cube
    # refresh (the same SQL for both) varies by a few seconds from run to run
    runs = [("csv", csv), ("parquet", csv.with_suffix(".parquet"))] * args.repeat + [("again", csv)]
    best: dict[str, float] = {}
    csv_wh = None  # the last CSV run's warehouse: "again" loads the same file into it
    for i, (name, src) in enumerate(runs):
        fresh = name != "again"
        wh = wd / f"ours_{name}_{i}.duckdb" if fresh else csv_wh
        if name == "csv":
            csv_wh = wh
        out, mem = _run(OURS, str(src), str(wh), str(wd / "cells.csv"))
        r = json.loads(out)
        best[name] = min(best.get(name, r["seconds"]), r["seconds"])
        print(
            f"{name:7} ingest_files ({r['status']}): {r['seconds']:7.2f}s  {args.rows / r['seconds']:12,.0f} rows/s  "
            f"x{r['seconds'] / floor:4.2f} of floor  peak {mem:6.0f} MiB  loaded {r['rows_loaded']:,} "
            f"dup {r['rows_duplicate']:,} rejected {r['rows_rejected']:,}  "
            f"publish copied {(r['published'] or 0) / 1e6:.1f} MB, lake {r['lake_bytes'] / 1e6:.0f} MB"
        )
        if fresh:
            for f in wd.glob(f"{wh.name}.snap*"):
                f.unlink()
    if args.repeat > 1:
        print(
            f"best of {args.repeat}: csv {best['csv']:.2f}s (x{best['csv'] / floor:.2f}), "
            f"parquet {best['parquet']:.2f}s (x{best['parquet'] / floor:.2f})"
        )


if __name__ == "__main__":
    main()
