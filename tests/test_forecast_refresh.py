"""``pipeline.refresh``: daily + hourly + capacity outlook, unchanged series skipped, no
writer lock while fitting, and fit workers that never import the caller's ``__main__``
(issue 17: under ``streamlit run`` that module is app.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytics import store
from analytics.ingest import ingest_files
from tests.conftest import REPO, write_v1
from tests.test_forecast_cli import _rows

FAST = '[forecast]\nmodels_daily = ["seasonal_naive", "ets"]\nmodels_hourly = ["seasonal_naive"]\nbacktest_windows = 2\nn_jobs = 2\n'

# What `streamlit run app.py` does: the script runs as a fresh module registered as
# sys.modules["__main__"] whose __file__ is the app. Then the forecast refresh runs.
DRIVER = """
import sys, types
main = types.ModuleType("__main__")
main.__file__ = sys.argv[1]
sys.modules["__main__"] = main
from analytics.forecast import pipeline
done = pipeline.refresh(sys.argv[2], freqs=("daily",), n_jobs=2)
print(done.series_refit)
"""
FAKE_APP = """
import os, pathlib
pathlib.Path(os.environ["SENTINEL_DIR"], str(os.getpid())).touch()  # imported in this process
"""


@pytest.fixture
def loaded(tmp_path, refs, warehouse) -> Path:
    ingest_files([write_v1(tmp_path / "a.csv", _rows(45))], warehouse=warehouse, cells=refs["cells"])
    return warehouse


@pytest.fixture
def fast_env(tmp_path, monkeypatch) -> dict[str, str]:
    from analytics.config import settings

    config = tmp_path / "analytics.toml"
    config.write_text(FAST)
    monkeypatch.setenv("ANALYTICS_CONFIG", str(config))
    settings.cache_clear()
    yield {**os.environ, "ANALYTICS_CONFIG": str(config), "PYTHONPATH": str(REPO)}
    settings.cache_clear()


def _count(warehouse: Path, query: str) -> int:
    with store.reader(warehouse) as con:
        return store.scalar(con, query)


@pytest.mark.slow
def test_fit_workers_never_import_the_callers_main(loaded, fast_env, tmp_path):
    sentinels = tmp_path / "imported"
    sentinels.mkdir()
    fake_app = tmp_path / "app.py"
    fake_app.write_text(FAKE_APP)
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, str(fake_app), str(loaded)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**fast_env, "SENTINEL_DIR": str(sentinels)},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "20"  # 4 regions x 5 series, fitted by 2 worker processes
    assert sorted(p.name for p in sentinels.iterdir()) == [], "a fit worker imported the caller's __main__ (app.py)"


@pytest.mark.slow
def test_refresh_stores_daily_hourly_and_capacity_and_skips_unchanged(loaded, fast_env):
    from analytics.forecast import pipeline

    steps: list[tuple[float, str]] = []
    writes: list[int] = []

    def progress(fraction: float, message: str) -> None:
        steps.append((fraction, message))
        if "series fitted" in message and not writes:  # while fitting: another process writes the warehouse
            code = f"from analytics import store\nwith store.writer({str(loaded)!r}) as con:\n    con.execute('select 1')\n"
            writes.append(subprocess.run([sys.executable, "-c", code], cwd=REPO, env=fast_env, timeout=60).returncode)

    done = pipeline.refresh(loaded, progress=progress, n_jobs=1)
    assert writes == [0], "a writer in another process could not write while the series were fitted"
    assert set(done.runs) == {"daily", "hourly"} and done.series_refit == done.series_total == 40
    assert _count(loaded, "select count(distinct unique_id) from forecast_values where freq = 'daily'") == 20
    assert _count(loaded, "select count(distinct unique_id) from forecast_values where freq = 'hourly'") == 20
    assert done.capacity_rows == _count(loaded, "select count(*) from capacity_outlook") > 0
    assert _count(loaded, "select count(*) from capacity_daily where source = 'hourly'") > 0
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("hourly: 20 of 20 series fitted" in m for _, m in steps)

    again = pipeline.refresh(loaded, n_jobs=1)
    assert again.series_refit == 0 and again.series_total == 40


KILLED_DRIVER = """
import os, sys
from analytics.forecast import pipeline
print(os.getpid(), flush=True)
pipeline.refresh(sys.argv[1], freqs=("daily",), n_jobs=2, progress=lambda f, m: print(m, flush=True))
"""


def _descendants(pid: int) -> set[int]:
    children = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(int(p.name)) == pid}
    return children.union(*(_descendants(c) for c in children))


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.mark.slow
def test_fit_processes_end_with_their_caller(loaded, fast_env, tmp_path):
    """A stopped server (or CLI) must not leave the fit child and its pool burning CPU."""
    config = tmp_path / "slow.toml"
    config.write_text(
        '[forecast]\nmodels_daily = ["seasonal_naive", "ets", "sarima"]\nbacktest_windows = 3\nn_jobs = 2\n'
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", KILLED_DRIVER, str(loaded)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**fast_env, "ANALYTICS_CONFIG": str(config)},
    )
    try:
        assert driver.stdout is not None
        driver.stdout.readline()
        for line in driver.stdout:
            if "series fitted" in line:
                break
        fit_processes = _descendants(driver.pid)
        assert len(fit_processes) >= 3  # the child, its forkserver, its workers
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_ppid(p) is not None for p in fit_processes):
        time.sleep(0.2)
    assert not [p for p in fit_processes if _ppid(p) is not None], "fit processes outlived their caller"
