"""Masking in exports for every role, the quarantine's raw JSON, keyed pseudonyms,
k-anonymity suppression and upload checks."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import privacy
from analytics.security import roles

NUM, OTHER, IMSI, IMEI = "447700900123", "447700900456", "234150000000001", "350000000000009"
RECORDS = pl.DataFrame(
    {"record_id": ["r1"], "msisdn": [NUM], "other_party": [OTHER], "imsi": [IMSI], "imei": [IMEI], "duration_s": [60]}
)
QUARANTINE = pl.DataFrame(
    {
        "load_id": [1],
        "reason": ["bad_enum:service"],
        "raw": [json.dumps({"msisdn": NUM, "other_party": "+44 7700 900456", "service": "voyce"})],
    }
)
AGGREGATE = pl.DataFrame({"region": ["North"], "records": [12], "revenue": [3.5]})
SEGMENTS = pl.DataFrame({"msisdn": [NUM, "p_0123456789abcdef0123"], "segment": ["heavy", "light"]})


def _clear_values(df: pl.DataFrame) -> str:
    return df.write_csv()


@pytest.fixture(autouse=True)
def hmac_key(monkeypatch):
    monkeypatch.setenv("ANALYTICS_HMAC_KEY", "secret-for-tests")


@pytest.mark.parametrize("role", roles.ROLES)
@pytest.mark.parametrize("table", [RECORDS, QUARANTINE, SEGMENTS], ids=["records", "quarantine", "segments"])
def test_exports_never_hold_numbers_for_roles_without_see_numbers(role: str, table: pl.DataFrame) -> None:
    out = privacy.protect_export(table, mode=roles.export_mode(role))
    text = out.write_csv() + out.write_ndjson()
    numbers = [NUM, OTHER, IMSI, IMEI, "7700 900456"]
    if roles.can(role, "see_numbers"):
        assert_frame_equal(out, table)
    else:
        assert not any(n in text for n in numbers), (role, text)
        assert out.height == table.height and out.columns == table.columns


def test_marketing_export_is_a_stable_keyed_hash() -> None:
    a = privacy.protect_export(RECORDS, mode="pseudonym")
    b = privacy.protect_export(RECORDS.with_columns(pl.lit(7).alias("month")), mode="pseudonym")
    assert a["msisdn"][0] == b["msisdn"][0] == privacy.pseudonym(NUM, b"secret-for-tests")
    assert a["msisdn"][0].startswith("p_") and NUM not in a["msisdn"][0]
    assert a["msisdn"][0] != a["other_party"][0]
    # already pseudonymised values are not hashed twice
    seg = privacy.protect_export(SEGMENTS, mode="pseudonym")
    assert seg["msisdn"][1] == "p_0123456789abcdef0123"


def test_pseudonym_depends_on_key(monkeypatch) -> None:
    first = privacy.protect_export(RECORDS, mode="pseudonym")["msisdn"][0]
    monkeypatch.setenv("ANALYTICS_HMAC_KEY", "another")
    assert privacy.protect_export(RECORDS, mode="pseudonym")["msisdn"][0] != first


def test_pseudonym_without_key_is_refused(monkeypatch) -> None:
    monkeypatch.delenv("ANALYTICS_HMAC_KEY")
    with pytest.raises(privacy.MissingSecretError, match="ANALYTICS_HMAC_KEY"):
        privacy.protect_export(RECORDS, mode="pseudonym")


def test_masked_keeps_last_three() -> None:
    out = privacy.protect_export(RECORDS, mode="mask")
    assert out.row(0, named=True) == {
        "record_id": "r1",
        "msisdn": "*********123",
        "other_party": "*********456",
        "imsi": "************001",
        "imei": "************009",
        "duration_s": 60,
    }


def test_aggregates_unchanged_in_every_mode() -> None:
    for mode in ("clear", "mask", "pseudonym"):
        assert_frame_equal(privacy.protect_export(AGGREGATE, mode=mode), AGGREGATE)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"msisdn": "447700900123", "service": "voyce", "duration_s": "60"}',
            '{"msisdn": "*********123", "service": "voyce", "duration_s": "60"}',
        ),
        ('{"caller": "+447700900123"}', '{"caller": "**********123"}'),  # a number under an unknown key
        ("not json 447700900123, 60", "not json *********123, 60"),
        ('["447700900123"]', '["*********123"]'),
        (None, None),
    ],
)
def test_mask_raw(raw, expected) -> None:
    assert privacy.mask_raw(raw) == expected


def test_mask_frame_empty_keeps_schema() -> None:
    empty = RECORDS.clear()
    assert privacy.mask_frame(empty, ["msisdn", "raw"]).schema == empty.schema


def test_suppress_small() -> None:
    df = pl.DataFrame(
        {"region": ["A", "B", "C"], "subscribers": [4, 5, 0], "records": [40, 50, 0], "label": ["x", "y", "z"]}
    )
    out = privacy.suppress_small(df, "subscribers", 5)
    assert out.rows() == [("A", None, None, "x"), ("B", 5, 50, "y"), ("C", None, None, "z")]
    lazy = privacy.suppress_small(df.lazy(), "subscribers", 5, columns=["records"]).collect()
    assert lazy["subscribers"].to_list() == [4, 5, 0] and lazy["records"].to_list() == [None, 50, None]
    assert privacy.suppress_small(df.clear(), "subscribers", 5).schema == df.schema


@pytest.mark.parametrize(
    ("name", "data", "ok"),
    [
        ("calls.csv", b"record_id,start_time\nr1,2026-03-01T00:00:00Z\n", "calls.csv"),
        ("../../etc/x y.csv", b"a,b\n", "x_y.csv"),
        ("calls.csv.gz", gzip.compress(b"a,b\n", mtime=0), "calls.csv.gz"),
        ("calls.parquet", b"PAR1....PAR1", "calls.parquet"),
        ("calls.exe", b"a,b\n", "not an extract"),
        ("calls.csv.gz", b"a,b\n", "not csv.gz"),
        ("calls.parquet", b"a,b\n", "not parquet"),
        ("calls.csv", b"a,b\x00\n", "binary"),
        ("calls.csv", b"\xff\xfea,b\n", "not UTF-8"),
        ("calls.csv", b"", "empty"),
        ("calls.csv", b"a" * 1_100_000, "over the 1 MB limit"),
    ],
)
def test_check_upload(name: str, data: bytes, ok: str) -> None:
    if not ok.startswith(("not ", "binary", "empty", "over ")):
        assert privacy.check_upload(name, data, max_mb=1) == ok
    else:
        with pytest.raises(privacy.UploadRefused, match=ok):
            privacy.check_upload(name, data, max_mb=1)
