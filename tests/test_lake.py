"""Records in the lake: Parquet files under a Delta table, DuckDB's manifest as the
commit point, snapshots that copy no records, orphans of killed loads cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from analytics import lake, store
from analytics.ingest import ingest_files
from tests.conftest import REPO, record, write_v1


def _q(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()
    finally:
        con.close()


def _parquet_files(warehouse: Path) -> set[str]:
    base = lake.table_dir(warehouse)
    return {p.relative_to(base).as_posix() for p in base.glob("month=*/*.parquet")}


def _ingest_cli(warehouse: Path, path: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"ANALYTICS_FAULT": fault} if fault else {})}
    return subprocess.run(
        [sys.executable, "-m", "analytics", "ingest", str(path), "--warehouse", str(warehouse), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_records_live_in_a_delta_table_partitioned_by_local_month(tmp_path, refs, warehouse):
    rows = [
        record(record_id=f"a{i}", msisdn=f"4477009{i % 7:05d}", start_time=f"2026-0{3 + i % 2}-1{i % 9}T10:00:00Z")
        for i in range(40)
    ]
    out = ingest_files([write_v1(tmp_path / "a.csv", rows)], warehouse=warehouse, cells=refs["cells"])
    assert out["rows_loaded"] == 40
    assert _q(warehouse, "select table_type from information_schema.tables where table_name = 'records'") == [("VIEW",)]
    files = _parquet_files(warehouse)
    assert {f.split("/")[0] for f in files} == {"month=2026-03", "month=2026-04"}
    assert files == {r[0] for r in _q(warehouse, "select path from lake_files where tbl = 'records'")}
    # the Delta log names exactly the committed files, and reads back the same rows
    table = DeltaTable(str(lake.table_dir(warehouse)))
    assert {
        Path(u.removeprefix("file://")).relative_to(lake.table_dir(warehouse).resolve()).as_posix()
        for u in table.file_uris()
    } == files
    delta = pl.from_arrow(table.to_pyarrow_table()).sort("record_id")
    assert delta["record_id"].to_list() == sorted(f"a{i}" for i in range(40))
    assert set(delta["month"].unique()) == {"2026-03", "2026-04"}
    # each file is sorted by (msisdn, start_at): a lookup by number prunes row groups
    for rel in files:
        frame = pl.from_arrow(pq.read_table(lake.table_dir(warehouse) / rel))
        assert frame.select("msisdn", "start_at").equals(frame.select("msisdn", "start_at").sort("msisdn", "start_at"))


def test_months_follow_the_configured_zone(tmp_path, refs, warehouse):
    rows = [record(record_id="z1", start_time="2026-04-01T00:30:00+01:00")]  # 31 March in UTC
    ingest_files(
        [write_v1(tmp_path / "z.csv", rows)], warehouse=warehouse, cells=refs["cells"], timezone="Africa/Lagos"
    )
    assert {f.split("/")[0] for f in _parquet_files(warehouse)} == {"month=2026-04"}


@pytest.mark.slow
def test_a_killed_load_leaves_files_no_view_names_and_the_next_writer_deletes_them(tmp_path, refs, warehouse):
    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="a1")])], warehouse=warehouse, cells=refs["cells"])
    committed = _parquet_files(warehouse)
    version = lake.delta_version(warehouse)
    big = write_v1(tmp_path / "b.csv", [record(record_id=f"b{i}") for i in range(500)])
    proc = _ingest_cli(warehouse, big, fault="after_insert")
    assert proc.returncode == -9, proc.stderr
    assert _parquet_files(warehouse) - committed, "the killed load had written its file"
    assert _q(warehouse, "select count(*) from records") == [(1,)]
    assert lake.delta_version(warehouse) == version  # the log never saw it
    with store.writer(warehouse):
        pass
    assert _parquet_files(warehouse) == committed
    assert ingest_files([big], warehouse=warehouse)["rows_loaded"] == 500


@pytest.mark.slow
def test_a_crash_between_duckdb_and_delta_commits_is_caught_up(tmp_path, refs, warehouse):
    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="a1")])], warehouse=warehouse, cells=refs["cells"])
    version = lake.delta_version(warehouse)
    proc = _ingest_cli(warehouse, write_v1(tmp_path / "b.csv", [record(record_id="b1")]), fault="before_delta_sync")
    assert proc.returncode == -9, proc.stderr
    assert _q(warehouse, "select count(*) from records") == [(2,)]  # DuckDB committed: the load is in
    assert lake.delta_version(warehouse) == version  # the log is behind
    with store.writer(warehouse):
        pass
    table = DeltaTable(str(lake.table_dir(warehouse)))
    assert table.version() == version + 1
    assert sorted(pl.from_arrow(table.to_pyarrow_table())["record_id"].to_list()) == ["a1", "b1"]


def test_a_publish_copies_no_records(tmp_path, refs, warehouse):
    """The snapshot is the small DuckDB file: no table in it has a row per record, and its
    records view reads the lake's immutable files."""
    rows = [record(record_id=f"l{i}", msisdn=f"4477009{i % 97:05d}") for i in range(20_000)]
    ingest_files([write_v1(tmp_path / "l.csv", rows)], warehouse=warehouse, cells=refs["cells"])
    snap = store._current_snapshot(warehouse)
    assert store.published_bytes(warehouse) == snap.stat().st_size
    con = duckdb.connect(str(snap), read_only=True)
    try:
        biggest = con.execute("select max(estimated_size) from duckdb_tables()").fetchall()[0][0]
        assert biggest < 1_000, biggest  # per-subscriber tables at most (97 numbers), never per record
        assert con.execute("select count(*) from records").fetchall() == [(20_000,)]
        # the cubes that grow with traffic are lake files too: views in the snapshot
        kinds = con.execute(
            "select table_name, table_type from information_schema.tables where table_name in ? order by 1",
            [list(lake.CUBES)],
        ).fetchall()
        assert kinds == [("subscriber_month", "VIEW"), ("usage_hourly_cell", "VIEW")]
        assert con.execute("select count(*) from subscriber_month").fetchall() == [(97,)]
    finally:
        con.close()


@pytest.mark.slow
def test_migrate_moves_a_single_file_warehouse_into_the_lake(tmp_path, refs, warehouse):
    ingest_files(
        [write_v1(tmp_path / "a.csv", [record(record_id=f"a{i}") for i in range(30)])],
        warehouse=warehouse,
        cells=refs["cells"],
    )
    cubes_before = {t: _q(warehouse, f"select * from {t} order by all") for t in lake.CUBES}
    assert all(cubes_before.values())
    # rebuild the layout of before: records and cubes as tables in the DuckDB file, no lake
    con = duckdb.connect(str(warehouse))
    for table in ("records", *lake.CUBES):
        con.execute(f"create table {table}_old as select * from {table}")
        con.execute(f"drop view {table}")
        con.execute(f"alter table {table}_old rename to {table}")
    con.execute("delete from lake_files")
    con.close()
    import shutil

    shutil.rmtree(lake.lake_dir(warehouse))
    proc = subprocess.run(
        [sys.executable, "-m", "analytics", "migrate", "--warehouse", str(warehouse), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"records": 30' in proc.stdout
    assert _q(warehouse, "select table_type from information_schema.tables where table_name = 'records'") == [("VIEW",)]
    assert _q(warehouse, "select count(*), count(distinct record_id) from records") == [(30, 30)]
    assert len(pl.from_arrow(DeltaTable(str(lake.table_dir(warehouse))).to_pyarrow_table())) == 30
    for table, rows in cubes_before.items():  # the cubes moved into the lake too, every row kept
        assert _q(warehouse, "select table_type from information_schema.tables where table_name = ?", [table]) == [
            ("VIEW",)
        ]
        assert _q(warehouse, f"select * from {table} order by all") == rows
        assert _q(warehouse, "select count(*) from lake_files where tbl = ?", [table])[0][0] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("n_files", [12])
def test_compaction_merges_small_files_and_keeps_every_row(tmp_path, refs, warehouse, n_files):
    for i in range(n_files):
        rows = [record(record_id=f"f{i}-{j}", msisdn=f"4477009{(i * 7 + j) % 50:05d}") for j in range(20)]
        ingest_files([write_v1(tmp_path / f"f{i}.csv", rows)], warehouse=warehouse, cells=refs["cells"])
    before = _q(warehouse, "select count(*), sum(duration_s), count(distinct record_id) from records")
    with store.writer(warehouse) as con:
        out = lake.compact(con, warehouse)
    assert out["files_before"] >= n_files and out["files_after"] == 1
    assert _q(warehouse, "select count(*), sum(duration_s), count(distinct record_id) from records") == before
    assert len(_parquet_files(warehouse)) <= out["files_after"] + out["files_before"]  # old files wait for snapshots
    table = DeltaTable(str(lake.table_dir(warehouse)))
    assert len(table.file_uris()) == 1 and len(table.to_pyarrow_table()) == before[0][0]


@pytest.mark.slow
def test_a_crash_between_commit_and_publish_is_published_on_the_next_open(tmp_path, refs, warehouse):
    ingest_files([write_v1(tmp_path / "a.csv", [record(record_id="a1")])], warehouse=warehouse, cells=refs["cells"])
    before = store.snapshot_version(warehouse)
    proc = _ingest_cli(warehouse, write_v1(tmp_path / "b.csv", [record(record_id="b1")]), fault="before_publish")
    assert proc.returncode == -9, proc.stderr
    assert store.snapshot_version(warehouse) == before  # the dashboard's snapshot is behind the commit
    con = store.snapshot_reader(warehouse)
    try:
        assert con.execute("select count(*) from records").fetchall() == [(2,)]
    finally:
        con.close()
    assert store.snapshot_version(warehouse) != before
    again = store.snapshot_version(warehouse)
    store.snapshot_reader(warehouse).close()
    assert store.snapshot_version(warehouse) == again  # published once, not on every open


def test_a_moved_warehouse_reads_the_lake_beside_it(tmp_path, refs, warehouse):
    import shutil

    ingest_files(
        [write_v1(tmp_path / "a.csv", [record(record_id=f"a{i}") for i in range(5)])],
        warehouse=warehouse,
        cells=refs["cells"],
    )
    moved = tmp_path / "elsewhere"
    shutil.copytree(warehouse.parent, moved, symlinks=True)
    shutil.rmtree(warehouse.parent)
    with store.writer(moved / warehouse.name) as con:
        assert store.scalar(con, "select count(*) from records") == 5


@pytest.mark.slow
def test_commands_create_private_files(tmp_path, refs):
    """Warehouse, snapshot, lake files and folders, reports: 0600 files and 0700 folders (#19.12)."""
    import stat

    warehouse = tmp_path / "private" / "wh.duckdb"
    path = write_v1(tmp_path / "a.csv", [record(record_id=f"a{i}") for i in range(5)])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics",
            "ingest",
            str(path),
            "--cells",
            str(refs["cells"]),
            "--warehouse",
            str(warehouse),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    made = [p for p in warehouse.parent.rglob("*") if not p.is_symlink()]
    assert any(p.suffix == ".parquet" for p in made) and any(".snap-" in p.name for p in made)
    for p in [warehouse.parent, *made]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, (p, oct(mode))


def _cube_files(warehouse: Path, table: str) -> set[str]:
    return {r[0] for r in _q(warehouse, "select path from lake_files where tbl = ?", [table])}


def test_cubes_grow_in_the_lake_a_load_rewrites_only_the_files_of_its_hours(tmp_path, refs, warehouse):
    """The hourly cube and the subscriber-month cube are lake files: a load into later
    hours adds a file and keeps the others; a late record into a stored hour rewrites the
    one file that holds that hour; the cube always equals its definition over the records."""

    def load(name: str, rows: list[dict]) -> None:
        out = ingest_files([write_v1(tmp_path / name, rows)], warehouse=warehouse, cells=refs["cells"])
        assert out["rows_loaded"] == len(rows)

    def day(d: int, tag: str, n: int = 30) -> list[dict]:
        return [
            record(
                record_id=f"{tag}{i}", msisdn=f"4477009{i % 11:05d}", start_time=f"2026-04-{d:02d}T{i % 24:02d}:10:00Z"
            )
            for i in range(n)
        ]

    def truth() -> tuple[list, list]:
        hourly = _q(
            warehouse,
            "select date_trunc('hour', start_at), coalesce(cell_id, ''), service, direction, count(*), "
            "count(distinct msisdn) from records group by all order by all",
        )
        cube = _q(
            warehouse,
            "select hour_at, cell_id, service, direction, records, subscribers from usage_hourly_cell order by all",
        )
        return hourly, cube

    load("d1.csv", day(1, "a"))
    first = _cube_files(warehouse, "usage_hourly_cell")
    assert len(first) == 1
    load("d2.csv", day(2, "b"))
    second = _cube_files(warehouse, "usage_hourly_cell")
    assert first < second and len(second) == 2  # appended, nothing rewritten
    late = [record(record_id="late1", msisdn="447700900099", start_time="2026-04-01T05:40:00Z")]
    load("late.csv", late)
    third = _cube_files(warehouse, "usage_hourly_cell")
    assert not (first & third)  # the file holding 1 April 05:00 was replaced ...
    assert (second - first) <= third  # ... and 2 April's file was left alone
    hourly, cube = truth()
    assert hourly == cube
    subs = _q(warehouse, "select msisdn, records from subscriber_month order by all")
    assert subs == _q(warehouse, "select msisdn, count(*) from records group by all order by all")
    assert len(_cube_files(warehouse, "subscriber_month")) == 1  # one month: one file, rewritten


@pytest.mark.slow
def test_automatic_compaction_merges_the_hourly_cubes_settled_files(tmp_path, refs, warehouse):
    """Daily loads add a cube file each; past lake.COMPACT_MIN_FILES small files in a month
    the automatic compaction merges those that end before the newest 48 hours, and the cube
    reads the same rows. The newest files stay small: a load into the newest hour (as the
    live feed's) rewrites only the file that holds it, never the merged month."""
    from analytics.pipeline import compact_if_needed

    days = lake.COMPACT_MIN_FILES + 4
    for d in range(1, days + 1):
        rows = [
            record(record_id=f"d{d}-{j}", msisdn=f"4477009{j:05d}", start_time=f"2026-05-{d:02d}T1{j}:00:00Z")
            for j in range(5)
        ]
        ingest_files([write_v1(tmp_path / f"d{d}.csv", rows)], warehouse=warehouse, cells=refs["cells"])
    assert len(_cube_files(warehouse, "usage_hourly_cell")) == days
    cube = _q(warehouse, "select * from usage_hourly_cell order by all")
    compact_if_needed(warehouse)
    # days 1 .. days-3 end more than 48 h before the newest hour (day `days`, 14:00): merged
    open_days = 3
    assert len(_cube_files(warehouse, "usage_hourly_cell")) == 1 + open_days
    assert _q(warehouse, "select * from usage_hourly_cell order by all") == cube
    assert compact_if_needed(warehouse) is None  # nothing left to merge
    merged = _cube_files(warehouse, "usage_hourly_cell")
    late = [record(record_id="late", msisdn="447700900001", start_time=f"2026-05-{days:02d}T14:30:00Z")]
    ingest_files([write_v1(tmp_path / "late.csv", late)], warehouse=warehouse, cells=refs["cells"])
    after = _cube_files(warehouse, "usage_hourly_cell")
    assert len(merged - after) == 1 and len(after - merged) == 1  # the newest day's file, rewritten
    assert _q(warehouse, "select sum(records) from usage_hourly_cell") == [(days * 5 + 1,)]
