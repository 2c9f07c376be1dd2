"""Format detection: each layout is recognised from its first lines; garbage is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.formats import FORMATS, FormatError, detect

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"
FIX = REPO / "tests" / "fixtures" / "formats"


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (SAMPLES / "freeswitch" / "kxingyunliushui_Master.csv", "freeswitch"),
        (SAMPLES / "cucm" / "cdr-examples_cdr.txt", "cucm"),
        (SAMPLES / "cucm" / "test_fixtures_sample_cdr.txt", "cucm"),
        (SAMPLES / "cucm" / "cdr-examples_cmr.txt", "cucm"),  # recognised, refused by read()
        (SAMPLES / "bandicoot" / "A.csv", "bandicoot"),
        (SAMPLES / "bandicoot" / "B.csv", "bandicoot"),
        (FIX / "asterisk_master.csv", "asterisk"),
        (FIX / "asterisk_master_newcdr.csv", "asterisk"),
        (FIX / "freeswitch_default.csv", "freeswitch"),
        (FIX / "cucm_cdr.txt", "cucm"),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_detects_each_format(path: Path, fmt: str) -> None:
    assert detect(path) == fmt


def test_v1_header_in_any_order(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("charge,cell_id,duration_s,direction,service,other_party,msisdn,start_time,record_id,imsi\n")
    assert detect(f) == "v1"


@pytest.mark.parametrize(
    "content",
    [
        "hello world\nthis is not a cdr\n",
        "a,b,c\n1,2,3\n",
        # a client layout (cdr_custom, 19 fields) needs a mapping, it is not Master.csv
        (SAMPLES / "asterisk-custom" / "kelysaina_Master_custom.csv").read_text(),
        # v1 header missing required columns
        "record_id,start_time,msisdn\n1,2026-01-01T00:00:00Z,447700900001\n",
    ],
    ids=["prose", "other-csv", "cdr_custom", "partial-v1"],
)
def test_unrecognisable_file_lists_known_formats(tmp_path: Path, content: str) -> None:
    f = tmp_path / "garbage.csv"
    f.write_text(content)
    with pytest.raises(FormatError) as err:
        detect(f)
    message = str(err.value)
    assert "\n" not in message
    for name in ("v1", *FORMATS):
        assert name in message


def test_empty_file_refused(tmp_path: Path) -> None:
    f = tmp_path / "empty.csv"
    f.write_text("")
    with pytest.raises(FormatError, match="empty"):
        detect(f)
