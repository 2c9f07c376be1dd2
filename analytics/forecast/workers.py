"""The fit stage of a forecast run: :func:`~analytics.forecast.engine.run_batch` over many
series in worker processes that never import the caller's ``__main__``.

The series are cut into contiguous shards (:func:`shards`: a few per worker, so that progress
moves and the workers stay busy to the end); each shard is ONE task, a batch whose
statsforecast fits are one vectorised call per model over all its series and cut-offs
(``bulk``). One task per series cost more in per-task work than the fits themselves for
cheap models (issue 22: 4,904 hierarchy jobs took 214 s with seasonal naive alone).

multiprocessing's ``forkserver`` and ``spawn`` workers re-import the parent's ``__main__``
(``multiprocessing.spawn.get_preparation_data``). Under ``streamlit run`` that module is
app.py: its workers ran the app in bare mode, whose sign-in gate waited forever on the
warehouse lock of the run that had started them (issue 17). So :func:`fit` never starts a
pool in the caller's process: the pool lives in a child ``python -m
analytics.forecast.workers``, whose ``__main__`` is this module (the pool's workers import
it as ``__mp_main__``, where the ``__name__ == "__main__"`` block does not run).

The child takes the jobs as one pickle file and writes the results (in job order) as
another; these are the same objects the pool pickles anyway, between processes of this
package only, never stored. Each finished series is one ``@progress {json}`` line on its
stderr, which :func:`fit` turns into calls of its ``progress``. No warehouse is opened here.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from analytics import store
from analytics.forecast.engine import Job, Result, run_batch, run_job

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
PROGRESS = "@progress "
FAULT_POINT = "forecast_series"  # tests: ANALYTICS_FAULT=forecast_series kills a cluster worker after a fit
FitProgress = Callable[[int, int, str], None]  # (series done, series total, message)
SHARDS_PER_WORKER = 4
MAX_SHARD = 256  # series per batch at most (progress steps; memory of one long frame)


def shards(jobs: list[Job], *, n_jobs: int) -> list[list[Job]]:
    """``jobs`` in contiguous shards, a few per worker; an even size, so that the hierarchy's
    forecast and backtest jobs of a node (listed side by side, sharing cut-offs) stay together."""
    if not jobs:
        return []
    size = -(-len(jobs) // max(1, SHARDS_PER_WORKER * n_jobs))
    size = min(MAX_SHARD, size + size % 2)
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def describe(result: Result) -> str:
    return f"{result.unique_id}: {result.model}" + (" (fallback)" if result.reason else "")


def fit(
    jobs: list[Job], *, n_jobs: int, progress: FitProgress | None = None, cluster: str | None = None
) -> list[Result]:
    """The results of ``jobs`` in their order; ``progress(done, total, message)`` after each series.

    One shard of series per task (:func:`shards`) on ``n_jobs`` worker processes in a child
    process; with ``n_jobs`` 1 or fewer than 4 series, in this thread (no process at all). ``cluster`` (a ``--cluster``
    SPEC): one task per series on that Dask cluster instead (:func:`fit_on_cluster`).
    """
    say = progress or (lambda done, total, message: None)
    if cluster:
        return fit_on_cluster(jobs, cluster=cluster, progress=say)
    if n_jobs <= 1 or len(jobs) < 4:
        results: list[Result] = []
        for shard in shards(jobs, n_jobs=1):
            results += run_batch(shard)
            say(len(results), len(jobs), describe(results[-1]))
        return results
    with tempfile.TemporaryDirectory(prefix="forecast-fit-") as tmp:
        src, dst = Path(tmp) / "jobs.pickle", Path(tmp) / "results.pickle"
        src.write_bytes(pickle.dumps(jobs, protocol=pickle.HIGHEST_PROTOCOL))
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), path]) if path else str(ROOT)}
        cmd = [sys.executable, "-m", "analytics.forecast.workers", "--jobs", str(n_jobs), str(src), str(dst)]
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        tail: deque[str] = deque(maxlen=20)
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if line.startswith(PROGRESS):
                    step = json.loads(line[len(PROGRESS) :])
                    say(int(step["done"]), int(step["total"]), str(step["message"]))
                elif line.strip():
                    tail.append(line.rstrip())
                    log.debug("fit child: %s", line.rstrip())
            code = proc.wait()
        except BaseException:  # the caller was interrupted: stop the child and its pool (its own process group)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        if code != 0 or not dst.exists():
            raise RuntimeError(f"forecast workers failed (exit {code}): " + " | ".join(list(tail)[-3:]))
        return pickle.loads(dst.read_bytes())


def fit_series(job: Job) -> Result:
    """A cluster task: one series through :func:`~analytics.forecast.engine.run_job` (a batch of one)."""
    result = run_job(job)
    store._fault(FAULT_POINT)  # noqa: SLF001 - the tests' crash hook
    return result


def fit_on_cluster(jobs: list[Job], *, cluster: str, progress: FitProgress) -> list[Result]:
    """``jobs`` fitted one task per series on the Dask cluster ``cluster`` (local:N or a
    scheduler address; a local cluster's workers never run the caller's ``__main__``:
    analytics.cluster). A worker that dies is replaced and its series refitted by the
    engine; a series that keeps failing fails the run in one line before anything is stored."""
    from analytics import cluster as engine  # noqa: PLC0415 - distributed is heavy; only --cluster needs it

    if not jobs:
        return []
    import distributed  # noqa: PLC0415 - engine.connect checks it imports

    results: list[Result | None] = [None] * len(jobs)
    with engine.connect(cluster) as client:
        tag = uuid.uuid4().hex  # keys unique to this run: another run may share the scheduler
        futures = client.map(fit_series, jobs, pure=False, key=[f"forecast-{i}-{tag}" for i in range(len(jobs))])
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for done, future in enumerate(distributed.as_completed(futures), 1):
                result = future.result()
                results[index[future.key]] = result
                progress(done, len(jobs), describe(result))
        except Exception as exc:
            client.cancel(futures)
            raise engine.ClusterError(
                f"forecast on the cluster failed, nothing stored: {engine.one_line(exc)}"
            ) from exc
    return [r for r in results if r is not None]


def _exit_with(parent: int) -> None:
    """Watch the caller (a daemon thread): when it is gone (a stopped server), nobody will
    read the results, so end this process and its pool at once."""
    while os.getppid() == parent:
        time.sleep(1.0)
    if os.getpgid(0) == os.getpid():  # started by fit(): its own process group holds the pool
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(3)


def _run(src: Path, dst: Path, *, n_jobs: int) -> int:
    jobs: list[Job] = pickle.loads(src.read_bytes())
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="exit-with-caller", daemon=True).start()
    parts = shards(jobs, n_jobs=n_jobs)
    results: dict[int, list[Result]] = {}
    done = 0
    # forkserver: workers do not inherit this process's threads (BLAS pools); fork is unsafe with them.
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=max(1, min(n_jobs, len(parts))), mp_context=ctx) as pool:
        futures = {pool.submit(run_batch, part): i for i, part in enumerate(parts)}
        for future in as_completed(futures):
            batch = future.result()
            results[futures[future]] = batch
            done += len(batch)
            step = {"done": done, "total": len(jobs), "message": describe(batch[-1])}
            print(PROGRESS + json.dumps(step), file=sys.stderr, flush=True)
    tmp = dst.with_name(dst.name + ".tmp")
    ordered = [r for i in range(len(parts)) for r in results[i]]
    tmp.write_bytes(pickle.dumps(ordered, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, dst)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.forecast.workers", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("src", type=Path, help="pickle of the list of engine.Job")
    parser.add_argument("dst", type=Path, help="where the list of engine.Result is written")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    return _run(args.src, args.dst, n_jobs=args.jobs)


if __name__ == "__main__":
    sys.exit(main())
