"""A cluster share's scratch DuckDB (analytics/partitioned.py), run in-process: it spills
to a folder of its own, never to the worker's working directory, and leaves nothing."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from analytics import partitioned, store
from analytics.ingest import ingest_files
from tests.conftest import record, write_v1


def _spill_dir(con: duckdb.DuckDBPyConnection) -> dict:
    where = store.scalar(con, "select current_setting('temp_directory')")
    return {"where": where, "exists": os.path.isdir(where)}


def test_a_share_spills_to_its_own_folder_and_removes_it(tmp_path, refs, warehouse, monkeypatch):
    ingest_files([write_v1(tmp_path / "a.csv", [record()])], warehouse=warehouse, **refs)
    monkeypatch.chdir(tmp_path)  # the worker's working directory
    with store.reader(warehouse) as con:
        lake_files = store.fetch(con, "@partitioned_lake_files", {"tbl": "records"})
    share = partitioned.Share(
        fn=_spill_dir, kwargs={}, part=0, parts=1, warehouse=str(warehouse), lake_files=lake_files
    )
    seen = partitioned.run_share(share)
    assert seen["exists"] and not Path(seen["where"]).is_relative_to(tmp_path)
    assert not os.path.exists(seen["where"])  # removed with the task
    assert not (tmp_path / ".tmp").exists()
