"""Cluster marts benchmark: indicators + recommendations (the ``segments`` command's
per-subscriber half, then k-means on the driver) on one machine vs ``--cluster local:1``
vs ``--cluster local:2``.

    python benchmarks/bench_cluster_marts.py --subscribers 100000 --records 100 [--keep /tmp/marts.duckdb]

Builds bench_marketing's synthetic one-month warehouse (voice/sms/data mix, 1 % roaming,
3 % international, 200 cells, 4 plans; records in the lake), then runs
``segment_report`` for the month in a fresh process per mode: ``one``, ``local:1``,
``local:2`` (the local cluster is started and stopped inside the timed run; its start-up
is printed apart). Prints seconds per mode, the ratio to one machine, the linear
projection to 1 M subscribers x the same records, the load average before each run, and
checks the modes' per-subscriber tables are equal (floats to 1e-9).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_marketing import generate_in_child  # noqa: E402

RUN = """
import datetime as dt, json, logging, sys, time
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
logging.getLogger("analytics.partitioned").setLevel(logging.INFO)
from analytics import store
from analytics.marketing.report import segment_report
from analytics.partitioned import cluster_runner
if __name__ == "__main__":
    wh, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
    t = time.perf_counter()
    with store.reader(wh) as con, cluster_runner(None if mode == "one" else mode, con, name="segments") as run:
        up = time.perf_counter() - t
        report = segment_report(con, month=dt.date(2026, 3, 1), timezone="UTC", runner=run)
        work = time.perf_counter() - t - up
    report["subscribers"].write_parquet(out)
    print(json.dumps({"seconds": time.perf_counter() - t, "startup": up, "report": work,
                      "subscribers": report["totals"]["subscribers"], "k": report["totals"]["k"]}))
"""


def run_mode(warehouse: Path, mode: str, out: Path) -> dict:
    env = {**os.environ, "ANALYTICS_AUTH": "off", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(warehouse), mode, str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=100, help="records per subscriber in the month")
    parser.add_argument("--modes", default="one,local:1,local:2")
    parser.add_argument("--keep", type=Path, help="warehouse file: generated once, reused by later runs")
    args = parser.parse_args()
    n, rows = args.subscribers, args.subscribers * args.records
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        if path.exists():
            print(f"reusing {path}")
        else:
            generate_in_child(path, n, rows)
            print(f"generate: {rows:,} records for {n:,} subscribers in {time.perf_counter() - t0:.1f} s")
        results, tables = {}, {}
        for mode in args.modes.split(","):
            load = os.getloadavg()[0]
            out = Path(tmp) / f"{mode.replace(':', '_')}.parquet"
            results[mode] = r = run_mode(path, mode, out)
            tables[mode] = pl.read_parquet(out)
            base = results.get("one", r)["seconds"]
            print(
                f"{mode:>8}: {r['seconds']:7.1f} s (cluster start {r['startup']:.1f} s, report {r['report']:.1f} s), "
                f"x{r['seconds'] / base:.2f} of one machine, {rows / r['seconds']:,.0f} records/s, "
                f"projected to 1M subscribers x {args.records}: {r['seconds'] * 1_000_000 / n:,.0f} s "
                f"(load average before {load:.1f}, {r['subscribers']:,} subscribers, k={r['k']})"
            )
        first = next(iter(tables))
        for table in tables.values():
            assert_frame_equal(table, tables[first], rel_tol=1e-9)
        print(f"per-subscriber tables of {', '.join(tables)}: equal")


if __name__ == "__main__":
    main()
