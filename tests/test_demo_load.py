"""The demo world loaded through the real ingest, and its anomalies as other modules see them."""

from __future__ import annotations

import json
import math
import sys
from datetime import date

import polars as pl
import pytest

from analytics import store
from analytics.cli import main
from analytics.demo import build, generate
from analytics.ingest.validate import parse_start_time

END = date(2026, 10, 31)  # October 2026: the autumn DST change (25 October)


def _located(world) -> pl.DataFrame:
    cells = pl.read_csv(world.cells).select("cell_id", "lat", "lon")
    frames = []
    for p in world.extracts:
        f = pl.read_parquet(p) if p.suffix == ".parquet" else pl.read_csv(p, infer_schema=False)
        frames.append(
            f.select(pl.col(c).cast(pl.String) for c in ("record_id", "start_time", "msisdn", "cell_id", "roaming"))
        )
    rows = pl.concat(frames).filter(~pl.col("record_id").str.starts_with("DMBAD")).unique("record_id")
    return (
        rows.filter(pl.col("roaming").is_in(["false", "0"]))
        .join(cells, on="cell_id")
        .with_columns(parse_start_time().alias("at"))
        .sort("msisdn", "at", "record_id")
    )


def test_honest_lines_never_travel_impossibly(tmp_path):
    """Consecutive located records of any line but a SIM clone: never >= 50 km at > 300 km/h."""
    world = generate(tmp_path, subscribers=800, months=1, seed=5, end_date=END)
    hops = (
        _located(world)
        .with_columns(
            prev_lat=pl.col("lat").shift().over("msisdn"),
            prev_lon=pl.col("lon").shift().over("msisdn"),
            hours=((pl.col("at") - pl.col("at").shift().over("msisdn")).dt.total_seconds() / 3600).clip(
                lower_bound=1 / 60
            ),
        )
        .drop_nulls("prev_lat")
    )
    rad = math.pi / 180
    km = hops.select(
        "msisdn",
        "hours",
        km=2
        * 6371
        * (
            (
                ((pl.col("lat") - pl.col("prev_lat")) * rad / 2).sin() ** 2
                + (pl.col("lat") * rad).cos()
                * (pl.col("prev_lat") * rad).cos()
                * (((pl.col("lon") - pl.col("prev_lon")) * rad / 2).sin() ** 2)
            )
            .sqrt()
            .arcsin()
        ),
    )
    fast = km.filter((pl.col("km") >= 50) & (pl.col("km") / pl.col("hours") > 300))
    clones = set(world.truth["fraud"]["sim_clone"])
    assert set(fast["msisdn"].unique().to_list()) == clones
    assert (km["km"] > 100).any(), "lines do travel (day visits, the event)"


def test_live_without_feeder_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "analytics.live.feeder", None)
    code = main(["demo", "--live", str(tmp_path / "landing"), "--warehouse", str(tmp_path / "w.duckdb")])
    assert code == 2
    assert "analytics.live.feeder" in capsys.readouterr().err


def test_cli_no_load_writes_files_and_json(tmp_path, capsys):
    code = main(
        [
            "demo",
            "--subscribers",
            "200",
            "--months",
            "1",
            "--seed",
            "9",
            "--out",
            str(tmp_path / "demo"),
            "--no-load",
            "--json",
            "--warehouse",
            str(tmp_path / "w.duckdb"),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["loaded"] is False and out["files"] >= 28 and out["records_generated"] > 0
    assert (tmp_path / "demo" / "truth.json").exists() and not (tmp_path / "w.duckdb").exists()


def test_cli_rejects_tiny_worlds(tmp_path, capsys):
    assert main(["demo", "--subscribers", "3", "--no-load", "--out", str(tmp_path)]) == 2
    assert "--subscribers" in capsys.readouterr().err


@pytest.mark.slow
def test_build_loads_exactly_what_truth_says_and_the_marts_find_it(tmp_path, capsys):
    steps: list[float] = []
    wh = tmp_path / "w.duckdb"
    result = build(
        wh, tmp_path / "demo", subscribers=800, months=1, seed=5, end_date=END, on_progress=lambda f, m: steps.append(f)
    )
    truth = json.loads((tmp_path / "demo" / "truth.json").read_text())
    ing = result["ingest"]
    assert steps == sorted(steps) and steps[-1] == 1.0
    assert ing["rows_loaded"] == truth["records"] == result["records_generated"]
    assert ing["rows_duplicate"] == truth["duplicate_rows"]
    assert ing["rejects_by_reason"] == truth["bad_rows"]
    assert ing["rows_read"] == ing["rows_loaded"] + ing["rows_duplicate"] + ing["rows_rejected"]
    with store.reader(wh) as con:
        by_region = dict(store.fetch(con, "select region, count(*) as n from records group by region").iter_rows())
        ev = truth["event_spike"]
        daily = store.fetch(
            con, "select start_at::date as d, count(*) as n from records where region = ? group by 1", [ev["region"]]
        )
    assert "ROAMING" in by_region and len(by_region) == 13
    assert min(by_region, key=by_region.get) == truth["quiet_region"]
    spike = daily.filter(pl.col("d").cast(pl.String).is_in(ev["dates"]))["n"].mean()
    assert spike > 3 * daily.filter(~pl.col("d").cast(pl.String).is_in(ev["dates"]))["n"].median()

    capsys.readouterr()
    assert main(["reconcile", "--month", "2026-10", "--warehouse", str(wh), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert set(rec["mismatch_record_ids"]) == {e["record_id"] for e in truth["billing_errors"]}
    assert main(["fraud", "--warehouse", str(wh), "--json"]) == 0
    found: dict[str, set[str]] = {}
    for alert in json.loads(capsys.readouterr().out)["alerts"]:
        found.setdefault(alert["type"], set()).add(alert["msisdn"])
    actors = {m for v in truth["fraud"].values() for m in v}
    honest = {m for v in truth["honest"].values() for m in v}
    for kind, lines in truth["fraud"].items():
        assert set(lines) <= found.get(kind, set()), kind
    flagged = set().union(*found.values()) if found else set()
    assert flagged <= actors and not flagged & honest


@pytest.mark.slow
def test_bill_shock_lines_get_a_spend_spike_and_no_fraud_alert(tmp_path):
    from analytics.billing.shock import bill_shock
    from analytics.fraud import detect

    wh = tmp_path / "w.duckdb"
    build(wh, tmp_path / "demo", subscribers=300, months=2, seed=11, end_date=date(2026, 3, 31), marts=True)
    truth = json.loads((tmp_path / "demo" / "truth.json").read_text())
    assert len(truth["bill_shock"]) == 2
    with store.reader(wh) as con:
        shock = bill_shock(con, date(2026, 3, 1))
        fraud = detect(con)
    spikes = shock.filter((pl.col("alert") == "spend_spike") & pl.col("msisdn").is_in(truth["bill_shock"]))
    assert sorted(spikes["msisdn"].to_list()) == truth["bill_shock"]
    assert (spikes["mtd_spend"].cast(pl.Float64) > 100).all()  # four days of roaming data and calls
    assert set(fraud["msisdn"].to_list()).isdisjoint(truth["bill_shock"])
