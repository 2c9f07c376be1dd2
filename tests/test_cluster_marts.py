"""The heavy marts with ``--cluster``: ``indicators``, ``segments``, ``reconcile`` and
``fraud`` give the JSON and store the tables of the one-machine run on a seeded demo world
(2 months, ~200 subscribers), on a real local cluster of 2 worker processes (loopback),
which the tests start and stop; a worker killed inside its share is retried and the
result is unchanged; a run whose workers keep dying fails in one line and stores nothing,
and its re-run stores exactly once.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import dask
import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import cli, partitioned, store
from analytics import cluster as engine
from tests.conftest import REPO

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

RECONCILE_TABLES = {
    "rated_records": "select * from rated_records",
    "rated_months": "select * exclude (rated_at) from rated_months",
    "reconcile_months": "select * exclude (built_at) from reconcile_months",
    "reconcile_mismatches": "select * from reconcile_mismatches",
    "reconcile_breakdown": "select * from reconcile_breakdown",
}
FRAUD_TABLES = {
    "fraud_alerts": "select * exclude (detected_at, updated_at, evidence) from fraud_alerts",
    "fraud_evidence": "select alert_key, evidence from fraud_alerts",
    "fraud_runs": "select since_at, alerts_found, alerts_new from fraud_runs",
}


@contextmanager
def _cluster(**config):
    """Two worker processes, through the engine's own starter (as tests/test_cluster_ingest.py)."""
    with dask.config.set(config), engine.local_cluster(2) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def scheduler():
    with _cluster() as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A loaded demo warehouse (records only: no marts yet), copied by each test."""
    from analytics.demo.generate import generate
    from analytics.ingest import ingest_files

    tmp = tmp_path_factory.mktemp("marts_world")
    w = generate(tmp / "world", subscribers=200, months=2)
    warehouse = tmp / "w.duckdb"
    ingest_files(w.extracts, warehouse=warehouse, cells=w.cells, plans=w.plans, subscribers=w.subscribers)
    return warehouse


def _copies(world: Path, tmp_path: Path) -> tuple[Path, Path]:
    return (
        store.copy_warehouse(world, tmp_path / "one" / "w.duckdb"),
        store.copy_warehouse(world, tmp_path / "many" / "w.duckdb"),
    )


def _command(*argv: str) -> dict:
    """A command's JSON object as ``python -m analytics ... --json`` prints it (in-process)."""
    parser = cli.build_parser()
    cli._configure_subparsers(parser, list(argv))  # noqa: SLF001 - the CLI's own option wiring
    args = parser.parse_args(list(argv))
    return json.loads(cli.to_json(importlib.import_module(args._module).run(args)))  # noqa: SLF001


def _state(warehouse: Path, tables: dict[str, str]) -> dict[str, list[str] | None]:
    """Each table's rows, sorted (None: no such table yet)."""
    out: dict[str, list[str] | None] = {}
    with store.reader(warehouse) as con:
        for name, query in tables.items():
            try:
                out[name] = sorted(map(repr, con.sql(query).fetchall()))
            except duckdb.CatalogException:
                out[name] = None
    return out


def _ran_on(scheduler: str, prefix: str) -> int:
    """Tasks of ``prefix`` (the run's name) the scheduler has seen finish."""

    def count(dask_scheduler) -> int:
        tp = dask_scheduler.task_prefixes.get(prefix)
        return 0 if tp is None else int(tp.state_counts.get("memory", 0))

    with distributed.Client(scheduler) as client:
        return client.run_on_scheduler(count)


def _same(a, b, *, rel: float = 1e-9) -> bool:
    """Equal JSON, floats to ``rel``: DuckDB's parallel float sums (standard deviations,
    entropies) differ in their last bits between two one-machine runs already."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], rel=rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, rel=rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)
    return a == b


def _sorted_lists(value):
    """Evidence JSON with its lists sorted: the fraud SQL's list aggregates have no order
    (two one-machine runs already differ there), the values are what must match."""
    if isinstance(value, dict):
        return {k: _sorted_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_sorted_lists(v) for v in value), key=repr)
    return value


def test_indicators_and_segments_match_one_machine_and_ran_share_by_share(world, tmp_path, scheduler):
    one, many = _copies(world, tmp_path)
    before = _ran_on(scheduler, "segments"), _ran_on(scheduler, "indicators")
    for month in ([], ["--month", "2026-10"]):
        a = _command("indicators", "--warehouse", str(one), "--json", *month)
        b = _command("indicators", "--warehouse", str(many), "--json", *month, "--cluster", scheduler)
        assert _same(b, a)
        assert len(a["subscribers"]) > 150
    a = _command("segments", "--warehouse", str(one), "--json", "--out", str(tmp_path / "one.csv"))
    b = _command(
        "segments", "--warehouse", str(many), "--json", "--out", str(tmp_path / "many.csv"), "--cluster", scheduler
    )
    assert _same(b, a)
    assert a["subscribers"] > 150 and a["recommendations"] > 0 and a["k"] >= 2
    assert_frame_equal(pl.read_csv(tmp_path / "many.csv"), pl.read_csv(tmp_path / "one.csv"), rel_tol=1e-9)
    # each run was two tasks (one a worker): the shares really ran on the cluster
    assert (_ran_on(scheduler, "segments") - before[0], _ran_on(scheduler, "indicators") - before[1]) == (2, 4)


def test_reconcile_matches_one_machine_and_a_rerun_stores_nothing_new(world, tmp_path, scheduler):
    one, many = _copies(world, tmp_path)
    a = _command("reconcile", "--warehouse", str(one), "--json")
    b = _command("reconcile", "--warehouse", str(many), "--json", "--cluster", scheduler)
    assert b == a
    assert a["records_checked"] > 10_000 and a["mismatches"] > 0 and len(a["months"]) >= 2
    stored = _state(many, RECONCILE_TABLES)
    assert stored == _state(one, RECONCILE_TABLES)
    assert len(stored["rated_records"]) > 10_000
    again = _command("reconcile", "--warehouse", str(many), "--json", "--cluster", scheduler)
    assert again == a and _state(many, RECONCILE_TABLES) == stored


def test_fraud_matches_one_machine(world, tmp_path, scheduler):
    one, many = _copies(world, tmp_path)
    before = _ran_on(scheduler, "fraud")
    a = _command("fraud", "--warehouse", str(one), "--json")
    b = _command("fraud", "--warehouse", str(many), "--json", "--cluster", scheduler)
    # 2 shares by subscriber (irsf, sim_clone, sim_box, usage_spike) + 2 of usage_spike's first
    # round (its peer levels' tails) + 2 by calling number (wangiri)
    assert _ran_on(scheduler, "fraud") - before == 6
    found = {alert["type"] for alert in b["alerts"]}
    assert {"wangiri", "sim_box", "irsf", "usage_spike"} <= found  # each kind of share compared
    for out in (a, b):
        for alert in out["alerts"]:
            alert["evidence"] = _sorted_lists(alert["evidence"])
    assert b == a
    assert {x["type"] for x in a["alerts"]} >= {"irsf", "sim_clone"}
    sa, sb = _state(one, FRAUD_TABLES), _state(many, FRAUD_TABLES)
    assert sb["fraud_alerts"] == sa["fraud_alerts"] and sb["fraud_runs"] == sa["fraud_runs"]


def _arm_fault() -> None:
    os.environ["ANALYTICS_FAULT"] = partitioned.FAULT_POINT


def test_a_worker_killed_inside_its_share_is_retried_and_the_segments_are_identical(world, tmp_path, scheduler):
    one, many = _copies(world, tmp_path)
    a = _command("segments", "--warehouse", str(one), "--json")
    with distributed.Client(scheduler) as client:
        client.wait_for_workers(2)
        doomed = sorted(client.scheduler_info()["workers"])[0]
        client.run(_arm_fault, workers=[doomed])  # this worker SIGKILLs itself after computing its share
        b = _command("segments", "--warehouse", str(many), "--json", "--cluster", scheduler)
        client.wait_for_workers(2)
        assert doomed not in client.scheduler_info()["workers"]  # it died; its nanny started a fresh one
    assert _same(b, a)


def test_a_reconcile_whose_workers_keep_dying_fails_in_one_line_stores_nothing_and_reruns_once(world, tmp_path):
    one, many = _copies(world, tmp_path)
    before = _state(many, RECONCILE_TABLES)
    with _cluster(**{"distributed.scheduler.allowed-failures": 0}) as cluster:
        with distributed.Client(cluster) as client:
            client.run(_arm_fault)
        with pytest.raises(cli.CommandError) as failed:
            _command("reconcile", "--warehouse", str(many), "--json", "--cluster", cluster.scheduler_address)
        assert "\n" not in str(failed.value) and "reconcile on the cluster failed, nothing stored" in str(failed.value)
        after = _state(many, RECONCILE_TABLES)  # the billing tables may exist now (schema), without a row
        assert {k: v or [] for k, v in after.items()} == {k: v or [] for k, v in before.items()}
        assert not any(after.values())
        with distributed.Client(cluster) as client:  # the restarted workers carry no fault
            client.wait_for_workers(2)
        b = _command("reconcile", "--warehouse", str(many), "--json", "--cluster", cluster.scheduler_address)
    assert b == _command("reconcile", "--warehouse", str(one), "--json")
    assert _state(many, RECONCILE_TABLES) == _state(one, RECONCILE_TABLES)


def test_segments_via_the_cli_with_a_local_cluster_match_one_machine(world, tmp_path):
    one, many = _copies(world, tmp_path)
    out = {}
    for name, wh, extra in (("one", one, []), ("many", many, ["--cluster", "local:2"])):
        proc = subprocess.run(
            [sys.executable, "-m", "analytics", "segments", "--json", "--warehouse", str(wh), *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "ANALYTICS_AUTH": "off"},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[name] = json.loads(proc.stdout)
    assert _same(out["many"], out["one"])


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _fit_state(results) -> list[tuple]:
    """A fit's results without their timings, arrays as lists."""
    return [
        (
            r.unique_id,
            r.model,
            r.reason,
            r.n_obs,
            r.n_clipped,
            repr(_untimed(r.scores)),
            repr(_untimed(r.backtest_rows)),
            r.ds.tolist(),
            {k: np.asarray(v).tolist() for k, v in r.forecast.items()},
        )
        for r in results
    ]


@pytest.fixture(scope="module")
def series(world):
    from analytics.forecast.pipeline import plan_run

    with store.reader(world) as con:
        plan = plan_run(con, freq="daily", full=True)
    return [j for j in plan.jobs if j.metric == "data_gb"][:2]  # two regions' series, prophet among the candidates


def test_a_forecast_series_fits_the_same_twice_in_one_process(series):
    """Prophet samples its intervals from numpy's global generator: seeded per series, the
    second fit of a series in the same process (another state) gives the same result."""
    from analytics.forecast.workers import fit

    assert _fit_state(fit(series, n_jobs=1)) == _fit_state(fit(series, n_jobs=1))


def test_forecast_series_fitted_one_task_each_on_the_cluster_match_one_machine(series, scheduler):
    from analytics.forecast import workers

    before = _ran_on(scheduler, "forecast")
    seen: list[tuple[int, int]] = []
    many = workers.fit(series, n_jobs=1, cluster=scheduler, progress=lambda done, total, _: seen.append((done, total)))
    assert _ran_on(scheduler, "forecast") - before == len(series)
    assert seen[-1] == (len(series), len(series))
    assert _fit_state(many) == _fit_state(workers.fit(series, n_jobs=1))


def _arm_forecast_fault() -> None:
    from analytics.forecast import workers

    os.environ["ANALYTICS_FAULT"] = workers.FAULT_POINT


def test_a_worker_killed_after_fitting_a_series_is_retried_and_the_forecast_is_identical(series, scheduler):
    from analytics.forecast import workers

    with distributed.Client(scheduler) as client:
        client.wait_for_workers(2)
        doomed = sorted(client.scheduler_info()["workers"])[0]
        client.run(_arm_forecast_fault, workers=[doomed])
        many = workers.fit(series, n_jobs=1, cluster=scheduler)
        client.wait_for_workers(2)
        assert doomed not in client.scheduler_info()["workers"]
    assert _fit_state(many) == _fit_state(workers.fit(series, n_jobs=1))


def test_the_forecast_command_takes_cluster_and_fails_in_one_line_on_a_bad_spec(world, tmp_path):
    one, _ = _copies(world, tmp_path)
    with pytest.raises(cli.CommandError, match="local:N") as failed:
        _command("forecast", "--warehouse", str(one), "--json", "--cluster", "nowhere")
    assert "\n" not in str(failed.value)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def test_an_encrypted_warehouse_is_read_by_the_workers_with_its_key(tmp_path, scheduler, monkeypatch):
    from analytics.ingest import ingest_files
    from tests.conftest import CELLS_CSV, PLANS_CSV, SUBSCRIBERS_CSV, record, write_v1

    monkeypatch.setenv(store.ENCRYPTION_ENV, "cluster-marts-key")
    refs = {}
    for name, text in (("cells", CELLS_CSV), ("plans", PLANS_CSV), ("subscribers", SUBSCRIBERS_CSV)):
        refs[name] = tmp_path / f"{name}.csv"
        refs[name].write_text(text)
    rows = [
        record(
            record_id=f"e{i}",
            msisdn=f"44770090000{1 + i % 3}",
            other_party=f"4478000000{i % 5}",
            start_time=f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:10:00Z",
            service=("voice", "sms", "data")[i % 3],
            cell_id=("N1", "N2", "S1", "E1")[i % 4],
            charge=f"{i % 7}.25",
        )
        for i in range(60)
    ]
    warehouse = tmp_path / "w.duckdb"
    ingest_files([write_v1(tmp_path / "a.csv", rows)], warehouse=warehouse, **refs)
    a = _command("indicators", "--warehouse", str(warehouse), "--json", "--month", "2026-03")
    with distributed.Client(scheduler) as client:
        client.run(_set_env, store.ENCRYPTION_ENV, "cluster-marts-key")
        try:
            b = _command(
                "indicators", "--warehouse", str(warehouse), "--json", "--month", "2026-03", "--cluster", scheduler
            )
        finally:
            client.run(_set_env, store.ENCRYPTION_ENV, None)
    assert _same(b, a) and len(a["subscribers"]) == 3


def test_sim_box_on_a_share_measures_newly_active_from_all_the_data(tmp_path, scheduler):
    """sim_box runs share by share: a line's share may not hold the data's first record
    (here an ordinary line of the other share starts 16 days before the SIM box), so the
    driver hands the shares the warehouse's first record; the alert equals one machine's."""
    import datetime as dt

    sys.path.insert(0, str(REPO / "tests"))
    from test_fraud_detectors import simbox_world
    from test_fraud_support import T0, Records, build, ordinary_line

    from analytics.fraud import detect
    from analytics.fraud.engine import found_by

    box = "447700000009"
    with duckdb.connect() as con:  # an ordinary line in the other of 2 shares
        share = con.execute("select hash(?) % 2", [box]).fetchone()[0]
        other = next(
            m
            for m in (f"4477000000{i:02d}" for i in range(10, 99))
            if con.execute("select hash(?) % 2", [m]).fetchone()[0] != share
        )
    recs = Records()
    ordinary_line(recs, other, days=20, seed=1)
    simbox_world(recs, box, start=T0 + dt.timedelta(days=16))
    path = build(tmp_path, recs)
    with store.reader(path) as con:
        alone = detect(con, types=["sim_box"])
        with partitioned.cluster_runner(scheduler, con, name="simbox_share", parts=2) as runner:
            shared = detect(con, types=["sim_box"], runner=runner)
        first = store.fetch(con, "@fraud_data_first").item()
        # what the box's share alone would say: its own first record is the box's
        with partitioned.cluster_runner(scheduler, con, name="simbox_alone", parts=2) as runner:
            parts = runner(found_by, {"names": ["sim_box"], "since": None, "overrides": None})
    assert first < T0 + dt.timedelta(days=1)  # the ordinary line's first record, in the other share
    assert alone["msisdn"].to_list() == [box] and json.loads(alone["evidence"][0])["newly_active"] is True
    assert_frame_equal(shared.drop("evidence"), alone.drop("evidence"))
    assert json.loads(shared["evidence"][0]) == json.loads(alone["evidence"][0])
    unaware = pl.concat(parts)
    assert json.loads(unaware["evidence"][0])["newly_active"] is False  # why the driver hands it over


def _one_machine_peers(con, days: pl.DataFrame, q: float) -> list[tuple]:
    """The test's oracle: usage_spike's peer levels over every line-day at once."""
    con.register("all_days", days)
    try:
        return sorted(
            con.execute(
                "select coalesce(peer_group, '*'), count(distinct msisdn), quantile_cont(voice_min, ?), "
                "quantile_cont(texts, ?), quantile_cont(data_mb, ?) from all_days "
                "group by grouping sets ((peer_group), ())",
                [q, q, q],
            ).fetchall()
        )
    finally:
        con.unregister("all_days")


@pytest.mark.parametrize("parts", [2, 3])
def test_usage_spike_peer_levels_from_the_shares_tails_equal_one_machine(world, parts):
    """Each share sends only the top of its line-days; the driver's quantiles over those
    tops (plus fillers) are exactly one machine's over every line-day, per plan and overall."""
    from analytics.fraud import engine as fraud_engine
    from analytics.fraud import spike

    with store.reader(world) as con:
        opts = fraud_engine.options()
        settings_ = opts.detectors[spike.TYPE]
        lake_files = store.fetch(con, "@partitioned_lake_files", {"tbl": "records"})
        refs = {t: store.fetch(con, f"@partitioned_reference_{t}") for t in partitioned.REFERENCES}
        sent: list[list[list[dict]]] = []

        def run_tails(everything: bool) -> list[list[dict]]:  # the worker's side, share by share
            out = []
            for part in range(parts):
                share = partitioned.Share(
                    fn=None,
                    kwargs={},
                    part=part,
                    parts=parts,
                    warehouse=str(world),
                    lake_files=lake_files,
                    references=refs,
                )
                share_con = partitioned.scratch(share)
                out.append(spike.tails(share_con, since=None, opts=settings_, common=opts, everything=everything))
                share_con.close()
            sent.append(out)
            return out

        peers, start_day = spike.peers(con, run_tails, opts=settings_)
        params = {"since": None, "tz": opts.timezone, "baseline_days": settings_.baseline_days}
        every_day = store.fetch(con, "@fraud_spike_tails", params)
        expected = _one_machine_peers(con, every_day, settings_.peer_quantile)
    got = sorted(
        (p["peer_group"], p["peer_lines"], p["voice_peer"], p["texts_peer"], p["data_peer"]) for p in json.loads(peers)
    )
    assert got == expected and len(got) >= 3  # several plans and '*'
    assert start_day == every_day["day_date"].min()
    # the first round sent only the shares' tops: far fewer values than line-days
    tops = sum(len(e["data_mb"]) for share in sent[0] for e in share if e["peer_group"] == "*")
    assert tops < every_day.height / 3
