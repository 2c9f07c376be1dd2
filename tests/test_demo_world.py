"""The demo world's files: seeded determinism, v1 validity, truth consistent with the files."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics.demo import generate, period
from analytics.demo.extracts import BAD_ROWS
from analytics.demo.generate import CELL_EXHAUSTION_AFTER_DAYS
from analytics.ingest.validate import parse_start_time
from analytics.rating import rate_records

END = date(2026, 3, 31)  # Feb-Mar 2026: a month boundary and the spring DST change (29 March)
REQUIRED = [
    "record_id",
    "start_time",
    "msisdn",
    "other_party",
    "service",
    "direction",
    "duration_s",
    "cell_id",
    "charge",
]


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        df = pl.read_parquet(path)
        return df.with_columns([pl.col(c).cast(pl.String) for c in df.columns])
    return pl.read_csv(path, infer_schema=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    t0 = time.perf_counter()
    world = generate(out, subscribers=1500, months=2, seed=11, end_date=END)
    seconds = time.perf_counter() - t0
    frames = {p.name: _read(p) for p in world.extracts}
    rows = pl.concat(
        [f.with_columns(pl.lit(n).alias("_file")).select(sorted(f.columns) + ["_file"]) for n, f in frames.items()],
        how="diagonal",
    )
    return world, frames, rows, seconds


@pytest.mark.slow
def test_small_world_generates_in_seconds(small):
    world, _, _, seconds = small
    assert world.records > 100_000
    assert seconds < 30, f"1,500 x 2 months took {seconds:.1f} s"


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = generate(tmp_path / "a", subscribers=300, months=1, seed=3, end_date=END)
    b = generate(tmp_path / "b", subscribers=300, months=1, seed=3, end_date=END)
    c = generate(tmp_path / "c", subscribers=300, months=1, seed=4, end_date=END)
    assert _digest(a.out_dir) == _digest(b.out_dir)
    assert _digest(a.out_dir)["extracts/cdr_20260310.csv"] != _digest(c.out_dir).get("extracts/cdr_20260310.csv")
    assert a.truth == b.truth and a.truth["seed"] == 3


@pytest.mark.slow
def test_rows_grow_with_subscribers_and_months(tmp_path):
    base = generate(tmp_path / "a", subscribers=300, months=1, end_date=END).records
    more_subs = generate(tmp_path / "b", subscribers=900, months=1, end_date=END).records
    more_months = generate(tmp_path / "c", subscribers=300, months=3, end_date=END).records
    assert 2.2 * base < more_subs < 3.8 * base
    assert 2.2 * base < more_months < 3.8 * base


@pytest.mark.parametrize(
    ("months", "end", "expected"),
    [
        (4, date(2026, 10, 31), (date(2026, 7, 1), date(2026, 10, 31))),
        (1, date(2026, 3, 15), (date(2026, 3, 1), date(2026, 3, 15))),
        (3, date(2026, 2, 28), (date(2025, 12, 1), date(2026, 2, 28))),
    ],
)
def test_period(months, end, expected):
    assert period(months, end) == expected


def test_period_rejects_zero_months():
    with pytest.raises(ValueError, match="months"):
        period(0, END)


@pytest.mark.slow
def test_files_are_one_per_day_in_every_legal_form(small):
    world, frames, _, _ = small
    names = [p.name for p in world.extracts]
    assert len(names) == (END - date(2026, 2, 1)).days + 1
    kinds = Counter(n.split(".", 1)[1] for n in names)
    assert kinds["csv"] > kinds["csv.gz"] > kinds["parquet"] >= 1
    for name, f in frames.items():
        assert set(REQUIRED) <= set(f.columns), name
    assert any("plan_id" not in f.columns for f in frames.values())
    assert any("switch_id" in f.columns for f in frames.values())
    assert any(
        [c for c in f.columns if c != "switch_id"][:3] != ["record_id", "start_time", "msisdn"] for f in frames.values()
    )
    times = pl.concat([f.select("start_time") for f in frames.values()])["start_time"]
    assert times.str.ends_with("Z").any()
    assert times.str.ends_with("+01:00").any() and times.str.ends_with("+00:00").any()
    assert times.str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$").any()


@pytest.mark.slow
def test_good_rows_follow_the_contract(small):
    _, _, rows, _ = small
    good = rows.filter(~pl.col("record_id").str.starts_with("DMBAD"))
    assert good["service"].is_in(["voice", "sms", "mms", "data", "voip", "video"]).all()
    assert good["direction"].is_in(["out", "in"]).all()
    assert good["disposition"].is_in(["answered", "no_answer", "busy", "failed", "dropped"]).all()
    assert good["roaming"].is_in(["true", "false", "1", "0"]).all()
    for col in ("duration_s", "bytes_up", "bytes_down"):
        assert (good[col].cast(pl.Int64) >= 0).all(), col
    assert (good["charge"].cast(pl.Decimal(18, 2)) >= 0).all()
    assert good.select(parse_start_time().is_null().sum()).item() == 0
    unanswered = good.filter(
        pl.col("service").is_in(["voice", "sms", "mms"]) & pl.col("disposition").is_in(["no_answer", "busy", "failed"])
    )
    assert len(unanswered) > 0 and (unanswered["duration_s"] == "0").all()
    assert (good.filter(pl.col("service").is_in(["sms", "mms"]))["duration_s"] == "0").all()
    roaming = good.filter(pl.col("roaming").is_in(["true", "1"]))
    assert len(roaming) > 0 and roaming["cell_id"].is_null().any()
    assert good.filter(pl.col("destination_country").is_not_null() & (pl.col("destination_country") != "GB")).height > 0
    assert good["imsi"].is_not_null().all() and good["imei"].is_not_null().all()


@pytest.mark.slow
def test_reference_files(small):
    world, _, rows, _ = small
    cells = pl.read_csv(world.cells)
    assert cells.columns == ["cell_id", "region", "lat", "lon", "site_id", "technology", "capacity_erlangs"]
    assert cells["region"].n_unique() == 12 and 200 <= len(cells) <= 1000 and cells["cell_id"].is_unique().all()
    assert cells["lat"].is_between(49.9, 58.7).all() and cells["lon"].is_between(-7.6, 1.8).all()
    plans = pl.read_csv(world.plans)
    assert plans.columns[:3] == ["plan_id", "name", "monthly_fee"] and 5 <= len(plans) <= 6
    subs = pl.read_csv(world.subscribers, schema_overrides={"msisdn": pl.String})
    assert subs["msisdn"].is_unique().all() and subs["plan_id"].is_in(plans["plan_id"].to_list()).all()
    good = rows.filter(~pl.col("record_id").str.starts_with("DMBAD"))
    assert set(good["msisdn"].unique().to_list()) <= set(subs["msisdn"].to_list())
    home = good.filter(pl.col("roaming").is_in(["false", "0"]))
    assert set(home["cell_id"].unique().to_list()) <= set(cells["cell_id"].to_list())
    truth = world.truth
    assert set(truth["busy_cells"]) <= set(cells["cell_id"].to_list())
    assert set(truth["wrong_plan"]) <= set(subs["msisdn"].to_list()) and len(truth["wrong_plan"]) > 0


@pytest.mark.slow
def test_truth_matches_files(small):
    world, _, rows, _ = small
    truth = json.loads(world.truth_path.read_text())
    assert truth == world.truth
    assert truth["home_country"] == "GB" and truth["start_date"] == "2026-02-01" and truth["end_date"] == "2026-03-31"
    charges = dict(zip(rows["record_id"], rows["charge"], strict=True))
    seen = Counter(rows["record_id"].to_list())
    classes = Counter(e["class"] for e in truth["billing_errors"])
    assert set(classes) == {
        "over_charged",
        "under_charged",
        "charged_but_free",
        "allowance_not_applied",
        "wrong_rate_class",
        "duplicate_charge",
    }
    assert sum(classes.values()) < 0.002 * truth["records"]
    for e in truth["billing_errors"]:
        assert float(charges[e["record_id"]]) == pytest.approx(e["billed"], abs=1e-9), e
        assert (seen[e["record_id"]] == 2) == (e["class"] == "duplicate_charge"), e
        if e["class"] != "duplicate_charge":
            assert abs(e["billed"] - e["expected"]) > 0.005
    assert truth["duplicate_rows"] == sum(n - 1 for n in seen.values() if n > 1)
    bad = rows.filter(pl.col("record_id").str.starts_with("DMBAD"))
    assert len(bad) == sum(truth["bad_rows"].values()) and set(truth["bad_rows"]) == set(BAD_ROWS)
    assert truth["records"] == len(seen) - len(bad)
    fraud, honest = truth["fraud"], truth["honest"]
    assert all(len(v) >= 2 for v in fraud.values()) and all(len(v) >= 2 for v in honest.values())
    lines = [m for k, v in fraud.items() if k != "wangiri" for m in v] + [m for v in honest.values() for m in v]
    assert len(lines) == len(set(lines)), "actors overlap"
    assert set(fraud["wangiri"]) <= set(rows["other_party"].unique().to_list())
    cells = pl.read_csv(world.cells)
    assert truth["event_spike"]["region"] in cells["region"].to_list() and truth["event_spike"]["factor"] >= 3
    assert len(truth["event_spike"]["dates"]) in (1, 2)


@pytest.mark.slow
def test_quiet_region_has_the_least_traffic(small):
    world, _, rows, _ = small
    cells = pl.read_csv(world.cells).select("cell_id", "region")
    per_region = rows.join(cells, on="cell_id").group_by("region").len().sort("len")
    assert per_region["region"][0] == world.truth["quiet_region"]
    assert per_region["len"][0] < 0.2 * per_region["len"].median()


@pytest.mark.slow
def test_billed_charges_equal_the_rating_engine_except_injected_errors(small):
    world, _, rows, _ = small
    truth = world.truth
    good = (
        rows.filter(~pl.col("record_id").str.starts_with("DMBAD"))
        .unique(subset="record_id", keep="first", maintain_order=True)
        .join(
            pl.read_csv(world.subscribers, schema_overrides={"msisdn": pl.String}).select(
                "msisdn", pl.col("plan_id").alias("_p")
            ),
            on="msisdn",
            how="left",
        )
        .select(
            "record_id",
            parse_start_time().alias("start_at"),
            "msisdn",
            "service",
            "direction",
            pl.col("duration_s").cast(pl.Int64),
            pl.col("disposition").fill_null("answered"),
            pl.col("bytes_up").cast(pl.Int64),
            pl.col("bytes_down").cast(pl.Int64),
            pl.col("roaming").is_in(["true", "1"]).alias("is_roaming"),
            pl.col("destination_country").fill_null("GB"),
            pl.col("_p").alias("plan_id"),
            pl.col("charge").cast(pl.Decimal(18, 4)),
        )
    )
    rated = rate_records(good.lazy(), pl.read_csv(world.plans).lazy(), home_country="GB", timezone="UTC").collect()
    wrong = set(rated.filter(pl.col("charge") != pl.col("expected_charge"))["record_id"].to_list())
    injected = {e["record_id"] for e in truth["billing_errors"] if e["class"] != "duplicate_charge"}
    assert wrong == injected
    expected = dict(zip(rated["record_id"], rated["expected_charge"], strict=True))
    for e in truth["billing_errors"]:
        if e["class"] != "duplicate_charge":
            assert float(expected[e["record_id"]]) == pytest.approx(e["expected"])
    assert (
        rated["rule"]
        .is_in(
            [
                "voice_domestic_allowance",
                "voice_domestic_overage",
                "data_overage",
                "voice_roaming",
                "voice_international",
                "unanswered_free",
            ]
        )
        .sum()
        > 0
    )


def _region_busy_hours(world, rows: pl.DataFrame) -> pl.DataFrame:
    """One row per region per UTC day: the busiest hour's Erlangs (voice, voip, video seconds / 3600)."""
    cells = pl.read_csv(world.cells).select("cell_id", "region")
    return (
        rows.filter(
            ~pl.col("record_id").str.starts_with("DMBAD")
            & pl.col("service").is_in(["voice", "voip", "video"])
            & pl.col("roaming").fill_null("false").is_in(["false", "0"])
        )
        .unique("record_id")
        .join(cells, on="cell_id")
        .with_columns(parse_start_time().alias("at"), pl.col("duration_s").cast(pl.Int64))
        .group_by("region", pl.col("at").dt.truncate("1h").alias("hour"))
        .agg(erl=pl.col("duration_s").sum() / 3600)
        .group_by("region", pl.col("hour").dt.date().alias("day"))
        .agg(bh=pl.col("erl").max())
        .sort("region", "day")
    )


@pytest.mark.slow
def test_growth_region_grows_and_its_cells_are_sized_to_cross_after_the_end(small):
    world, _, rows, _ = small
    growth = world.truth["capacity_growth"]
    region = growth["region"]
    bh = _region_busy_hours(world, rows).filter(
        ~pl.col("day").cast(pl.String).is_in(world.truth["event_spike"]["dates"])
    )
    first, last = bh["day"].min(), bh["day"].max()

    def rise(name: str) -> float:
        part = bh.filter(pl.col("region") == name)
        early = part.filter(pl.col("day") < first + timedelta(days=14))["bh"].mean()
        late = part.filter(pl.col("day") > last - timedelta(days=14))["bh"].mean()
        return late / early

    others = sorted(rise(r) for r in bh["region"].unique().to_list() if r != region)
    # (a region with a SIM box that starts mid-period rises too: compare with the typical one)
    assert rise(region) >= 1.2 and rise(region) > others[len(others) // 2] + 0.1, (rise(region), others)
    # the region's pooled capacity: not reached in the last week; its cells peak at different
    # hours (their shares of the region's busy hour add up to more than 1), so each cell is sized
    # to cross on its own day after the data ends (the outlook's dates: the slow test below)
    cells = pl.read_csv(world.cells).filter(pl.col("region") == region)
    capacity = cells["capacity_erlangs"].sum()
    y = bh.filter(pl.col("region") == region)["bh"].to_numpy()
    assert y[-7:].mean() / capacity < 0.8
    assert growth["pooled_share"] > 1
    assert list(growth["exhaustion_after_days"].values()) == list(CELL_EXHAUSTION_AFTER_DAYS)
    assert list(growth["exhaustion_after_days"]) == growth["cells"]
    assert set(growth["cells"]) <= set(cells["cell_id"].to_list()) and len(growth["cells"]) == 3


@pytest.mark.slow
def test_the_outlook_dates_the_growing_cells_after_the_data_ends(tmp_path, monkeypatch):
    """The demo world loaded and forecast daily (trend-capable candidates, 90-day horizon): the
    growth region's cells reach capacity weeks after the last day, not on the first forecast day."""
    from analytics import store
    from analytics.config import with_options
    from analytics.demo import build, world
    from analytics.forecast import cells, pipeline

    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    built = build(warehouse, tmp_path / "world", subscribers=1500, months=2, seed=11, end_date=END)
    cfg = with_options(
        pipeline.config(),
        {"models_daily": ["seasonal_naive", "sf_theta", "sf_mstl"], "combinations_daily": [], "hierarchy": False},
    )
    monkeypatch.setattr(pipeline, "config", lambda: cfg)
    pipeline.refresh(warehouse, freqs=("daily",), horizon_days=90, totals=False)
    with store.reader(warehouse) as con:
        outlook = cells.cell_outlook(con)
    growth = outlook.filter(pl.col("region") == world.GROWTH_REGION)
    assert growth.height > 0 and growth["data_cutoff"].max() == END
    dated = growth.filter(pl.col("exhaustion_date").is_not_null())
    assert dated.height >= 1, growth.select("cell_id", "utilisation_peak", "days_to_exhaustion")
    assert (dated["exhaustion_date"] > END).all() and (dated["exhaustion_date"] <= END + timedelta(days=90)).all()
    assert dated["days_to_exhaustion"].min() > 7, dated.select("cell_id", "days_to_exhaustion")  # not at once
    truth = json.loads((tmp_path / "world" / "truth.json").read_text())["capacity_growth"]
    assert set(truth["exhaustion_after_days"]) <= set(growth["cell_id"].to_list()), built
