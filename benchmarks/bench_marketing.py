"""Benchmark: indicators and plan recommendations for N subscribers.

    python benchmarks/bench_marketing.py --subscribers 2000 --records 50

Builds a synthetic one-month warehouse in a temporary directory (records generated in
DuckDB: voice/sms/data mix, 1 % roaming, 3 % international, 200 cells, 4 plans), then
times each stage on it and prints seconds, rows/s and the process's peak memory
(``resource.getrusage``). The target is 1,000,000 subscribers (about 100 million
records) in under 2 minutes for indicators + recommendations.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import datetime as dt  # noqa: E402

from analytics import store  # noqa: E402
from analytics.marketing import window  # noqa: E402
from analytics.marketing.indicators import bandicoot_indicators  # noqa: E402
from analytics.marketing.recommend import month_recommendations  # noqa: E402
from analytics.marketing.report import allowance_use, segment_report  # noqa: E402
from analytics.marketing.usage import usage_indicators  # noqa: E402

GENERATE = """
insert into cells select 'C' || i, 'R' || (i % 5), 51 + (i % 20) / 10.0, -1 + (i // 20) / 10.0, null, null, null
from range(200) t(i);
insert into plans values
 ('P1', 'Basic', 5, 50, 50, 500, 0.10, 0.05, 0.0125, 1.00, 2.00, 0.50),
 ('P2', 'Talk', 15, 500, 200, 2000, 0.08, 0.04, 0.01, 0.90, 1.80, 0.40),
 ('P3', 'Data', 20, 100, 100, 20000, 0.10, 0.05, 0.005, 1.00, 2.00, 0.30),
 ('P4', 'Max', 35, 3000, 3000, 50000, 0.05, 0.02, 0.005, 0.80, 1.50, 0.25);
insert into subscribers select '+4477' || lpad(i::varchar, 8, '0'), 'P' || (1 + i % 4), null from range($n) t(i);
create temp table gen_records as select * from records_schema limit 0;
insert into gen_records
select
    'r' || i,
    timestamp '2026-03-01' + to_seconds((hash(i, 1) % 2678400)::bigint),
    '+4477' || lpad((i % $n)::varchar, 8, '0'),
    '+4478' || (hash(i // 7, 2) % 300)::varchar,
    case when h < 45 then 'voice' when h < 70 then 'sms' else 'data' end,
    case when hash(i, 4) % 2 = 0 then 'out' else 'in' end,
    case when h < 45 and hash(i, 5) % 10 > 0 then (hash(i, 6) % 900)::int else 0 end,
    case when roam then null else 'C' || ((i % $n) % 190 + hash(i, 7) % 10) end,
    case when roam then 'ROAMING' else 'R1' end,
    0,
    case when h < 45 and hash(i, 5) % 10 = 0 then 'no_answer' else 'answered' end,
    case when h >= 70 then (hash(i, 8) % 5000000)::bigint else 0 end,
    case when h >= 70 then (hash(i, 9) % 50000000)::bigint else 0 end,
    roam,
    case when hash(i, 10) % 100 < 3 then 'FR' else 'GB' end,
    'GBP', null, null, null, 1, i
from (select i, (hash(i, 3) % 100)::int as h, hash(i, 11) % 100 = 0 as roam from range($rows) t(i));
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, n: int, rows: int) -> None:
    with store.writer(path, publish=False) as con:
        con.execute("begin")
        for statement in GENERATE.strip().split(";\n"):
            if statement.strip():
                params = {k: v for k, v in {"n": n, "rows": rows}.items() if f"${k}" in statement}
                con.execute(statement, params or None)
        store.append_records_from(con, "gen_records", load_id=1)
        con.execute("commit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--records", type=int, default=50, help="records per subscriber in the month")
    parser.add_argument("--segments", action="store_true", help="also time the full segment report")
    parser.add_argument("--timezone", default="UTC", help="[source] timezone of local months and times")
    parser.add_argument("--keep", type=Path, help="warehouse file: generated once, reused by later runs")
    args = parser.parse_args()
    n, rows = args.subscribers, args.subscribers * args.records
    month, tz = dt.date(2026, 3, 1), args.timezone
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        if path.exists():
            print(f"reusing {path}")
        else:
            generate_in_child(path, n, rows)
            print(f"generate: {rows:,} records for {n:,} subscribers in {time.perf_counter() - t0:.1f} s")
        run(path, n, rows, month, tz, segments=args.segments, per_subscriber=args.records)


def generate_in_child(path: Path, n: int, rows: int) -> None:
    if True:
        child = multiprocessing.get_context("fork").Process(target=generate, args=(path, n, rows))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"generating the warehouse failed ({child.exitcode})")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(path: Path, n: int, rows: int, month: dt.date, tz: str, *, segments: bool, per_subscriber: int) -> None:
    if True:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with store.reader(path) as con:
            stages = {
                "bandicoot indicators": lambda: bandicoot_indicators(con, month=month, timezone=tz),
                "usage indicators": lambda: usage_indicators(con, month=month, timezone=tz, home_country="GB"),
                "allowance use (own plan)": lambda: allowance_use(con, month, timezone=tz, home_country="GB"),
                "recommendations (4 plans)": lambda: month_recommendations(con, month, timezone=tz, home_country="GB"),
            }
            if segments:
                stages["segment report (all)"] = lambda: segment_report(con, month=month, timezone=tz)
            total = 0.0
            with window.shared():  # as segment_report and the indicators command: facts read once
                for name, fn in stages.items():
                    t, c = time.perf_counter(), cpu_s()
                    fn()
                    s = time.perf_counter() - t
                    total += s if not name.startswith("segment report") else 0
                    print(
                        f"{name}: {s:.2f} s (cpu {cpu_s() - c:.1f} s), {rows / s:,.0f} records/s, "
                        f"peak RSS {peak_mb():,.0f} MB"
                    )
            print(f"load average {os.getloadavg()[0]:.1f}")
            print(
                f"indicators + recommendations: {total:.2f} s for {n:,} subscribers / {rows:,} records "
                f"(extrapolated linearly to 1M subscribers x {per_subscriber}: {total * 1_000_000 / n:,.0f} s)"
            )


if __name__ == "__main__":
    main()
