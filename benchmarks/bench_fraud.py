"""Benchmark: all fraud detectors over N synthetic records.

    python benchmarks/bench_fraud.py --records 200000          # small, for shared machines
    python benchmarks/bench_fraud.py --records 10000000        # the bar: all detectors < 60 s

Records are generated inside DuckDB (one row per record, ~300 records per subscriber over
90 days, 200 cells, a few international and roaming records) straight into the
``records`` table of a fresh warehouse; then each detector is timed on its own, and the
full ``run_detection`` (detect + persist) once. Prints rows/s, seconds per detector and
peak memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import store  # noqa: E402
from analytics.fraud import engine  # noqa: E402

GENERATE = """
insert into cells
select 'C' || i, 'R' || (i % 8), 50.0 + (i % 20) * 0.4, -4.0 + (i // 20) * 0.5, null, '4G', 30
from range(200) t(i);

create temp table gen_records as select * from records_schema limit 0;
insert into gen_records
with g as (
    select i, hash(i) as h, hash(i * 7 + 3) as h2
    from range($n) t(i)
)
select
    'R' || i,
    timestamp '2026-01-01' + to_seconds((h % (90 * 86400))::bigint),
    '4477' || lpad(((h2 % $subs))::varchar, 8, '0'),
    case when h % 50 = 0 then '+2250' || (h2 % 100000) else '4478' || lpad((h % 900000)::varchar, 8, '0') end,
    case when h % 10 < 5 then 'voice' when h % 10 < 7 then 'sms' else 'data' end,
    case when h % 3 = 0 then 'in' else 'out' end,
    case when h % 10 < 5 then (h2 % 600)::integer else 0 end,
    'C' || (2 * ((h2 % $subs) % 100) + (h % 2)),
    case when h % 97 = 0 then 'ROAMING' else 'R' || ((2 * ((h2 % $subs) % 100)) % 8) end,
    0,
    case when h % 9 = 0 then 'no_answer' else 'answered' end,
    case when h % 10 >= 7 then (h2 % 50000000)::bigint else 0 end,
    case when h % 10 >= 7 then (h % 200000000)::bigint else 0 end,
    h % 97 = 0,
    case when h % 40 = 0 then (['CU', 'FR', 'US', 'SO'])[1 + (h2 % 4)::integer] else 'GB' end,
    'GBP', null, null,
    case when h % 500 = 0 then '35' || (h2 % 1000) else '35' || (h2 % $subs) end,
    1, i
from g
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--per-subscriber", type=int, default=300)
    ap.add_argument("--warehouse", type=Path, default=None, help="keep the generated warehouse here")
    args = ap.parse_args()
    n = args.records
    subs = max(1, n // args.per_subscriber)
    folder = Path(tempfile.mkdtemp(prefix="bench_fraud_"))
    path = args.warehouse or folder / "bench.duckdb"

    t0 = time.perf_counter()
    with store.writer(path, publish=False) as con:
        con.execute(store.sql("fraud_schema"))
        con.execute(GENERATE.replace("$n", str(n)).replace("$subs", str(subs)))
        store.append_records_from(con, "gen_records", load_id=1)
    gen_s = time.perf_counter() - t0
    print(f"generated {n:,} records, {subs:,} subscribers in {gen_s:.1f} s")

    total = 0.0
    with store.reader(path) as con:
        for name in engine.DETECTORS:
            t = time.perf_counter()
            found = engine.detect(con, types=[name])
            s = time.perf_counter() - t
            total += s
            print(f"{name:12s} {s:7.2f} s  {n / s:12,.0f} rows/s  {found.height:6d} alerts")
    print(f"{'all (sum)':12s} {total:7.2f} s  {n / total:12,.0f} rows/s")
    t = time.perf_counter()
    merged = engine.run_detection(path)
    s = time.perf_counter() - t
    print(f"run_detection (detect + persist, one pass) {s:.2f} s, {merged.height} alerts")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
