"""A daily extract into a warehouse with history against the same extract into a small one.

    python benchmarks/bench_daily.py [--subscribers 6000] [--months 3] [--daily-rows 2000]

Generates the demo world (``--subscribers`` x ``--months``, about 100 records per
subscriber and month) and loads all its daily files but the last into a "history"
warehouse (with the marts), and only the first one into a "small" warehouse. The last
file, cut to its first ``--daily-rows`` rows, is then loaded end to end
(``pipeline.load_and_refresh``: load, billing, segments, fraud, compaction) into each,
in a fresh process, and the seconds, the bytes the publish copied and the lake's size
are printed, and the disk the warehouse uses against the raw extracts' size. The issue's
bars: history <= 2x small; with 100 M records of history (``--subscribers 1000000
--months 1 --only-history``): the daily file end to end < 10 s, a publish < 100 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DAILY = """
import json, sys, time
from analytics import lake, store
from analytics.pipeline import load_and_refresh
t = time.perf_counter()
report = load_and_refresh([sys.argv[1]], warehouse=sys.argv[2])
secs = time.perf_counter() - t
records = 0
with store.reader(sys.argv[2]) as con:
    records = store.scalar(con, "select count(*) from records")
lake_bytes = sum(p.stat().st_size for p in lake.table_dir(sys.argv[2]).rglob("*") if p.is_file())
print(json.dumps({"seconds": secs, "parts": report.seconds, "loaded": report.rows_loaded,
  "marts": {k: v for k, v in (report.marts or {}).items() if k.endswith("_s") or k.endswith("months")},
  "published": store.published_bytes(sys.argv[2]), "records": records, "lake_bytes": lake_bytes,
  "duckdb_bytes": __import__("os").path.getsize(sys.argv[2])}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=6000)
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--daily-rows", type=int, default=2000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_daily"))
    ap.add_argument(
        "--only-history",
        action="store_true",
        help="skip the small warehouse (the 100 M-record bar: --subscribers 1000000 --months 1 --only-history)",
    )
    args = ap.parse_args()
    from analytics.demo.generate import generate
    from analytics.pipeline import load_and_refresh

    wd = args.workdir
    shutil.rmtree(wd, ignore_errors=True)
    wd.mkdir(parents=True)
    t = time.perf_counter()
    w = generate(wd / "demo", subscribers=args.subscribers, months=args.months)
    print(f"generated {w.records:,} records in {len(w.extracts)} files in {time.perf_counter() - t:.1f}s")
    files = sorted(w.extracts)
    refs = {"cells": w.cells, "plans": w.plans, "subscribers": w.subscribers, "home_country": w.truth["home_country"]}
    daily = wd / "daily.csv"
    last = files[-1]
    frame = pl.read_csv(last, infer_schema=False)
    frame.head(args.daily_rows).write_csv(daily)
    raw = sum(Path(f).stat().st_size for f in files)
    print(f"raw extracts: {raw / 1e6:,.1f} MB ({len(files)} files, as delivered: gzip where the world writes .gz)")
    runs = [("small", files[:1]), ("history", files[:-1])]
    for name, history in runs[1:] if args.only_history else runs:
        wh = wd / f"{name}.duckdb"
        t = time.perf_counter()
        load_and_refresh(history, warehouse=wh, **refs)
        print(f"{name:8} built from {len(history)} file(s) in {time.perf_counter() - t:.1f}s")
        proc = subprocess.run(
            [sys.executable, "-c", DAILY, str(daily), str(wh)], cwd=REPO, capture_output=True, text=True, check=True
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{name:8} daily {r['loaded']:,} rows end to end: {r['seconds']:6.2f}s {r['parts']}  marts {r['marts']}  "
            f"records {r['records']:,}  publish copied {r['published'] / 1e6:.1f} MB  "
            f"DuckDB file {r['duckdb_bytes'] / 1e6:.1f} MB  lake {r['lake_bytes'] / 1e6:.1f} MB  "
            f"disk / raw extracts {(r['duckdb_bytes'] + r['lake_bytes']) / raw:.2f}"
        )


if __name__ == "__main__":
    main()
