"""Live KPI definitions and bands on hand-made fixtures loaded through the real ingest."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import polars as pl
import pytest

from analytics import store
from analytics.ingest import ingest_files
from analytics.live.kpis import live_kpis

T = dt.datetime(2026, 3, 10, 12, 0, 0)  # a Tuesday
COLS = [
    "record_id",
    "start_time",
    "msisdn",
    "other_party",
    "service",
    "direction",
    "duration_s",
    "cell_id",
    "charge",
    "disposition",
    "bytes_up",
    "bytes_down",
]


def write_cells(path: Path) -> Path:
    pl.DataFrame(
        {"cell_id": ["a1", "a2", "b1"], "region": ["A", "A", "B"], "lat": [51.0, 51.1, 52.0], "lon": [0.0, 0.1, 1.0]}
    ).write_csv(path)
    return path


def row(
    rid: str,
    at: dt.datetime | str,
    service: str = "voice",
    direction: str = "out",
    *,
    dur: int = 0,
    cell: str = "a1",
    disp: str = "answered",
    msisdn: str = "447700000001",
    up: int = 0,
    down: int = 0,
) -> dict:
    start = at if isinstance(at, str) else at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dict(
        zip(
            COLS,
            [rid, start, msisdn, "447711111111", service, direction, str(dur), cell, "0", disp, str(up), str(down)],
            strict=True,
        )
    )


def load(tmp_path: Path, rows: list[dict], name: str = "x.csv") -> Path:
    wh = tmp_path / "wh.duckdb"
    f = tmp_path / name
    pl.DataFrame(rows, schema={c: pl.String for c in COLS}).write_csv(f)
    out = ingest_files([f], warehouse=wh, cells=write_cells(tmp_path / "cells.csv"))
    assert out["rows_rejected"] == 0, out
    return wh


def kpis(wh: Path, **kw) -> pl.DataFrame:
    with store.reader(wh) as con:
        return live_kpis(con, **kw)


def value(df: pl.DataFrame, window: str, region: str | None, kpi: str, level: str = "region") -> float | None:
    sel = df.filter((pl.col("window_name") == window) & (pl.col("level") == level) & (pl.col("kpi") == kpi))
    sel = sel.filter(pl.col("region").is_null() if region is None else pl.col("region") == region)
    assert sel.height == 1, sel
    return sel["value"][0]


def test_kpi_definitions_by_hand(tmp_path: Path) -> None:
    m = dt.timedelta(minutes=1)
    rows = [
        row("v1", T, dur=60),
        row("v2", T - m, dur=120, msisdn="447700000002"),
        row("v3", T - 2 * m, dur=30, disp="dropped"),
        row("v4", T - 3 * m, disp="no_answer", cell="a2"),
        row("v5", T - 4 * m, disp="busy"),
        row("v6", T - 5 * m, disp="failed"),
        row("vin", T - 6 * m, direction="in", dur=500),  # incoming: not an attempt
        row("s1", T - 7 * m, "sms"),
        row("s2", T - 8 * m, "mms", "in", msisdn="447700000003"),
        row("d1", T - 9 * m, "data", up=500_000, down=1_000_000),
        row("d2", T - 10 * m, "video", down=500_000),
        row("edge", T - 15 * m, dur=999),  # exactly 15 min before: outside (T-15m, T], inside 1 h
        row("b1", "2026-03-10 12:30:00+01:00", cell="b1", msisdn="447700000009"),  # 11:30 UTC: region B, 1 h only
    ]
    df = kpis(load(tmp_path, rows))
    assert df["as_of_at"][0] == T
    # region A, last 15 minutes: 6 attempts, 3 connected (answered x2 + dropped), 1 failed
    assert value(df, "15m", "A", "call_attempts") == 6
    assert value(df, "15m", "A", "asr") == pytest.approx(3 / 6)
    assert value(df, "15m", "A", "ner") == pytest.approx(5 / 6)
    assert value(df, "15m", "A", "acd_s") == pytest.approx((60 + 120 + 30) / 3)
    assert value(df, "15m", "A", "dropped_call_rate") == pytest.approx(1 / 3)
    assert value(df, "15m", "A", "sms") == 2
    assert value(df, "15m", "A", "data_mb") == pytest.approx(2.0)
    assert value(df, "15m", "A", "active_subscribers") == 3
    # the edge record and region B's record (given in +01:00) enter the 1 h window only
    assert value(df, "1h", "A", "call_attempts") == 7
    assert value(df, "1h", "A", "acd_s") == pytest.approx((60 + 120 + 30 + 999) / 4)
    assert value(df, "1h", "B", "call_attempts") == 1
    # region B had no traffic in the last 15 minutes: zeros, and undefined ratios
    assert value(df, "15m", "B", "call_attempts") == 0
    assert value(df, "15m", "B", "asr") is None
    b_asr = df.filter((pl.col("window_name") == "15m") & (pl.col("region") == "B") & (pl.col("kpi") == "asr"))
    assert b_asr["status"][0] == "no_data"
    # the network level is the sum over regions
    assert value(df, "1h", None, "call_attempts", level="network") == 8
    # no history loaded: no band
    assert set(df["status"].unique()) <= {"no_band", "no_data", "low_volume"}


def test_band_is_median_and_mad_of_same_window_on_previous_weeks(tmp_path: Path) -> None:
    week = dt.timedelta(weeks=1)
    counts = {1: 10, 2: 12, 3: 14, 4: 30, 0: 40}  # attempts in the 15 min ending at T - k weeks
    rows = []
    for k, n in counts.items():
        for i in range(n):
            rows.append(row(f"w{k}-{i}", T - k * week - dt.timedelta(seconds=10 * i)))
    rows.append(row("early", T - 5 * week))  # the data start before the oldest window: 4 weeks usable
    df = kpis(load(tmp_path, rows))
    sel = df.filter((pl.col("window_name") == "15m") & (pl.col("region") == "A") & (pl.col("kpi") == "call_attempts"))
    hist = [10, 12, 14, 30]
    med = sorted(hist)[1] / 2 + sorted(hist)[2] / 2
    mad = sorted(abs(h - med) for h in hist)[1] / 2 + sorted(abs(h - med) for h in hist)[2] / 2
    half = max(3 * 1.4826 * mad, 0.2 * med, 3 * math.sqrt(max(med, 5)))
    assert sel["history_weeks"][0] == 4
    assert sel["expected"][0] == pytest.approx(med)
    assert sel["band_lower"][0] == pytest.approx(med - half)
    assert sel["band_upper"][0] == pytest.approx(med + half)
    assert sel["status"][0] == "high"


def test_weeks_never_loaded_are_not_history(tmp_path: Path) -> None:
    week = dt.timedelta(weeks=1)
    rows = [row(f"w{k}-{i}", T - k * week - dt.timedelta(seconds=30 * i)) for k in (0, 1) for i in range(12)]
    df = kpis(load(tmp_path, rows))
    sel = df.filter((pl.col("window_name") == "15m") & (pl.col("region") == "A") & (pl.col("kpi") == "call_attempts"))
    # only week 1 exists (weeks 2-4 predate the data): fewer than min_history_weeks -> no band
    assert sel["status"][0] == "no_band"
    assert sel["expected"][0] is None


def test_empty_warehouse_keeps_schema(tmp_path: Path) -> None:
    wh = tmp_path / "wh.duckdb"
    with store.writer(wh):
        pass
    df = kpis(wh)
    assert df.is_empty()
    assert {"window_name", "region", "kpi", "value", "band_lower", "band_upper", "status"} <= set(df.columns)


def test_forecast_band_when_an_hourly_forecast_covers_the_window(tmp_path: Path) -> None:
    from analytics.forecast.persist import ensure_forecast_schema

    rows = [row(f"s{i}", T - dt.timedelta(minutes=2 * i), "sms") for i in range(20)]  # 8 in the last 15 min
    wh = load(tmp_path, rows)
    with store.writer(wh) as con:
        ensure_forecast_schema(con)
        for metric, yhat, lo, hi in (("sms", 40.0, 30.0, 50.0), ("data_gb", 0.002, 0.001, 0.003)):
            for hour in (dt.datetime(2026, 3, 10, 11), dt.datetime(2026, 3, 10, 12)):
                con.execute(
                    "insert into forecast_values values ('hourly', ?, 'A', ?, ?, 'm', ?, ?, ?, ?, ?)",
                    [f"A/{metric}", metric, hour, yhat, lo, hi, lo, hi],
                )
    df = kpis(wh)

    def band(window: str, kpi: str) -> dict:
        sel = df.filter((pl.col("window_name") == window) & (pl.col("level") == "region") & (pl.col("region") == "A"))
        return sel.filter(pl.col("kpi") == kpi).row(0, named=True)

    # 1 h window (11:00, 12:00]: exactly the 11:00 hour
    h = band("1h", "sms")
    assert (h["band_source"], h["expected"], h["band_upper"]) == ("forecast", 40.0, max(50.0, 40 + 3 * math.sqrt(40)))
    assert h["band_lower"] == pytest.approx(min(30.0, 40 - 3 * math.sqrt(40)))
    assert band("1h", "data_mb")["expected"] == pytest.approx(2.0)  # GB -> MB
    # 15 min: a quarter of the 11:00 hour, widened to the Poisson floor
    q = band("15m", "sms")
    assert q["expected"] == pytest.approx(10.0)
    assert q["band_upper"] == pytest.approx(10 + 3 * math.sqrt(10))
    assert q["value"] == 8 and q["status"] == "ok"
    # the day window is not covered by the forecast: no band (no history either)
    assert band("1d", "sms")["band_source"] is None and band("1d", "sms")["status"] == "no_band"


def test_history_weeks_follow_the_local_clock_across_dst(tmp_path: Path) -> None:
    from analytics.live.kpis import window_aggregates

    now = dt.datetime(2026, 4, 1, 12, 0)  # 13:00 BST; a week before, 13:00 local was 13:00 UTC (GMT)
    rows = [
        row("now", now),
        row("same-local-hour", dt.datetime(2026, 3, 25, 12, 50)),  # in (12:45, 13:00] UTC
        row("same-local-hour-2", dt.datetime(2026, 3, 25, 12, 55)),
        row("same-utc-hour", dt.datetime(2026, 3, 25, 11, 50)),  # where a UTC week would look
        row("start", dt.datetime(2026, 3, 1)),
    ]
    wh = load(tmp_path, rows)
    with store.reader(wh) as con:
        london = window_aggregates(con, as_of=now, windows={"15m": 900}, weeks=1, timezone="Europe/London")
        utc = window_aggregates(con, as_of=now, windows={"15m": 900}, weeks=1, timezone="UTC")

    def week1(df: pl.DataFrame) -> int:
        sel = df.filter((pl.col("level") == "network") & (pl.col("week_offset") == 1))
        return sel["records"].item()

    assert week1(london) == 2  # the two records at 12:50 and 12:55 UTC (13:xx local a week ago)
    assert week1(utc) == 1  # a UTC week would have compared with 11:45-12:00 UTC instead


def test_window_across_a_month_boundary_in_a_non_utc_zone(tmp_path: Path) -> None:
    # newest record 2026-04-01 00:20 at +02:00 = 2026-03-31 22:20 UTC; the 1 h window
    # (21:20, 22:20] UTC spans both local months; "old" sits exactly on the open bound
    rows = [
        row("mar", "2026-03-31T23:50:00+02:00"),
        row("apr", "2026-04-01T00:20:00+02:00"),
        row("old", "2026-03-31T23:20:00+02:00"),
    ]
    df = kpis(load(tmp_path, rows))
    assert df["as_of_at"][0] == dt.datetime(2026, 3, 31, 22, 20)
    assert value(df, "1h", "A", "call_attempts") == 2  # "mar" and "apr"; "old" is at 21:20 exactly
    assert value(df, "15m", "A", "call_attempts") == 1


@pytest.mark.slow
def test_levels_add_up_and_ratios_stay_in_range(tmp_path: Path) -> None:
    import numpy as np

    from analytics.live.feeder import generate, synthetic_profile

    cells = pl.read_csv(write_cells(tmp_path / "cells.csv"))
    frame = generate(
        synthetic_profile(cells),
        pl.Series([f"4477000000{i:02d}" for i in range(40)]),
        start=dt.datetime(2026, 3, 10, 11),
        seconds=3600.0,
        rng=np.random.default_rng(3),
        scale=20,
    )
    frame.write_csv(tmp_path / "gen.csv")
    ingest_files([tmp_path / "gen.csv"], warehouse=tmp_path / "wh.duckdb", cells=tmp_path / "cells.csv")
    df = kpis(tmp_path / "wh.duckdb", levels=("network", "region", "cell"))
    additive = df.filter(pl.col("kpi").is_in(["call_attempts", "sms", "data_mb"]))
    sums = (
        additive.group_by("window_name", "kpi", "level")
        .agg(pl.col("value").sum())
        .pivot(on="level", index=["window_name", "kpi"], values="value")
    )
    assert sums.height == 9
    for r in sums.iter_rows(named=True):
        assert r["network"] == pytest.approx(r["region"]) == pytest.approx(r["cell"]), r
    ratios = df.filter(pl.col("kpi").is_in(["asr", "ner", "dropped_call_rate"]) & pl.col("value").is_not_null())
    assert ratios.height > 0 and ratios["value"].is_between(0, 1).all()
    assert (df.filter(pl.col("value").is_not_null())["value"] >= 0).all()
    # distinct subscribers are not additive, but no region has more than the network
    subs = df.filter(pl.col("kpi") == "active_subscribers")
    net = subs.filter(pl.col("level") == "network").select("window_name", pl.col("value").alias("net"))
    assert subs.join(net, on="window_name").filter(pl.col("value") > pl.col("net")).is_empty()
