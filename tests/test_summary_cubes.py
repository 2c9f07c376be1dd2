"""Summary totals and cube invariants, checked against totals computed from the extract rows."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import store
from analytics.ingest import ingest_files
from analytics.summary import monthly_summary
from tests.conftest import CELLS_CSV, REPO, record, write_v1

REGION_OF = {line.split(",")[0]: line.split(",")[1] for line in CELLS_CSV.strip().splitlines()[1:]}
SERVICES = ["voice", "sms", "mms", "data", "voip", "video"]


def _random_rows(n: int, seed: int, *, offsets: tuple[str, ...] = ("Z", "+01:00", "-05:00", "")) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        service = rng.choice(SERVICES)
        day = dt.datetime(2026, 3, 30) + dt.timedelta(minutes=rng.randrange(0, 4 * 24 * 60))
        roaming = rng.random() < 0.1
        rows.append(
            record(
                record_id=f"r{seed}-{i}",
                start_time=day.strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(offsets),
                msisdn=f"4477009{rng.randrange(0, 40):05d}",
                service=service,
                direction=rng.choice(["in", "out"]),
                duration_s=rng.randrange(0, 900) if service in ("voice", "voip", "video") else 0,
                cell_id="" if roaming else rng.choice(["N1", "N2", "S1", "E1"]),
                roaming="true" if roaming else "false",
                charge=f"{rng.randrange(0, 500) / 100:.2f}",
                bytes_up=rng.randrange(0, 10**7) if service in ("data", "voip", "video") else 0,
                bytes_down=rng.randrange(0, 10**8) if service in ("data", "voip", "video") else 0,
            )
        )
    return rows


def _expected(rows: list[dict], month: str, zone: str) -> dict:
    """Summary totals computed straight from the extract rows, in Python."""
    tz = ZoneInfo(zone)
    out = {"records": 0, "subs": set(), "revenue": Decimal(0), "voice_s": 0, "sms": 0, "bytes": 0, "by_region": {}}
    for r in rows:
        text = r["start_time"].replace("Z", "+00:00")
        t = dt.datetime.fromisoformat(text)
        if t.tzinfo is None:
            t = t.replace(tzinfo=tz)
        if t.astimezone(tz).strftime("%Y-%m") != month:
            continue
        region = "ROAMING" if r["roaming"] == "true" else REGION_OF[r["cell_id"]]
        out["records"] += 1
        out["subs"].add(r["msisdn"])
        out["revenue"] += Decimal(r["charge"])
        out["voice_s"] += int(r["duration_s"]) if r["service"] == "voice" else 0
        out["sms"] += r["service"] in ("sms", "mms")
        out["bytes"] += int(r["bytes_up"]) + int(r["bytes_down"]) if r["service"] in ("data", "voip", "video") else 0
        reg = out["by_region"].setdefault(region, {"records": 0, "revenue": Decimal(0), "subs": set()})
        reg["records"] += 1
        reg["revenue"] += Decimal(r["charge"])
        reg["subs"].add(r["msisdn"])
    return out


def _summary(warehouse: Path, month: str) -> dict:
    with store.reader(warehouse) as con:
        return monthly_summary(con, month)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York"])
def test_summary_equals_totals_from_the_rows_across_a_month_boundary(tmp_path, refs, warehouse, zone):
    rows = _random_rows(600, seed=3)
    # pinned rows either side of midnight 31 March -> 1 April seen through +01:00
    rows += [
        record(record_id="edge1", start_time="2026-03-31T23:30:00+01:00", cell_id="N1", charge="1.11"),
        record(record_id="edge2", start_time="2026-04-01 00:30:00+01:00", cell_id="S1", charge="2.22"),
    ]
    for r in rows:
        r.setdefault("roaming", "false")
        r.setdefault("bytes_up", "0")
        r.setdefault("bytes_down", "0")
    path = write_v1(tmp_path / "x.csv", rows)
    ingest_files([path], warehouse=warehouse, cells=refs["cells"], timezone=zone)
    for month in ("2026-03", "2026-04"):
        exp = _expected(rows, month, zone)
        got = _summary(warehouse, month)
        assert got["records"] == exp["records"]
        assert got["subscribers"] == len(exp["subs"])
        assert abs(Decimal(str(got["revenue"])) - exp["revenue"]) < Decimal("0.005")
        assert got["voice_minutes"] == pytest.approx(exp["voice_s"] / 60)
        assert got["sms"] == exp["sms"]
        assert got["data_gb"] == pytest.approx(exp["bytes"] / 1e9)
        by_region = {r["region"]: r for r in got["by_region"]}
        for region, e in exp["by_region"].items():
            assert by_region[region]["records"] == e["records"]
            assert by_region[region]["subscribers"] == len(e["subs"])
            assert abs(Decimal(str(by_region[region]["revenue"])) - e["revenue"]) < Decimal("0.005")
        # a region with no traffic is listed with zeros
        assert by_region["Quiet"]["records"] == 0


def test_edge_of_month_follows_the_configured_zone(tmp_path, refs, warehouse):
    rows = [
        record(record_id="late", start_time="2026-03-31T23:30:00+01:00"),  # 22:30Z
        record(record_id="early", start_time="2026-04-01T00:30:00+01:00"),
    ]  # 23:30Z on 31 March
    ingest_files([write_v1(tmp_path / "x.csv", rows)], warehouse=warehouse, cells=refs["cells"], timezone="UTC")
    assert _summary(warehouse, "2026-03")["records"] == 2
    # in a zone that is at +01:00 that night (West Africa Time), the rows fall either side
    lagos = tmp_path / "lagos.duckdb"
    ingest_files([write_v1(tmp_path / "y.csv", rows)], warehouse=lagos, cells=refs["cells"], timezone="Africa/Lagos")
    assert (_summary(lagos, "2026-03")["records"], _summary(lagos, "2026-04")["records"]) == (1, 1)
    # Paris is already on summer time (+02:00) on 1 April: both rows are April there
    paris = tmp_path / "paris.duckdb"
    ingest_files([write_v1(tmp_path / "z.csv", rows)], warehouse=paris, cells=refs["cells"], timezone="Europe/Paris")
    assert (_summary(paris, "2026-03")["records"], _summary(paris, "2026-04")["records"]) == (0, 2)


def _cube_vs_records(con: duckdb.DuckDBPyConnection, zone: str = "UTC") -> None:
    hourly = con.execute(
        "select coalesce(sum(records), 0), coalesce(sum(duration_s), 0), coalesce(sum(bytes_up + bytes_down), 0), "
        "coalesce(sum(charge), 0) from usage_hourly_cell"
    ).fetchone()
    raw = con.execute(
        "select count(*), coalesce(sum(duration_s), 0), coalesce(sum(bytes_up + bytes_down), 0), coalesce(sum(charge), 0) "
        "from records"
    ).fetchone()
    assert hourly == raw
    daily = con.execute("select coalesce(sum(records), 0), coalesce(sum(charge), 0) from usage_daily_region").fetchone()
    assert daily == (raw[0], raw[3])
    # distinct subscribers per region-month equal the exact count from the records
    diff = con.execute(
        """
        select count(*) from usage_monthly_region m
        full join (
            select date_trunc('month', timezone(?, timezone('UTC', start_at)))::date as month_date, region,
                   count(distinct msisdn) as n
            from records group by all
        ) r using (month_date, region)
        where m.subscribers is distinct from r.n
        """,
        [zone],
    ).fetchone()[0]
    assert diff == 0
    assert (
        con.execute("select count(*) from usage_hourly_cell where records <= 0 or subscribers <= 0").fetchone()[0] == 0
    )
    assert con.execute("select count(*) from records where region is null").fetchone()[0] == 0


CUBES = ("usage_hourly_cell", "usage_daily_region", "usage_monthly_region", "subscriber_month")


def _assert_same_cubes(a: duckdb.DuckDBPyConnection, b: duckdb.DuckDBPyConnection) -> None:
    """Every cube holds the same rows in both warehouses."""
    for cube in CUBES:
        assert (
            a.execute(f"select * from {cube} order by all").fetchall()
            == b.execute(f"select * from {cube} order by all").fetchall()
        ), cube


@pytest.mark.parametrize("zone", ["UTC", "Europe/London"])
def test_incremental_cubes_equal_a_full_rebuild(tmp_path, refs, zone):
    """One load (cubes from the new rows) equals three interleaved loads (recomputed from
    the warehouse where hours and days overlap), also across the DST change of 29 March."""
    rows = _random_rows(900, seed=11, offsets=("Z",))
    rows += [record(record_id=f"dst{i}", start_time=f"2026-03-29T0{i}:30:00Z", cell_id="N1") for i in range(4)]
    for r in rows:
        r.setdefault("roaming", "false")
    one_go = tmp_path / "one.duckdb"
    ingest_files([write_v1(tmp_path / "all.csv", rows)], warehouse=one_go, cells=refs["cells"], timezone=zone)
    parts = tmp_path / "parts.duckdb"
    files = [write_v1(tmp_path / f"part{i}.csv", rows[i::3]) for i in range(3)]
    ingest_files(files, warehouse=parts, cells=refs["cells"], timezone=zone)
    with store.reader(one_go) as a, store.reader(parts) as b:
        _assert_same_cubes(a, b)
        _cube_vs_records(b, zone)


@pytest.mark.slow
@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_month_merge_with_and_without_a_helper_equals_one_load(tmp_path, refs, zone):
    """Daily-style loads merge their month rows instead of rescanning the month. The loads
    below reach each path: a bulk load of 30 March (fresh); 2-3 April (April's helper built
    from its records); 31 March - 1 April (March built, April merged in one load); and a
    late file into days that already have data (both months merged). Every cube equals one
    load of all rows, and the helper equals its definition over the records."""
    rows = _random_rows(1200, seed=5, offsets=("Z",))
    for r in rows:
        r.setdefault("roaming", "false")

    def day_of(r: dict) -> str:
        return r["start_time"][:10]

    late = rows[::10]
    rest = [r for i, r in enumerate(rows) if i % 10]
    parts = [
        [r for r in rest if day_of(r) == "2026-03-30"],
        [r for r in rest if day_of(r) >= "2026-04-02"],
        [r for r in rest if "2026-03-31" <= day_of(r) <= "2026-04-01"],
        late,
    ]
    assert all(parts) and sum(map(len, parts)) == len(rows)
    one_go = tmp_path / "one.duckdb"
    ingest_files([write_v1(tmp_path / "all.csv", rows)], warehouse=one_go, cells=refs["cells"], timezone=zone)
    daily = tmp_path / "daily.duckdb"
    files = [write_v1(tmp_path / f"d{i}.csv", part) for i, part in enumerate(parts)]
    out = ingest_files(files, warehouse=daily, cells=refs["cells"], timezone=zone)
    assert out["rows_loaded"] == len(rows)
    with store.reader(one_go) as a, store.reader(daily) as b:
        _assert_same_cubes(a, b)
        helper = b.execute("select * from month_subscriber_regions order by all").fetchall()
        truth = b.execute(
            """
            select date_trunc('month', timezone(?, timezone('UTC', start_at)))::date, msisdn, region, count(*)
            from records group by all order by all
            """,
            [zone],
        ).fetchall()
        assert helper == truth
        # the bulk load alone needs no helper
        assert a.execute("select count(*) from month_subscriber_regions").fetchall() == [(0,)]
        _cube_vs_records(b, zone)


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(0, 120), split=st.integers(1, 4))
def test_cube_invariants_hold_for_any_split_of_loads(tmp_path_factory, seed, n, split):
    d = tmp_path_factory.mktemp("inv")
    (d / "cells.csv").write_text(CELLS_CSV)
    rows = _random_rows(n, seed=seed, offsets=("Z", "+01:00"))
    for r in rows:
        r.setdefault("roaming", "false")
    files = [write_v1(d / f"p{i}.csv", rows[i::split]) for i in range(split)]
    wh = d / "w.duckdb"
    out = ingest_files(files, warehouse=wh, cells=d / "cells.csv")
    assert out["rows_read"] == out["rows_loaded"] + out["rows_duplicate"] + out["rows_rejected"] == n
    with store.reader(wh) as con:
        _cube_vs_records(con)


@pytest.mark.slow
def test_summary_cli_json(tmp_path, refs, warehouse):
    ingest_files(
        [write_v1(tmp_path / "x.csv", [record(record_id="a", charge="1.25")])], warehouse=warehouse, cells=refs["cells"]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "analytics", "summary", "--month", "2026-03", "--warehouse", str(warehouse), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"month", "records", "subscribers", "revenue", "voice_minutes", "sms", "data_gb", "by_region"} <= out.keys()
    assert (out["month"], out["records"], out["revenue"]) == ("2026-03", 1, 1.25)
    assert {"region", "records", "revenue"} <= out["by_region"][0].keys()
    empty = subprocess.run(
        [sys.executable, "-m", "analytics", "summary", "--month", "2025-01", "--warehouse", str(warehouse), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(empty.stdout)["records"] == 0
    missing = subprocess.run(
        [sys.executable, "-m", "analytics", "summary", "--warehouse", str(tmp_path / "none.duckdb"), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and missing.stdout == ""
    assert len(missing.stderr.strip().splitlines()) == 1


def test_empty_warehouse_summary_keeps_its_shape(tmp_path, refs, warehouse):
    ingest_files([], warehouse=warehouse, cells=refs["cells"])
    got = _summary(warehouse, "2026-03")
    assert got["records"] == 0 and got["subscribers"] == 0
    assert sorted(r["region"] for r in got["by_region"]) == ["East", "North", "Quiet", "South"]
    assert pl.DataFrame(got["by_region"])["records"].sum() == 0
