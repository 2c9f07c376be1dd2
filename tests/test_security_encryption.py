"""Encryption at rest: a warehouse written with ANALYTICS_DB_KEY cannot be read without
it (nor with another key), holds no number in clear on disk, and reads with the key."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import security_world

from analytics import store
from analytics.security import accounts, audit, db

KEY = "k3y-for-tests-only-0123456789abcdef"


@pytest.fixture
def encrypted(tmp_path: Path, refs, warehouse: Path, monkeypatch) -> Path:
    monkeypatch.setenv("ANALYTICS_DB_KEY", KEY)
    security_world.build(tmp_path, refs, warehouse)
    accounts.add_user(warehouse, "ann", role="billing", password="correct horse battery", by="t")
    audit.record(warehouse, user="ann", action="lookup", detail=f"subscriber={security_world.NUMBERS[0]}")
    return warehouse


def test_unreadable_without_key(encrypted: Path, monkeypatch) -> None:
    monkeypatch.delenv("ANALYTICS_DB_KEY")
    with pytest.raises(store.WarehouseError):
        with store.reader(encrypted):
            pass
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(encrypted), read_only=True).execute("select count(*) from records").fetchall()
    # the published snapshot is a copy of the encrypted file: just as unreadable
    with pytest.raises(store.WarehouseError):
        store.snapshot_reader(encrypted)


def test_unreadable_with_another_key(encrypted: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANALYTICS_DB_KEY", KEY[::-1])
    with pytest.raises(store.WarehouseError):
        with store.reader(encrypted):
            pass


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]


def test_no_identifier_in_clear_on_disk(encrypted: Path) -> None:
    """Every file under the warehouse's folder: the DuckDB file, its snapshots, the lake's
    Parquet files and Delta log, spill folders, and the security store (accounts, the audit
    log with looked-up numbers)."""
    files = _files_under(encrypted.parent)
    assert any(f.suffix == ".parquet" for f in files)  # the records are in the lake
    assert db.db_path(encrypted) in files
    for f in files:
        data = f.read_bytes()
        for number in security_world.NUMBERS:
            assert number.encode() not in data, f
        assert b"security_users" not in data and b"argon2id" not in data


def test_readable_with_key(encrypted: Path) -> None:
    with store.reader(encrypted) as con:
        assert store.scalar(con, "select count(*) from records") == 6
        assert sorted(store.fetch(con, "select distinct msisdn from records")["msisdn"]) == list(security_world.NUMBERS)
    assert accounts.authenticate(encrypted, "ann", "correct horse battery").ok


def test_plain_warehouse_holds_numbers_in_clear(tmp_path: Path, refs, warehouse: Path, monkeypatch) -> None:
    """The control: the same world without a key is readable bytes (the test above can fail)."""
    monkeypatch.delenv("ANALYTICS_DB_KEY", raising=False)
    security_world.build(tmp_path, refs, warehouse)
    assert any(n.encode() in warehouse.read_bytes() for n in security_world.NUMBERS)
    lake_files = [f for f in _files_under(warehouse.parent) if f.suffix == ".parquet"]
    assert any(n.encode() in f.read_bytes() for f in lake_files for n in security_world.NUMBERS)


@pytest.mark.slow
def test_a_killed_encrypted_load_leaves_no_number_in_clear(tmp_path: Path, refs, warehouse: Path, monkeypatch) -> None:
    """#19.2: with the key set, a load killed mid-transaction leaves no plaintext copy: not in
    the warehouse folder (lake files, spill), the working directory or the temp folder."""
    import gzip
    import os
    import subprocess
    import sys

    from conftest import REPO, record, write_v1

    monkeypatch.setenv("ANALYTICS_DB_KEY", KEY)
    security_world.build(tmp_path, refs, warehouse)
    secret_number = "447700955555"
    plain = write_v1(
        tmp_path / "in" / "big.csv", [record(record_id=f"k{i}", msisdn=secret_number) for i in range(3000)]
    )
    extract = plain.with_suffix(".csv.gz")
    extract.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    work, temp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    env = {
        **os.environ,
        "ANALYTICS_DB_KEY": KEY,
        "ANALYTICS_FAULT": "after_insert",
        "TMPDIR": str(temp),
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "analytics", "ingest", str(extract), "--warehouse", str(warehouse), "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr
    files = [p for folder in (warehouse.parent, work, temp) for p in _files_under(folder)]
    assert any(f.suffix == ".parquet" for f in files)
    for f in files:
        assert secret_number.encode() not in f.read_bytes(), f
