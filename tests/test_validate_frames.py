"""The v1 validation rules on tiny frames: no file, no warehouse.

``check_records`` is the transform behind every load; here each bad value of
test_ingest_validation.BAD_ROWS goes through it in a three-row frame, and the good and
quarantined rows are compared with ``assert_frame_equal``. The same cases through real
files and DuckDB (quarantine table, manifest, counts) run in the full suite (slow).
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_ingest_validation import BAD_ROWS

from analytics.ingest import IngestSettings, plausible_window
from analytics.ingest.validate import bad_records, check_records, good_records
from tests.conftest import V1_COLUMNS, record

NOW = dt.datetime(2026, 3, 20, 12)
COLUMNS = [c for c in V1_COLUMNS if c not in ("plan_id", "imsi", "imei")]  # the columns these cases write
CELLS = pl.LazyFrame({"cell_id": ["N1", "N2", "S1"], "region": ["North", "North", "South"]})


def _raw(rows: list[dict]) -> pl.LazyFrame:
    """What the v1 reader yields: the file's columns as text and ``source_line`` (header is line 1)."""
    frame = pl.DataFrame([{c: r.get(c, "") for c in COLUMNS} for r in rows], schema=dict.fromkeys(COLUMNS, pl.String))
    return frame.with_columns(source_line=pl.int_range(2, frame.height + 2, dtype=pl.Int64)).lazy()


def _check(rows: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    checked = check_records(
        _raw(rows),
        cells=CELLS,
        timezone="UTC",
        home_country="GB",
        currency="GBP",
        window=plausible_window(IngestSettings(), now=NOW),
    )
    return good_records(checked, load_id=7).collect(), bad_records(checked, load_id=7, source_file="x.csv").collect()


@pytest.mark.parametrize(("reason", "change"), BAD_ROWS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD_ROWS)])
def test_each_rule_gives_its_reason_and_keeps_the_good_rows(reason, change):
    good, bad = _check([record(record_id="good1"), record(**{"record_id": "bad", **change}), record(record_id="good2")])
    assert_frame_equal(
        bad.select("load_id", "source_file", "source_line", "reason"),
        pl.DataFrame(
            {"load_id": [7], "source_file": ["x.csv"], "source_line": [3], "reason": [reason]},
            schema={"load_id": pl.Int64, "source_file": pl.String, "source_line": pl.Int64, "reason": pl.String},
        ),
    )
    assert json.loads(bad["raw"][0])["record_id"] in ({"bad", None, ""} if "record_id" in change else {"bad"})
    assert good["record_id"].to_list() == ["good1", "good2"]


def test_a_good_row_is_typed_as_the_records_table():
    good, bad = _check([record(record_id=" r1 ", duration_s="90", charge="0.25", cell_id="S1")])
    assert bad.is_empty()
    row = good.select("record_id", "start_at", "service", "duration_s", "cell_id", "region", "load_id", "source_line")
    assert_frame_equal(
        row,
        pl.DataFrame(
            {
                "record_id": ["r1"],
                "start_at": [dt.datetime(2026, 3, 10, 12)],
                "service": ["voice"],
                "duration_s": [90],
                "cell_id": ["S1"],
                "region": ["South"],
                "load_id": [7],
                "source_line": [2],
            },
            schema_overrides={"duration_s": pl.Int32, "load_id": pl.Int64, "source_line": pl.Int64},
        ),
        check_dtypes=False,  # start_at's time unit and zone are the records table's concern
    )
    assert good["duration_s"].dtype == pl.Int32


def test_no_rows_keep_both_schemas():
    good, bad = _check([])
    assert good.is_empty() and bad.is_empty()
    full_good, full_bad = _check([record()])
    assert good.schema == full_good.schema and bad.schema == full_bad.schema
