"""The demo world end to end: :func:`generate` writes it, :func:`build` also loads it.

Files under ``out_dir``: ``extracts/cdr_YYYYMMDD.*`` (one per UTC day), ``cells.csv``,
``plans.csv``, ``subscribers.csv`` and ``truth.json`` (what was injected; format in
docs/demo.md). Same seed and sizes -> byte-identical files.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.config import settings
from analytics.demo import anomalies, charges, extracts, movement, traffic, world

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
BUSY_CELLS = 3  # cells sized to run at ~80 % of capacity in their average busy hour
# Days after the data end at which the growth region's cells reach the utilisation threshold, by
# the generator's own growth (world.REGIONS) from the busy hour's level at the end times its weekly
# peak: the three cells with the largest share of the region's busy hour first, in turn, then the
# others. The outlook then has future dates to show (3 weeks to 3 months ahead), never day 0.
CELL_EXHAUSTION_AFTER_DAYS = (21, 45, 75)
OTHER_CELLS_EXHAUSTION_AFTER_DAYS = 120
UTILISATION_THRESHOLD = 0.8  # [forecast] utilisation_threshold's default


@dataclass(frozen=True)
class World:
    out_dir: Path
    extracts: list[Path]
    cells: Path
    plans: Path
    subscribers: Path
    truth_path: Path
    truth: dict[str, Any] = field(repr=False)
    records: int = 0

    def summary(self) -> dict[str, Any]:
        """What the ``demo`` command reports of the written world."""
        return {
            "out_dir": str(self.out_dir),
            "files": len(self.extracts),
            "records_generated": self.records,
            "subscribers": self.truth["subscribers"],
            "start_date": self.truth["start_date"],
            "end_date": self.truth["end_date"],
            "truth": str(self.truth_path),
        }


def period(months: int, end_date: date | None) -> tuple[date, date]:
    """(first day, last day): ``months`` calendar months ending at ``end_date``
    (default: the last day of the previous month, UTC)."""
    if months < 1:
        raise ValueError("months must be >= 1")
    end = end_date or datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
    y, m = end.year, end.month - (months - 1)
    while m < 1:
        y, m = y - 1, m + 12
    return date(y, m, 1), end


def _capacity(
    rng: np.random.Generator, records: pl.DataFrame, cells: pl.DataFrame, skip_days: list[date]
) -> tuple[pl.DataFrame, list[str], dict[str, Any]]:
    """``capacity_erlangs`` per cell from its mean daily busy hour (voice, voip, video).

    The growth region's cells are sized instead from its projected busy hour
    (:func:`_growth_capacity`); returns (cells, the busy cells, the growth region's truth).
    """
    hourly = (
        records.lazy()
        .filter(
            pl.col("service").is_in(["voice", "voip", "video"])
            & ~pl.col("is_roaming")
            & ~pl.col("start_at").dt.date().is_in(skip_days)
        )
        .group_by(pl.col("cell_id").cast(pl.String), pl.col("start_at").dt.truncate("1h").alias("hour"))
        .agg((pl.col("duration_s").sum() / 3600).alias("erl"))
        .collect()
    )
    busy = (
        hourly.group_by("cell_id", pl.col("hour").dt.date())
        .agg(pl.col("erl").max())
        .group_by("cell_id")
        .agg(pl.col("erl").mean().alias("bh"))
    )
    out = cells.join(busy, on="cell_id", how="left").with_columns(pl.col("bh").fill_null(0.0)).sort("cell_id")
    bh = out["bh"].to_numpy()
    factor = rng.uniform(2.5, 5.0, len(out))
    growing = (out["region"] == world.GROWTH_REGION).to_numpy()
    top = [i for i in np.argsort(-bh, kind="stable") if not growing[i]][:BUSY_CELLS]
    factor[top] = rng.uniform(1.15, 1.3, len(top))
    capacity = np.maximum(np.round(bh * factor, 2), 0.05)
    sized, growth = _growth_capacity(hourly, out.select("cell_id", "region"), world.GROWTH_REGION)
    if sized:
        capacity = np.where(growing, out["cell_id"].replace_strict(sized, default=0.05).to_numpy(), capacity)
    return (
        out.with_columns(capacity_erlangs=pl.Series(capacity)).select(
            "cell_id", "region", "lat", "lon", "site_id", "technology", "capacity_erlangs"
        ),
        out["cell_id"].gather(top).to_list(),
        growth,
    )


def _growth_capacity(
    hourly: pl.DataFrame, region_of: pl.DataFrame, region: str
) -> tuple[dict[str, float], dict[str, Any]]:
    """Capacity of the growth region's cells: each cell reaches the utilisation threshold a set
    number of days after the data ends (``CELL_EXHAUSTION_AFTER_DAYS``, the cells with the largest
    share of the region's busy hour first; the others after ``OTHER_CELLS_EXHAUSTION_AFTER_DAYS``).

    A cell's projected busy hour = the region's busy-hour level at the end (its linear trend line)
    x the weekly peak day's mean ratio to that line x the generator's own growth from the end to
    that day (``traffic``: rates grow linearly, ``world.REGIONS`` voice growth per 120 days) x the
    cell's mean share of the region's busy hour over the last 28 days (as the capacity outlook
    splits the region's forecast). The region pools its cells' capacity; its cells peak at
    different hours (their shares add up to well over 1), so the pooled region crosses much later
    than its cells (``truth.capacity_growth.pooled_share``).
    """
    load = hourly.join(region_of, on="cell_id").filter(pl.col("region") == region)
    if load.is_empty():
        return {}, {}
    day = pl.col("hour").dt.date().alias("day")
    region_bh = load.group_by("hour").agg(pl.col("erl").sum()).group_by(day).agg(region_bh=pl.col("erl").max())
    cell_bh = load.group_by("cell_id", day).agg(cell_bh=pl.col("erl").max())
    region_bh = region_bh.sort("day")
    t = (region_bh["day"] - region_bh["day"].min()).dt.total_days().to_numpy().astype(float)
    y = region_bh["region_bh"].to_numpy()
    slope, intercept = np.polyfit(t, y, 1)
    last = region_bh["day"].max()
    weekday = region_bh["day"].dt.weekday().to_numpy()
    over_trend = y / np.maximum(intercept + slope * t, 1e-9)
    peak = max(float(over_trend[weekday == k].mean()) for k in np.unique(weekday))  # the weekly peak day
    end_t = float((last - region_bh["day"].min()).days)
    level = max(float(intercept + slope * end_t), float(np.mean(y[-14:])) / peak)  # the trend line's end
    growth = next(r[6] for r in world.REGIONS if r[0] == region)  # voice growth per 120 days (traffic)

    def projected(days: int) -> float:
        return level * peak * (1 + growth * (end_t + days) / 120) / (1 + growth * end_t / 120)

    shares = (
        cell_bh.join(region_bh, on="day")
        .filter(pl.col("day") > last - timedelta(days=28))
        .group_by("cell_id")
        .agg(ratio=(pl.col("cell_bh") / pl.col("region_bh")).mean())
        .sort(["ratio", "cell_id"], descending=[True, False])  # a seeded world is byte-identical: no hash order
    )
    after = {
        c: CELL_EXHAUSTION_AFTER_DAYS[i] if i < len(CELL_EXHAUSTION_AFTER_DAYS) else OTHER_CELLS_EXHAUSTION_AFTER_DAYS
        for i, c in enumerate(shares["cell_id"].to_list())
    }
    sized = {c: max(0.001, round(r * projected(after[c]) / UTILISATION_THRESHOLD, 3)) for c, r in shares.iter_rows()}
    truth = {
        "region": region,
        "busy_hour_trend_per_day": round(float(slope), 4),
        "busy_hour_first_week": round(float(y[:7].mean()), 2),
        "busy_hour_last_week": round(float(y[-7:].mean()), 2),
        "capacity_erlangs": round(sum(sized.values()), 3),
        "exhaustion_after_days": {c: after[c] for c in shares["cell_id"].to_list()[: len(CELL_EXHAUSTION_AFTER_DAYS)]},
        "pooled_share": round(float(shares["ratio"].sum()), 2),
        "cells": shares["cell_id"].to_list()[:BUSY_CELLS],
    }
    return sized, truth


def _event_factor(records: pl.DataFrame, region_of: pl.DataFrame, region: str, dates: list[str]) -> float:
    daily = (
        records.lazy()
        .with_columns(pl.col("cell_id").cast(pl.String))
        .join(region_of.lazy(), on="cell_id", how="inner")
        .filter(pl.col("region") == region)
        .group_by(pl.col("start_at").dt.date().alias("d"))
        .len()
        .collect()
    )
    ev = [date.fromisoformat(x) for x in dates]
    spike = daily.filter(pl.col("d").is_in(ev))["len"].mean()
    normal = daily.filter(~pl.col("d").is_in(ev))["len"].median()
    return round(float(spike) / float(normal), 1) if spike and normal else 0.0


def generate(
    out_dir: Path,
    *,
    subscribers: int,
    months: int,
    seed: int = 7,
    end_date: date | None = None,
    on_progress: Progress | None = None,
) -> World:
    """Generate the seeded world into ``out_dir`` (see module docstring); returns its paths and truth."""
    say = on_progress or (lambda f, m: None)
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    start, end = period(months, end_date)
    rng = np.random.default_rng(seed)
    cal = traffic.Calendar.of(start, (end - start).days + 1)
    say(0.02, "building regions, cells and subscribers")
    cells = world.build_cells(rng)
    subs = world.build_subscribers(rng, cells, n=subscribers, start=start, days=cal.days)
    event = movement.pick_event(rng, cal)
    sit = movement.situation(rng, subs, cal, event)
    say(0.1, f"generating traffic of {subscribers:,} subscribers over {cal.days} days")
    base = traffic.records(rng, subs, cells, cal, sit)
    say(0.45, "injecting fraud actors and look-alikes")
    records, new_subs, actors = anomalies.inject(rng, subs, cells, cal, sit, base, event_region=event.region)
    del base, sit
    lo, hi = datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day) + timedelta(days=1)
    records = (
        records.filter((pl.col("start_at") >= lo) & (pl.col("start_at") < hi))
        .sort("start_at", maintain_order=True)  # stable: ties keep the (seeded) generation order
        .with_row_index("_i")
        .with_columns(record_id=pl.concat_str(pl.lit("DM"), pl.col("_i").cast(pl.String).str.zfill(10)))
        .drop("_i")
    )
    say(0.55, f"rating {len(records):,} records")
    plans = world.plans_frame()
    rated = charges.rate(records, plans, timezone=settings().timezone)
    billed, errors, dup_charge, plain_dups = charges.inject(rng, rated, plans)
    del rated
    records = records.with_columns(
        charge_p=pl.Series(billed), _day=(pl.col("start_at").dt.date() - pl.lit(start)).dt.total_days().cast(pl.Int32)
    )
    cells_out, busy_cells, growth = _capacity(rng, records, cells, [date.fromisoformat(x) for x in event.dates(start)])

    say(0.7, "writing extract files")
    ref = out_dir
    ref.mkdir(parents=True, exist_ok=True)
    cells_out.write_csv(ref / "cells.csv")
    plans.write_csv(ref / "plans.csv")
    subs_out = pl.concat([subs.select("msisdn", "plan_id", "activation_date"), new_subs]).sort("msisdn")
    subs_out.write_csv(ref / "subscribers.csv")
    days = [(start + timedelta(days=i)).isoformat() for i in range(cal.days)]
    dup_rows = np.sort(np.concatenate([dup_charge, plain_dups]))
    paths, bad_counts, dup_count = extracts.write_files(
        rng,
        records,
        out_dir / "extracts",
        dup_rows=dup_rows,
        days=days,
        on_file=lambda i, n: say(0.7 + 0.28 * i / n, f"writing extract files ({i}/{n})"),
    )
    truth = {
        "seed": seed,
        "subscribers": len(subs_out),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "home_country": world.HOME_COUNTRY,
        "currency": world.CURRENCY,
        "records": len(records),
        "billing_errors": errors,
        "fraud": actors["fraud"],
        "honest": actors["honest"],
        "bill_shock": actors["bill_shock"],
        "event_spike": {
            "region": event.region,
            "dates": event.dates(start),
            "factor": _event_factor(records, cells.select("cell_id", "region"), event.region, event.dates(start)),
        },
        "quiet_region": world.QUIET_REGION,
        "bad_rows": bad_counts,
        "duplicate_rows": dup_count,
        "wrong_plan": sorted(subs.filter(pl.col("wrong_plan"))["msisdn"].to_list()),
        "busy_cells": sorted(busy_cells),
        "capacity_growth": growth,
    }
    truth_path = out_dir / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    say(1.0, f"demo world written: {len(records):,} records in {len(paths)} files")
    log.info("demo world: %d records, %d files in %.1f s", len(records), len(paths), time.perf_counter() - t0)
    return World(
        out_dir, paths, ref / "cells.csv", ref / "plans.csv", ref / "subscribers.csv", truth_path, truth, len(records)
    )


def build(
    warehouse: Path,
    out_dir: Path,
    *,
    subscribers: int,
    months: int,
    seed: int = 7,
    end_date: date | None = None,
    on_progress: Progress | None = None,
    marts: bool = False,
) -> dict[str, Any]:
    """Generate the world, then load it with :func:`analytics.ingest.ingest_files`.

    With ``marts`` also rate every month and run fraud detection, so the dashboard's first
    views read stored results (the app's first start and the CLI). Forecasts take minutes
    (every series is backtested); they run from the Forecasts page or ``forecast``.
    """
    say = on_progress or (lambda f, m: None)
    t0 = time.perf_counter()
    w = generate(
        out_dir,
        subscribers=subscribers,
        months=months,
        seed=seed,
        end_date=end_date,
        on_progress=lambda f, m: say((0.4 if marts else 0.5) * f, m),
    )
    t1 = time.perf_counter()
    from analytics.pipeline import load_and_refresh, refresh_after

    result = load_and_refresh(
        w.extracts,
        marts=False,
        warehouse=warehouse,
        cells=w.cells,
        plans=w.plans,
        subscribers=w.subscribers,
        home_country=world.HOME_COUNTRY,
        on_progress=lambda f, m: say(0.4 + 0.45 * f, m) if marts else say(0.5 + 0.5 * f, m),
    ).ingest
    t2 = time.perf_counter()
    marts_out = None
    if marts:
        say(0.86, "rating every month and running fraud detection")
        marts_out = refresh_after([], warehouse=warehouse)
    say(1.0, "demo world loaded")
    return {
        **w.summary(),
        "generate_s": round(t1 - t0, 2),
        "load_s": round(t2 - t1, 2),
        "marts_s": round(time.perf_counter() - t2, 2),
        "marts": marts_out,
        "ingest": result,
    }
