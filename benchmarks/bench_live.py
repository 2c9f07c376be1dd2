"""Latency from a file's rename into the landing folder to its records counted in the live KPIs.

    python benchmarks/bench_live.py --rows 100000 --files 10 [--history-rows 2000000]

Starts ``python -m analytics watch`` (a separate process, alerts on, as in production)
on a fresh landing folder, then for each file: writes ``<name>.tmp``, renames it, and
watches the dashboard's read path (the published snapshot) and, at each new snapshot,
computes ``live_kpis(...)`` until the network call attempts over the last day include
the file's calls (the time includes that KPI computation).
Prints the latency distribution (p50/p95/max), the load rate and peak memory
(this process and the watcher, from resource.getrusage).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics import store  # noqa: E402
from analytics.ingest import ingest_files  # noqa: E402
from analytics.live.feeder import generate, own_world, synthetic_profile  # noqa: E402
from analytics.live.kpis import live_kpis  # noqa: E402


def extract(
    profile: pl.DataFrame, subs: pl.Series, *, rows: int, start: dt.datetime, seed: int, prefix: str
) -> pl.DataFrame:
    per_hour = profile.filter(pl.col("hour_of_week") == start.weekday() * 24 + start.hour)["records_per_hour"].sum()
    return generate(
        profile,
        subs,
        start=start,
        seconds=600.0,
        rng=np.random.default_rng(seed),
        scale=rows / (per_hour / 6),
        id_prefix=prefix,
    )


def counted_attempts(wh: Path) -> float | None:
    try:
        con = store.snapshot_reader(wh)
    except store.WarehouseError:
        return None
    try:
        k = live_kpis(con, levels=("network",))
    finally:
        con.close()
    sel = k.filter((pl.col("window_name") == "1d") & (pl.col("kpi") == "call_attempts"))
    return None if sel.is_empty() else sel["value"][0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="rows per file (default 100000)")
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--history-rows", type=int, default=0, help="rows loaded before the run (warehouse size)")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_live_"))
    wh, landing = tmp / "wh.duckdb", tmp / "landing"
    landing.mkdir()
    cells, subs = own_world(7, demo_dir=None)
    cells.write_csv(tmp / "cells.csv")
    profile = synthetic_profile(cells)
    start = dt.datetime(2026, 3, 10, 8, 0)
    if args.history_rows:
        hist = extract(
            profile, subs["msisdn"], rows=args.history_rows, start=start - dt.timedelta(hours=12), seed=1, prefix="H"
        )
        hist.write_csv(tmp / "history.csv")
        ingest_files([tmp / "history.csv"], warehouse=wh, cells=tmp / "cells.csv")
    else:
        ingest_files([], warehouse=wh, cells=tmp / "cells.csv")
    frames = [
        extract(
            profile,
            subs["msisdn"],
            rows=args.rows,
            start=start + dt.timedelta(minutes=10 * i),
            seed=100 + i,
            prefix=f"B{i}-",
        )
        for i in range(args.files)
    ]

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "analytics", "watch", str(landing), "--warehouse", str(wh), "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "watch.log", "w"),
    )
    time.sleep(2.0)  # let the watcher start
    expected = counted_attempts(wh) or 0.0
    latencies = []
    try:
        for i, frame in enumerate(frames):
            expected += frame.filter((pl.col("service") == "voice") & (pl.col("direction") == "out")).height
            tmp_file = landing / f"bench_{i:03d}.csv.tmp"
            frame.write_csv(tmp_file)
            t0 = time.perf_counter()
            os.replace(tmp_file, landing / f"bench_{i:03d}.csv")
            seen = None
            while True:  # recompute the KPIs only when a new snapshot is published (cheap stat)
                version = store.snapshot_version(wh)
                if version != seen:
                    seen = version
                    if (counted_attempts(wh) or 0) >= expected:
                        break
                if time.perf_counter() - t0 > args.timeout:
                    raise SystemExit(f"file {i} not counted after {args.timeout} s; see {tmp / 'watch.log'}")
                time.sleep(0.02)
            latencies.append(time.perf_counter() - t0)
            print(f"file {i}: {frame.height:,} rows counted in {latencies[-1]:.2f} s", flush=True)
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=60)
    lat = np.array(latencies)
    rows = sum(f.height for f in frames)
    print(f"files: {len(lat)} x ~{args.rows:,} rows (history {args.history_rows:,} rows)")
    print(
        f"latency rename -> counted in live KPIs: p50 {np.percentile(lat, 50):.2f} s, "
        f"p95 {np.percentile(lat, 95):.2f} s, max {lat.max():.2f} s (target < 5 s)"
    )
    print(f"throughput: {rows / lat.sum():,.0f} rows/s end to end")
    print(
        f"peak memory: bench {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
        f"watcher {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
