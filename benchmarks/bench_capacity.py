"""Benchmark: the per-cell capacity outlook (issue 22: 600 cells in < 60 s).

    python benchmarks/bench_capacity.py --cells 600 --regions 12 [--horizon-days 28] [--hourly]

Builds a warehouse in a temp folder: the cell reference (lat/lon, capacity_erlangs), the
hourly cube of the last ``--history-days`` days (voice and data per cell per hour: a daily
profile, a per-cell level and trend, noise), one day per region in the daily cube (for the
data cut-off) and stored region forecasts (daily ``busy_hour_erlangs`` and ``data_gb`` over
the horizon; with ``--hourly`` also 7 days of hourly ``erlangs``), as a forecast run would
leave them. Models are not fitted: ``bench_forecast.py`` times those. Then times what a run
does after fitting (``pipeline.store_capacity``: busy hours, cell split, Erlang B, channels
needed, data volume, write) and the page's read (``cells.cell_outlook`` + the ranking), and
prints the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import lake, store  # noqa: E402
from analytics.config import settings  # noqa: E402
from analytics.forecast import cells, persist, pipeline  # noqa: E402

END = dt.datetime(2026, 10, 31, 23)  # the last UTC hour of the data


def _insert(con, table: str, frame: pl.DataFrame) -> None:
    con.register("bench_rows", frame)
    con.execute(f"insert into {table} by name select * from bench_rows")  # table: a literal of this script
    con.unregister("bench_rows")


def build(
    path: Path, *, n_cells: int, regions: int, history_days: int, horizon_days: int, hourly: bool, seed: int
) -> int:
    """The warehouse described above; returns the hourly cube's rows."""
    rng = np.random.default_rng(seed)
    region = np.arange(n_cells) % regions
    cell_ids = [f"C{i:05d}" for i in range(n_cells)]
    level = rng.lognormal(0.0, 0.5, n_cells)  # busy-hour Erlangs of a cell
    trend = rng.normal(0.002, 0.004, n_cells)  # per day
    ref = pl.DataFrame(
        {
            "cell_id": cell_ids,
            "region": [f"R{r:02d}" for r in region],
            "lat": 50 + region * 0.6 + rng.normal(0, 0.15, n_cells),
            "lon": -4 + region * 0.4 + rng.normal(0, 0.2, n_cells),
            "site_id": [f"S{i // 3:05d}" for i in range(n_cells)],
            "technology": "4G",
            "capacity_erlangs": level * rng.uniform(1.1, 3.0, n_cells),
        }
    )
    hours = np.array([END - dt.timedelta(hours=h) for h in range(history_days * 24)][::-1], dtype="datetime64[us]")
    t_day = (hours - hours[0]).astype("timedelta64[h]").astype(float) / 24
    profile = 0.15 + 0.85 * np.sin(np.pi * ((hours.astype("datetime64[h]").astype(int) % 24 - 6).clip(0, 16)) / 16) ** 2
    erl = (
        level[:, None]
        * (1 + trend[:, None] * t_day[None, :])
        * profile[None, :]
        * rng.gamma(20, 1 / 20, (n_cells, len(hours)))
    )
    gb = 0.05 * erl * rng.gamma(10, 1 / 10, erl.shape)
    n = n_cells * len(hours)
    base = {
        "hour_at": np.tile(hours, n_cells),
        "region": np.repeat(ref["region"].to_numpy(), len(hours)),
        "cell_id": np.repeat(np.array(cell_ids), len(hours)),
        "direction": "out",
        "records": 1,
        "subscribers": 1,
        "charge": 0.0,
        "answered": 0,
        "no_answer": 0,
        "busy": 0,
        "failed": 0,
        "dropped": 0,
    }
    voice = pl.DataFrame(
        {
            **base,
            "service": "voice",
            "duration_s": (erl.ravel() * 3600).astype(np.int64),
            "bytes_up": np.zeros(n, np.int64),
            "bytes_down": np.zeros(n, np.int64),
        }
    )
    data = pl.DataFrame(
        {
            **base,
            "service": "data",
            "duration_s": np.zeros(n, np.int64),
            "bytes_up": (gb.ravel() * 1e8).astype(np.int64),
            "bytes_down": (gb.ravel() * 9e8).astype(np.int64),
        }
    )
    region_bh = pl.DataFrame({"region": ref["region"], "bh": level}).group_by("region").agg(pl.col("bh").sum() * 0.9)
    days = [END.replace(hour=0) + dt.timedelta(days=d + 1) for d in range(horizon_days)]
    values = []
    for r, bh in region_bh.iter_rows():
        growth = [1 + 0.003 * d for d in range(horizon_days)]
        for metric, scale in (("busy_hour_erlangs", bh), ("data_gb", bh * 0.05 * 10)):
            y = [scale * g for g in growth]
            values.append(
                pl.DataFrame(
                    {
                        "freq": "daily",
                        "unique_id": f"{r}/{metric}",
                        "region": r,
                        "metric": metric,
                        "ds": days,
                        "model": "bench",
                        "yhat": y,
                        "yhat_lower": y,
                        "yhat_upper": y,
                        "yhat_lower_95": y,
                        "yhat_upper_95": y,
                    }
                )
            )
        if hourly:
            hs = [END + dt.timedelta(hours=h + 1) for h in range(7 * 24)]
            y = [bh * (0.15 + 0.85 * np.sin(np.pi * min(max(x.hour - 6, 0), 16) / 16) ** 2) for x in hs]
            values.append(
                pl.DataFrame(
                    {
                        "freq": "hourly",
                        "unique_id": f"{r}/erlangs",
                        "region": r,
                        "metric": "erlangs",
                        "ds": hs,
                        "model": "bench",
                        "yhat": y,
                        "yhat_lower": y,
                        "yhat_upper": y,
                        "yhat_lower_95": y,
                        "yhat_upper_95": y,
                    }
                )
            )
    with store.writer(path) as con:
        persist.ensure_forecast_schema(con)
        _insert(con, "cells", ref)
        hourly = pl.concat([voice, data])  # the hourly cube is lake files (analytics/lake.py)
        tz, enc = settings().timezone, store.encrypted()
        lake.write_records(con, path, hourly, load_id=0, timezone=tz, encrypted=enc, table="usage_hourly_cell")
        lake.refresh_view(con, path, encrypted=enc, table="usage_hourly_cell")
        _insert(
            con,
            "usage_daily_region",
            region_bh.select(
                "region",
                day_date=pl.lit(END.date()),
                service=pl.lit("voice"),
                records=1,
                subscribers=1,
                duration_s=0,
                bytes_up=0,
                bytes_down=0,
                charge=0.0,
            ),
        )
        _insert(con, "forecast_values", pl.concat(values))
    return 2 * n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=600)
    ap.add_argument("--regions", type=int, default=12)
    ap.add_argument("--history-days", type=int, default=28, help="hourly cube kept (the cell split reads 28 days)")
    ap.add_argument("--horizon-days", type=int, default=28)
    ap.add_argument("--hourly", action="store_true", help="also store 7 days of hourly region forecasts")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        rows = build(
            path,
            n_cells=args.cells,
            regions=args.regions,
            history_days=args.history_days,
            horizon_days=args.horizon_days,
            hourly=args.hourly,
            seed=args.seed,
        )
        print(
            f"warehouse: {args.cells} cells in {args.regions} regions, {rows:,} hourly cube rows, "
            f"{args.horizon_days}-day horizon{' + hourly' if args.hourly else ''}: built in {time.perf_counter() - t0:.1f} s"
        )
        with store.writer(path) as con:
            t0 = time.perf_counter()
            n = pipeline.store_capacity(con)
            outlook_s = time.perf_counter() - t0
            days = store.scalar(con, "select count(*) from capacity_daily")
        with store.reader(path) as con:
            t0 = time.perf_counter()
            per_cell = cells.cell_outlook(con)
            act = cells.rank_cells_to_act(per_cell)
            read_s = time.perf_counter() - t0
    print(
        f"per-cell outlook (store_capacity): {outlook_s:.2f} s for {n} rows ({per_cell.height} cells), "
        f"{days:,} cell/region-days"
    )
    print(f"page read (cell outlook + ranking): {read_s:.3f} s; cells to act on: {act.height}")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
