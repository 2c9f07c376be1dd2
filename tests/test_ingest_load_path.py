"""The one-machine load path: one read of the file, duplicates decided per batch of good
rows, lake files written by Polars, and the cubes of a fresh load computed in Polars from
the rows in memory (analytics/ingest/cube_frames.py), identical to the SQL path."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest

from analytics import lake, store
from analytics.config import settings
from analytics.ingest import cubes, ingest_files, load
from tests.conftest import record, write_v1

CUBES = ("usage_hourly_cell", "usage_daily_region", "usage_monthly_region", "subscriber_month")


def _q(warehouse, sql: str, params=None) -> list[tuple]:
    with store.reader(warehouse) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.mark.parametrize("file_rows", [1, 2, 3, 4, 1000])
def test_duplicates_across_batches_keep_the_first_good_row(tmp_path, refs, warehouse, monkeypatch, file_rows):
    """Whatever the batch size, an id stored by an earlier load is a duplicate, and an id
    first seen in this file keeps its first good line, also when the repeat lies in a
    later batch; a rejected line does not count as a first sighting."""
    import analytics.ingest as ingest_pkg

    monkeypatch.setattr(ingest_pkg, "CHUNK_ROWS", 2)
    monkeypatch.setattr(load, "FILE_ROWS", file_rows)
    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="old")])], warehouse=warehouse, cells=refs["cells"])
    rows = [
        record(record_id="n1", charge="1.00"),
        record(record_id="old"),
        record(record_id="n2"),
        record(record_id="n3"),
        record(record_id="n1", charge="2.00"),
        record(record_id="old"),
        record(record_id="n1", duration_s="-5"),
        record(record_id="n2", charge="3.00"),
        record(record_id="n4", duration_s="-1"),
        record(record_id="n4", charge="4.00"),
        record(record_id="n4", charge="5.00"),
    ]
    out = ingest_files([write_v1(tmp_path / "b.csv", rows)], warehouse=warehouse)
    f = out["files"][0]
    assert (f["rows_read"], f["rows_loaded"], f["rows_duplicate"], f["rows_rejected"]) == (11, 4, 5, 2)
    assert _q(warehouse, "select record_id, charge::double, source_line from records where load_id = 3 order by 1") == [
        ("n1", 1.0, 2),
        ("n2", 0.0, 4),
        ("n3", 0.0, 5),
        ("n4", 4.0, 11),
    ]
    assert _q(warehouse, "select record_id, source_line from duplicates order by source_line") == [
        ("old", 3),
        ("n1", 6),
        ("old", 7),
        ("n2", 9),
        ("n4", 12),
    ]
    assert _q(warehouse, "select sum(records) from usage_hourly_cell") == [(5,)]


def _rows(n: int, seed: int) -> list[dict]:
    """Random records over a month boundary and the DST change of 29 March, with roaming
    rows without a cell and calls abroad."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        service = rng.choice(["voice", "sms", "mms", "data", "voip", "video"])
        at = dt.datetime(2026, 3, 28, 20) + dt.timedelta(minutes=rng.randrange(0, 6 * 24 * 60))
        roaming = rng.random() < 0.1
        out.append(
            record(
                record_id=f"r{i}",
                start_time=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                msisdn=f"4477009{rng.randrange(0, 30):05d}",
                service=service,
                direction=rng.choice(["in", "out"]),
                duration_s=str(rng.randrange(0, 900)) if service in ("voice", "voip", "video") else "0",
                cell_id="" if roaming else rng.choice(["N1", "N2", "S1", "E1"]),
                roaming="true" if roaming else "false",
                charge=f"{rng.randrange(0, 500) / 100:.2f}",
                destination_country=rng.choice(["", "FR", "GB"]),
                disposition=rng.choice(["answered", "no_answer", "busy", "failed", "dropped"]),
                bytes_up=str(rng.randrange(0, 10**7)) if service in ("data", "voip", "video") else "0",
                bytes_down=str(rng.randrange(0, 10**8)) if service in ("data", "voip", "video") else "0",
            )
        )
    return out


def _cubes(warehouse) -> dict[str, list[tuple]]:
    with store.reader(warehouse) as con:
        return {c: con.execute(f"select * from {c} order by all").fetchall() for c in CUBES}


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "Asia/Kathmandu", "America/St_Johns"])
def test_cubes_from_rows_in_memory_equal_the_sql_path(tmp_path, refs, zone):
    """A fresh load's cubes (Polars, from the rows in memory) hold exactly the rows the SQL
    refresh over the stored records gives for the same load (a quarter-hour zone, a
    half-hour one and a DST change included)."""
    rows = _rows(1500, seed=3)
    path = write_v1(tmp_path / "x.csv", rows)
    polars_path, sql_path = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    for wh in (polars_path, sql_path):
        out = ingest_files([path], warehouse=wh, cells=refs["cells"], timezone=zone)
        assert out["rows_loaded"] == len(rows)
    # the same load's cubes refreshed again by the SQL path (no rows in memory): every
    # touched key is recomputed from the stored records
    with store.writer(sql_path) as con:
        lo, hi = con.execute("select min(start_at), max(start_at) from records").fetchone()
        home = settings().home_country
        assert cubes.is_fresh(con, load_id=2, lo=lo, hi=hi)
        con.execute("begin")
        try:
            cubes.refresh_cubes(con, load_id=2, lo=lo, hi=hi, timezone=zone, home_country=home)
            con.execute("commit")
        finally:
            cubes.drop_scratch(con)
    got, want = _cubes(polars_path), _cubes(sql_path)
    for cube in CUBES:
        assert got[cube] == want[cube], cube
    assert len(want["usage_hourly_cell"]) > 100 and len(want["subscriber_month"]) >= 30


def test_lake_files_written_by_polars_read_as_the_schema_and_sorted(tmp_path, refs, warehouse):
    """Records and hourly-cube files written by Polars carry the tables' DuckDB types, are
    sorted by the tables' order, and their lake_files bounds are the rows' own."""
    ingest_files([write_v1(tmp_path / "x.csv", _rows(400, seed=9))], warehouse=warehouse, cells=refs["cells"])
    with store.reader(warehouse) as con:
        for table in ("records", "usage_hourly_cell"):
            schema = lake.columns(con, table)
            paths = [lake.table_dir(warehouse, table) / p for p in lake.files(con, table=table)]
            assert paths
            for path in paths:
                got = duckdb.sql(f"describe select * from read_parquet('{path}', hive_partitioning = false)").fetchall()
                assert [(r[0], r[1]) for r in got] == schema, path
                order = lake.TABLES[table].order
                unsorted = duckdb.sql(
                    f"select count(*) from (select *, lag(({order})) over () as prev, ({order}) as cur "
                    f"from read_parquet('{path}', hive_partitioning = false)) where prev > cur"
                ).fetchall()[0][0]
                assert unsorted == 0, path
        bounds = con.execute(
            "select f.rows, f.min_start_at, f.max_start_at from lake_files as f where tbl = 'records'"
        ).fetchall()
        truth = con.execute("select count(*), min(start_at), max(start_at) from records").fetchone()
        assert sum(b[0] for b in bounds) == truth[0]
        assert min(b[1] for b in bounds) == truth[1] and max(b[2] for b in bounds) == truth[2]


def test_replace_keys_with_rows_in_memory_still_replaces_stored_rows(tmp_path, refs, warehouse):
    """Given the new rows in memory, ``replace_keys`` writes them as a file of their own
    only when no stored file meets their span; otherwise the stored rows of those keys are
    replaced, never kept beside the new ones."""
    ingest_files([write_v1(tmp_path / "x.csv", _rows(300, seed=4))], warehouse=warehouse, cells=refs["cells"])
    with store.writer(warehouse) as con:
        before = con.execute("select count(*), sum(records) from usage_hourly_cell").fetchall()[0]
        hours = con.sql("select distinct hour_at from usage_hourly_cell order by 1 limit 3").pl()
        new = con.sql(
            "select * replace (records * 10 as records) from usage_hourly_cell "
            "where hour_at in (select hour_at from hours)"
        ).pl()
        con.execute("begin")
        con.register("new_rows", new)
        con.register("hours", hours)
        out = lake.replace_keys(
            con,
            warehouse,
            "usage_hourly_cell",
            new="new_rows",
            keys="hours",
            key_columns=("hour_at",),
            timezone="UTC",
            encrypted=False,
            load_id=9,
            frame=new,
        )
        con.execute("commit")
        after = con.execute("select count(*), sum(records) from usage_hourly_cell").fetchall()[0]
    assert out["retired"] >= 1
    assert after == (before[0], before[1] + int(new["records"].sum()) * 9 // 10)


@pytest.mark.parametrize("memory_rows", [0, 700, 10_000])
def test_a_load_too_big_to_hold_gets_the_same_cubes_from_its_files(tmp_path, refs, monkeypatch, memory_rows):
    """Past ``MEMORY_ROWS`` new rows the load drops the rows it held and DuckDB computes the
    cubes from its lake files: the cubes are the same either way, and so are the records."""
    monkeypatch.setattr(load, "FILE_ROWS", 400)
    path = write_v1(tmp_path / "x.csv", _rows(1500, seed=7))
    held, capped = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    ingest_files([path], warehouse=held, cells=refs["cells"], timezone="Europe/London")
    monkeypatch.setattr(load, "MEMORY_ROWS", memory_rows)
    ingest_files([path], warehouse=capped, cells=refs["cells"], timezone="Europe/London")
    assert _cubes(held) == _cubes(capped)
    assert _q(held, "select * from records order by all") == _q(capped, "select * from records order by all")


def test_aggregates_in_slices_equal_one_pass(tmp_path, refs, monkeypatch):
    """The Polars aggregates split into slices by a key column (hour, region, msisdn) give
    the rows one pass over all the load's rows gives."""
    from analytics.ingest import cube_frames

    path = write_v1(tmp_path / "x.csv", _rows(1500, seed=8))
    whole, sliced = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    ingest_files([path], warehouse=whole, cells=refs["cells"], timezone="Asia/Kathmandu")
    monkeypatch.setattr(cube_frames, "SLICE_ROWS", 170)
    ingest_files([path], warehouse=sliced, cells=refs["cells"], timezone="Asia/Kathmandu")
    assert _cubes(whole) == _cubes(sliced)
