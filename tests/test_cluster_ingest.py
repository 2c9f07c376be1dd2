"""``ingest --cluster``: the same load as one machine, on a real local Dask cluster.

The tests start their own cluster (2 worker processes, loopback only) and stop it. Each
comparison loads the same files twice, one-machine (``ingest_files``) and on the
cluster, into two warehouses, and compares the JSON (minus timings), the records, the
quarantine, the duplicates, the manifest (minus clock times) and the four cubes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import dask
import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import cluster as engine
from analytics import lake, store
from analytics.ingest import ingest_files
from tests.conftest import CELLS_CSV, REPO, record, write_v1

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

TABLES = {
    "records": "select * from records",
    "quarantine": "select * from quarantine",
    "duplicates": "select * from duplicates",
    "loads": "select * exclude (started_at, finished_at) from loads",
    "usage_hourly_cell": "select * from usage_hourly_cell",
    "usage_daily_region": "select * from usage_daily_region",
    "usage_monthly_region": "select * from usage_monthly_region",
    "subscriber_month": "select * from subscriber_month",
}


def _state(warehouse: Path) -> dict[str, list[str]]:
    with store.reader(warehouse) as con:  # also an encrypted warehouse
        return {name: sorted(map(repr, con.sql(q).fetchall())) for name, q in TABLES.items()}


def _json(out: dict) -> dict:
    out = json.loads(json.dumps(out, default=str))
    for f in out["files"]:
        f.pop("seconds")
    return out


@contextmanager
def _cluster(**config):
    """Two worker processes, through the engine's own starter (which keeps AppTest's
    ``__main__``, left by earlier test modules, out of the spawned workers)."""
    with dask.config.set(config), engine.local_cluster(2) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def scheduler():
    with _cluster() as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def cells(tmp_path: Path) -> Path:
    path = tmp_path / "cells.csv"
    path.write_text(CELLS_CSV)
    return path


def _both(tmp_path: Path, runs: list[list[Path]], scheduler: str, **options) -> tuple[Path, Path]:
    """Load each run (a list of files) one-machine and on the cluster; the JSON of every
    run must match; returns the two warehouses."""
    one, many = tmp_path / "one" / "w.duckdb", tmp_path / "many" / "w.duckdb"
    for i, files in enumerate(runs):
        opts = options if i == 0 else {}
        a = ingest_files(files, warehouse=one, **opts)
        b = ingest_files(files, warehouse=many, cluster=scheduler, **opts)
        assert _json(b) == _json(a)
    return one, many


def _assert_same(one: Path, many: Path) -> None:
    a, b = _state(one), _state(many)
    for name in TABLES:
        assert b[name] == a[name], name


def _ran_on(scheduler: str, prefix: str) -> int:
    """Tasks of ``prefix`` (a function's name) the scheduler has seen finish."""

    def count(dask_scheduler) -> int:
        tp = dask_scheduler.task_prefixes.get(prefix)
        return 0 if tp is None else int(tp.state_counts.get("memory", 0))  # entries into "memory": results made

    with distributed.Client(scheduler) as client:
        return client.run_on_scheduler(count)


def test_cross_file_stored_and_in_file_duplicates_rejects_refusals_match_one_machine(tmp_path, cells, scheduler):
    d = tmp_path / "in"
    first = write_v1(d / "first.csv", [record(record_id="old", start_time="2026-03-01T09:00:00Z")])
    a = write_v1(
        d / "a.csv",
        [
            record(record_id="n1", charge="1.00"),
            record(record_id="old"),
            record(record_id="n2", msisdn="447700900002"),
            record(record_id="n1", charge="2.00"),
            record(record_id="bad", duration_s="-5"),
            record(record_id="x", start_time="2026-04-02T00:30:00Z", cell_id="S1"),
        ],
    )
    b = write_v1(
        d / "b.csv",
        [  # n2 and x were kept by a.csv; n4 is rejected there first
            record(record_id="n4", duration_s="-1"),
            record(record_id="n2", charge="9.99"),
            record(record_id="n3"),
            record(record_id="x", charge="5.00"),
            record(record_id="n4", charge="4.00"),
            record(record_id="n3"),
        ],
    )
    again = d / "again.csv"
    again.write_bytes(a.read_bytes())  # the same content twice in one run: already loaded
    garbage = d / "garbage.csv"
    garbage.write_bytes(b"\x00\x01 not a csv \xff\xfe" * 50)
    runs = [[first], [a, garbage, b, again, d / "missing.csv"]]
    tasks = _ran_on(scheduler, "ingest")
    one, many = _both(tmp_path, runs, scheduler, cells=cells)
    _assert_same(one, many)
    assert _ran_on(scheduler, "ingest") - tasks == 4  # first, a, garbage (refused there) and b went to workers
    con = duckdb.connect(str(many), read_only=True)
    try:  # the cross-file duplicates left the committed files: ids are unique
        assert con.sql("select count(*) = count(distinct record_id) from records").fetchall() == [(True,)]
        dups = con.sql("select record_id, load_id from duplicates order by all").fetchall()
    finally:
        con.close()
    assert ("n2", 5) in dups and ("x", 5) in dups and ("old", 3) in dups  # a.csv: load 3, b.csv: 5 (after garbage)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def test_an_encrypted_warehouse_gets_encrypted_lake_files_from_the_workers(tmp_path, cells, scheduler, monkeypatch):
    monkeypatch.setenv(store.ENCRYPTION_ENV, "cluster-test-key")
    a = write_v1(tmp_path / "in" / "a.csv", [record(record_id=f"e{i}", charge=f"{i}.25") for i in range(20)])
    b = write_v1(tmp_path / "in" / "b.csv", [record(record_id=f"e{i}", charge="7.75") for i in range(15, 30)])
    with distributed.Client(scheduler) as client:
        client.run(_set_env, store.ENCRYPTION_ENV, "cluster-test-key")
        try:
            one, many = _both(tmp_path, [[a, b]], scheduler, cells=cells)
        finally:
            client.run(_set_env, store.ENCRYPTION_ENV, None)
    _assert_same(one, many)
    written = list(lake.table_dir(many).glob("month=*/*.parquet"))
    assert written
    for path in written:  # without the key the workers' files cannot be read
        with pytest.raises(duckdb.Error):
            duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()


ids = st.sampled_from([f"id{i}" for i in range(12)])
rows = st.fixed_dictionaries(
    {
        "record_id": ids,
        "day": st.integers(1, 31),
        "hour": st.integers(0, 23),
        "msisdn": st.sampled_from(["447700900001", "447700900002", "447700900003", "12"]),
        "service": st.sampled_from(["voice", "sms", "data", "fax"]),
        "cell_id": st.sampled_from(["N1", "N2", "S1", "E1", "ZZ"]),
        "duration_s": st.integers(-2, 500),
        "charge": st.sampled_from(["0.00", "1.25", "", "abc"]),
    }
)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(st.lists(rows, min_size=0, max_size=12), min_size=1, max_size=4), stored=st.lists(rows, max_size=5)
)
def test_random_extracts_load_as_on_one_machine(tmp_path_factory, scheduler, files, stored):
    tmp = tmp_path_factory.mktemp("prop")
    cells = tmp / "cells.csv"
    cells.write_text(CELLS_CSV)

    def v1(r: dict) -> dict:
        month = 3 if r["day"] <= 28 else 4  # a month boundary: more than one lake file a load
        return record(
            record_id=r["record_id"],
            start_time=f"2026-{month:02d}-{min(r['day'], 28):02d}T{r['hour']:02d}:00:00Z",
            msisdn=r["msisdn"],
            service=r["service"],
            cell_id=r["cell_id"],
            duration_s=r["duration_s"],
            charge=r["charge"],
        )

    paths = [write_v1(tmp / f"f{i}.csv", [v1(r) for r in rs], columns=list(record())) for i, rs in enumerate(files)]
    prior = write_v1(tmp / "stored.csv", [v1(r) for r in stored], columns=list(record()))
    one, many = _both(tmp, [[prior], paths], scheduler, cells=cells)
    _assert_same(one, many)


def test_demo_world_via_the_cli_local_cluster_matches_one_machine(tmp_path):
    from analytics.demo.generate import generate

    world = generate(tmp_path / "world", subscribers=200, months=1)
    refs = ["--cells", str(world.cells), "--plans", str(world.plans), "--subscribers", str(world.subscribers)]
    out = {}
    for name, extra in (("one", []), ("many", ["--cluster", "local:2"])):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "analytics",
                "ingest",
                *map(str, world.extracts),
                *refs,
                "--no-marts",
                "--json",
                "--warehouse",
                str(tmp_path / name / "w.duckdb"),
                *extra,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "ANALYTICS_AUTH": "off"},
        )
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        out[name] = _json(json.loads(proc.stdout))
    assert out["many"] == out["one"]
    assert out["one"]["rows_loaded"] > 20_000 and out["one"]["rows_duplicate"] > 0
    _assert_same(tmp_path / "one" / "w.duckdb", tmp_path / "many" / "w.duckdb")


def _batch(tmp_path: Path, n: int = 4) -> list[Path]:
    rnd = random.Random(5)
    return [
        write_v1(
            tmp_path / "in" / f"k{i}.csv",
            [
                record(
                    record_id=f"k{rnd.randrange(600)}",
                    start_time=f"2026-03-{1 + j % 28:02d}T{j % 24:02d}:00:00Z",
                    duration_s=rnd.randrange(-3, 300),
                    msisdn=f"4477009000{rnd.randrange(10):02d}",
                )
                for j in range(300)
            ],
        )
        for i in range(n)
    ]


def _arm_fault() -> None:
    os.environ["ANALYTICS_FAULT"] = "after_insert"


def _workers(client) -> set[str]:
    return set(client.scheduler_info()["workers"])


def test_a_worker_killed_mid_file_is_retried_and_the_load_is_identical(tmp_path, cells, scheduler):
    files = _batch(tmp_path)
    with distributed.Client(scheduler) as client:
        client.wait_for_workers(2)
        before = _workers(client)
        doomed = sorted(before)[0]
        # this worker process SIGKILLs itself after writing a file's lake files (load.py's fault hook)
        client.run(_arm_fault, workers=[doomed])
        one, many = _both(tmp_path, [files], scheduler, cells=cells)
        client.wait_for_workers(2)
        assert doomed not in _workers(client)  # it did die (its nanny started a fresh one)
    _assert_same(one, many)


def test_a_run_whose_workers_keep_dying_fails_in_one_line_and_commits_nothing(tmp_path, cells):
    files = _batch(tmp_path)
    warehouse = tmp_path / "w.duckdb"
    ingest_files([write_v1(tmp_path / "first.csv", [record(record_id="k1")])], warehouse=warehouse, cells=cells)
    before = _state(warehouse)
    with _cluster(**{"distributed.scheduler.allowed-failures": 0}) as cluster:
        with distributed.Client(cluster) as client:
            client.run(_arm_fault)
        with pytest.raises(engine.ClusterError) as failed:
            ingest_files(files, warehouse=warehouse, cluster=cluster.scheduler_address)
        assert "\n" not in str(failed.value) and "nothing committed" in str(failed.value)
        assert _state(warehouse) == before
        with store.writer(warehouse, publish=False) as con:  # the next writer opens: no uncommitted file is left
            named = set(lake.files(con))
        on_disk = {
            p.relative_to(lake.table_dir(warehouse)).as_posix()
            for p in lake.table_dir(warehouse).glob("month=*/*.parquet")
        }
        assert on_disk == named and len(named) == 1
        # the restarted workers carry no fault: a re-run loads exactly once, as one machine would
        with distributed.Client(cluster) as client:
            client.wait_for_workers(2)
        out = ingest_files(files, warehouse=warehouse, cluster=cluster.scheduler_address)
    reference = tmp_path / "ref.duckdb"
    ingest_files([tmp_path / "first.csv"], warehouse=reference, cells=cells)
    assert _json(out) == _json(ingest_files(files, warehouse=reference))
    _assert_same(reference, warehouse)


SCRIPT = """
import os, pathlib
pathlib.Path(os.environ["SENTINEL_DIR"], str(os.getpid())).touch()  # this process ran the script
"""


def test_local_workers_never_run_the_callers_main_script(tmp_path, monkeypatch):
    """After Streamlit's AppTest (or under ``streamlit run``) ``__main__`` is an app script,
    which spawned workers would re-run and die of: ``local:N`` keeps it out of them."""
    import types

    sentinels = tmp_path / "ran"
    sentinels.mkdir()
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    monkeypatch.setenv("SENTINEL_DIR", str(sentinels))
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    with engine.connect("local:1") as client:
        assert client.submit(os.getpid).result() != os.getpid()
    assert sys.modules["__main__"] is main
    assert list(sentinels.iterdir()) == [], "a worker process ran the caller's __main__ script"


@pytest.mark.parametrize("spec", ["local:0", "local", "http://x:1", "somewhere"])
def test_a_bad_cluster_spec_is_refused_with_the_expected_forms(spec):
    with pytest.raises(engine.ClusterError, match="local:N"):
        engine.parse(spec)


def test_a_directory_or_unreadable_path_is_refused_in_the_json_and_the_rest_loads(tmp_path, cells, scheduler):
    a = write_v1(tmp_path / "in" / "a.csv", [record(record_id="d1"), record(record_id="d2")])
    folder = tmp_path / "in" / "folder.csv"
    folder.mkdir()
    locked = write_v1(tmp_path / "in" / "locked.csv", [record(record_id="d3")])
    locked.chmod(0)
    readable = os.access(locked, os.R_OK)  # root reads a file whatever its mode
    out = ingest_files([a, folder, locked], warehouse=tmp_path / "w.duckdb", cells=cells, cluster=scheduler)
    status = [(f["file"], f["status"]) for f in out["files"]]
    assert status == [
        ("a.csv", "loaded"),
        ("folder.csv", "refused"),
        ("locked.csv", "loaded" if readable else "refused"),
    ]
    assert "a directory, not an extract file" in out["files"][1]["error"]
    assert out["rows_loaded"] == 2 + readable and out["_exit"] == 1


def test_two_warehouses_loading_same_named_files_at_once_on_one_scheduler_keep_their_own_rows(
    tmp_path, cells, scheduler
):
    import threading

    runs = {}
    for name in ("east", "west"):
        rows = [
            record(record_id=f"{name}{i}", start_time=f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:00:00Z")
            for i in range(20_000)
        ]
        runs[name] = write_v1(tmp_path / name / "a.csv", rows)  # the same file name, other content
    out: dict[str, dict] = {}
    start = threading.Barrier(2)

    def load(name: str) -> None:
        start.wait()
        out[name] = ingest_files([runs[name]], warehouse=tmp_path / name / "w.duckdb", cells=cells, cluster=scheduler)

    threads = [threading.Thread(target=load, args=(n,)) for n in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in runs:
        assert out[name]["rows_loaded"] == 20_000
        with store.reader(tmp_path / name / "w.duckdb") as con:
            assert con.sql("select count(*) from records where record_id like ?", params=[f"{name}%"]).fetchall() == [
                (20_000,)
            ]


@pytest.mark.parametrize("case", range(5), ids=["freeswitch", "cucm", "cucm-fixture", "bandicoot", "mapping"])
def test_the_public_samples_load_on_the_cluster_as_on_one_machine(tmp_path, scheduler, case):
    """The contract's public sample extracts (as a client's harness sends them): the JSON
    (counts, rejects, refusals) and every stored table equal a one-machine load."""
    from tests.test_formats_ingest import CASES

    files, fmt, _, extra = CASES[case]
    kwargs = {"fmt": None if fmt == "mapping" else fmt, "region": "NORTH", **extra}
    one = ingest_files(files, warehouse=tmp_path / "one" / "w.duckdb", **kwargs)
    many = ingest_files(files, warehouse=tmp_path / "many" / "w.duckdb", cluster=scheduler, **kwargs)
    assert _json(many) == _json(one)
    assert one["rows_read"] > 0 and one["rows_loaded"] > 0
    _assert_same(tmp_path / "one" / "w.duckdb", tmp_path / "many" / "w.duckdb")
