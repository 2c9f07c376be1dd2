"""The distributed engine (Dask distributed) behind ``--cluster SPEC``.

``SPEC`` is ``local:N`` (N worker processes on this machine, loopback only, started for
the run and stopped after it) or the address of a running scheduler
(``tcp://host:8786``), whose workers the run borrows and leaves running. The engine
retries a task whose worker died (``distributed.scheduler.allowed-failures``, 3 by
default); a task that keeps killing its workers fails the run.

Workers run this package's own functions (see analytics/ingest/distributed.py), so they
need the same version of the project and of Polars/DuckDB, and the paths the driver
passes them (extracts, the warehouse's lake folder) must name the same files on every
machine: docs/scale.md.
"""

from __future__ import annotations

import logging
import re
import sys
import types
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

log = logging.getLogger(__name__)

LOCAL = re.compile(r"^local:(\d+)$")
ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")


class ClusterError(RuntimeError):
    """A cluster that cannot be started or reached, or a run it could not finish (one line)."""


def _distributed() -> Any:
    try:
        import distributed  # noqa: PLC0415 - heavy; only ``--cluster`` runs need it
    except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
        raise ClusterError("--cluster needs Dask distributed: pip install 'dask[distributed]==2026.8.0'") from exc
    return distributed


def parse(spec: str) -> tuple[str, int | str]:
    """``("local", N)`` or ``("address", "tcp://host:port")``; ClusterError says what is wrong."""
    spec = spec.strip()
    if m := LOCAL.match(spec):
        n = int(m.group(1))
        if n < 1:
            raise ClusterError(f"--cluster {spec}: a local cluster needs at least 1 worker (local:N, N >= 1)")
        return "local", n
    if ADDRESS.match(spec):
        return "address", spec
    raise ClusterError(
        f"--cluster {spec!r}: expected local:N (N worker processes here) or a scheduler address such as tcp://host:8786"
    )


@contextmanager
def plain_main() -> Iterator[None]:
    """A bare ``__main__`` for as long as the block lasts.

    A local cluster's nanny spawns its worker processes (and respawns one that died), and
    ``multiprocessing`` spawn re-runs the parent's ``__main__`` file in every child. Under
    ``streamlit run``, or in a process that ran Streamlit's AppTest, that module is an app
    script: each worker would run the app and die ("Nanny failed to start"). Workers run
    this package's functions only, so they need nothing from ``__main__``.
    """
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


@contextmanager
def local_cluster(n_workers: int, **options: Any) -> Iterator[Any]:
    """A ``distributed.LocalCluster`` of ``n_workers`` processes on loopback, closed when the block ends."""
    distributed = _distributed()
    with plain_main():
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            **options,
        )
        try:
            yield cluster
        finally:
            cluster.close()


@contextmanager
def connect(spec: str, *, timeout: str = "60s") -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``; a local cluster is stopped when the block ends."""
    kind, value = parse(spec)
    distributed = _distributed()
    if kind == "local":
        with ExitStack() as stack:
            try:
                cluster = stack.enter_context(local_cluster(int(value), silence_logs=logging.WARNING))
            except Exception as exc:
                raise ClusterError(f"cannot start a local cluster of {value} worker(s): {one_line(exc)}") from exc
            with distributed.Client(cluster, timeout=timeout) as client:
                yield client
        return
    try:
        client = distributed.Client(str(value), timeout=timeout)
    except Exception as exc:
        raise ClusterError(f"cannot reach the scheduler at {value}: {one_line(exc)}") from exc
    try:
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=timeout)
        yield client
    finally:
        client.close()


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__
