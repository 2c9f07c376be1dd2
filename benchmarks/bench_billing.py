"""Benchmark: reconcile one month of N records (the bar: 10 million in under 30 s).

    /tmp/venv/bin/python benchmarks/bench_billing.py --records 200000   # small, shared machine
    /tmp/venv/bin/python benchmarks/bench_billing.py --records 10000000 # full size (lead)

Builds a synthetic warehouse (records inserted directly, 1 % of charges wrong) in a child
process, so the peak memory printed (resource.getrusage) is the measured stages' own. Times:
rating the month (fetch + rate), reconciling it read-only (rate + compare, `reconcile
--no-store`), reconciling it as `python -m analytics reconcile` does (rate, store the
rating, compare), and reconciling from the stored rating. Prints rows/s, seconds, peak memory
and the load average (the machine is shared: figures taken above a load of ~2 are pessimistic).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import store  # noqa: E402
from analytics.billing.rated import rate_month  # noqa: E402
from analytics.billing.reconcile import reconcile  # noqa: E402
from analytics.rating import rate_records  # noqa: E402

MONTH = dt.date(2026, 3, 1)
PLANS = pl.DataFrame(
    {
        "plan_id": ["S", "M", "L"],
        "name": ["Small", "Medium", "Large"],
        "monthly_fee": [5.0, 15.0, 30.0],
        "incl_voice_min": [100, 500, 3000],
        "incl_sms": [100, 500, 3000],
        "incl_data_mb": [1000, 10000, 50000],
        "voice_per_min": [0.10, 0.08, 0.05],
        "sms_each": [0.05, 0.04, 0.02],
        "data_per_mb": [0.01, 0.008, 0.005],
        "intl_voice_per_min": [1.0, 0.9, 0.8],
        "roaming_voice_per_min": [1.5, 1.4, 1.2],
        "roaming_data_per_mb": [0.5, 0.4, 0.3],
    }
)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(path: Path, n: int, subscribers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    services = np.array(["voice", "sms", "data", "mms", "voip", "video"])
    svc = services[rng.choice(6, n, p=[0.45, 0.25, 0.22, 0.02, 0.03, 0.03])]
    secs = rng.integers(0, 31 * 86400, n)
    is_voice = svc == "voice"
    is_data = np.isin(svc, ["data", "voip", "video"])
    records = pl.DataFrame(
        {
            "record_id": [f"R{i:09d}" for i in range(n)]
            if n <= 2_000_000
            else pl.int_range(n, eager=True).cast(pl.String),
            "start_at": pl.Series(
                np.datetime64("2026-03-01T00:00:00") + (secs * 1_000_000).astype("timedelta64[us]")
            ).cast(pl.Datetime("us")),
            "msisdn": (447700000000 + rng.integers(0, subscribers, n)).astype(str),
            "other_party": "447800000000",
            "service": svc,
            "direction": np.where(rng.random(n) < 0.6, "out", "in"),
            "duration_s": np.where(is_voice, rng.integers(0, 900, n), 0).astype(np.int32),
            "cell_id": "C1",
            "region": np.array(["North", "South", "East", "ROAMING"])[rng.choice(4, n, p=[0.4, 0.35, 0.22, 0.03])],
            "disposition": np.where(rng.random(n) < 0.9, "answered", "no_answer"),
            "bytes_up": np.where(is_data, rng.integers(0, 3_000_000, n), 0),
            "bytes_down": np.where(is_data, rng.integers(0, 30_000_000, n), 0),
            "destination_country": np.where(rng.random(n) < 0.05, "FR", "GB"),
            "currency": "GBP",
            "plan_id": None,
            "imsi": None,
            "imei": None,
            "load_id": 1,
            "source_line": 1,
        }
    ).with_columns(
        (pl.col("region") == "ROAMING").alias("is_roaming"),
        pl.col("plan_id").cast(pl.String),
        pl.col("imsi").cast(pl.String),
        pl.col("imei").cast(pl.String),
    )
    subs = pl.DataFrame(
        {
            "msisdn": (447700000000 + np.arange(subscribers)).astype(str),
            "plan_id": np.array(["S", "M", "L"])[rng.choice(3, subscribers)],
            "activation_date": None,
        }
    ).with_columns(pl.col("activation_date").cast(pl.Date))
    # billed = expected, except 1 % of records billed 0.10 too much (a realistic mismatch rate)
    rated = (
        rate_records(
            records.lazy()
            .join(subs.lazy().select("msisdn", pl.col("plan_id").alias("_sp")), on="msisdn", how="left")
            .with_columns(pl.col("_sp").alias("plan_id"))
            .drop("_sp"),
            PLANS.lazy(),
            home_country="GB",
        )
        .select("record_id", "expected_charge")
        .collect()
    )
    wrong = pl.Series(rng.random(n) < 0.01)
    records = (
        records.join(rated, on="record_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(wrong)
            .then(pl.col("expected_charge") + pl.lit(0.10).cast(pl.Decimal(18, 4)))
            .otherwise(pl.col("expected_charge"))
            .cast(pl.Decimal(18, 4))
            .alias("charge")
        )
        .drop("expected_charge")
    )
    with store.writer(path, publish=False) as con:
        con.execute("begin")
        cols = [r[0] for r in con.execute("describe records").fetchall()]
        store.append_records(con, records.select(cols), load_id=1)
        con.register("_p", PLANS)
        con.execute("insert into plans select * from _p")
        con.register("_s", subs)
        con.execute("insert into subscribers select * from _s")
        con.execute("commit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--subscribers", type=int, default=None, help="default: records / 300")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    n = args.records
    subscribers = args.subscribers or max(n // 300, 10)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        t = time.perf_counter()
        child = multiprocessing.get_context("fork").Process(target=build, args=(path, n, subscribers, args.seed))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"building the warehouse failed ({child.exitcode})")
        print(f"build warehouse: {n:,} records, {subscribers:,} subscribers in {time.perf_counter() - t:.1f}s")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with store.reader(path) as con:
            t = time.perf_counter()
            rated = rate_month(con, MONTH)
            t_rate = time.perf_counter() - t
            print(f"rate month (fetch + rate): {t_rate:.2f}s, {n / t_rate:,.0f} rows/s, peak {peak_mb():,.0f} MB")
            assert rated.height == n
            del rated
            t = time.perf_counter()
            summary, _ = reconcile(con, MONTH)
            t_rec = time.perf_counter() - t
            print(
                f"reconcile month read-only (rate + compare): {t_rec:.2f}s, {n / t_rec:,.0f} rows/s, "
                f"{summary['mismatches']:,} mismatches of {summary['records_checked']:,}, peak {peak_mb():,.0f} MB"
            )
        with store.writer(path, publish=False) as con:
            t = time.perf_counter()
            reconcile(con, MONTH, refresh=True)
            t_cmd = time.perf_counter() - t
        print(
            f"reconcile month as the command does (rate, store, compare): {t_cmd:.2f}s, {n / t_cmd:,.0f} rows/s, "
            f"peak {peak_mb():,.0f} MB"
        )
        with store.reader(path) as con:
            t = time.perf_counter()
            reconcile(con, MONTH)
            t_stored = time.perf_counter() - t
        print(
            f"reconcile month from stored rating: {t_stored:.2f}s, {n / t_stored:,.0f} rows/s, peak {peak_mb():,.0f} MB"
        )
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
