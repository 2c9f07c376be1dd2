"""``pipeline.refresh``: daily + hourly + capacity outlook, unchanged series skipped, no
writer lock while fitting, and fit workers that never import the caller's ``__main__``
(issue 17: under ``streamlit run`` that module is app.py)."""

from __future__ import annotations

import os
import subprocess
import sys
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
    out = subprocess.run([sys.executable, "-c", DRIVER, str(fake_app), str(loaded)], cwd=REPO, capture_output=True,
                         text=True, env={**fast_env, "SENTINEL_DIR": str(sentinels)}, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "20"  # 4 regions x 5 series, fitted by 2 worker processes
    assert sorted(p.name for p in sentinels.iterdir()) == [], "a fit worker imported the caller's __main__ (app.py)"


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
