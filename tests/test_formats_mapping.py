"""Declarative client mappings (TOML): columns, value maps, times and zones, constants."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from analytics.formats import FormatError, FormatOptions, has_charge, read
from analytics.formats.mapping import load_mapping

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO.parent / "shared" / "samples" / "asterisk-custom" / "kelysaina_Master_custom.csv"
ASTERISK_CUSTOM = REPO / "mappings" / "asterisk-custom.toml"

CLIENT_CSV = """\
Call ID;When;Caller;Called;Type;Dir;Secs;Cell;Cost
c1;30/03/2024 23:30:00;447700900001;447700900002;V;O;61;N1;0,12
c2;31/03/2024 01:30:00;447700900001;447700900003;S;O;;N1;0.05
c3;31/03/2024 02:30:00;447700900002;447700900001;V;I;10;N2;0
c4;31/03/2024 12:00:00;447700900002;447700900001;X;I;5;N2;0
c5;not a date;447700900002;447700900001;V;?;5;N2;0
"""

CLIENT_TOML = """\
name = "client-x"
[source]
delimiter = ";"
[fields]
record_id = "Call ID"
start_time = "When"
msisdn = "Caller"
other_party = "Called"
service = "Type"
direction = "Dir"
duration_s = "Secs"
cell_id = "Cell"
charge = "Cost"
[constants]
currency = "EUR"
[values.service]
V = "voice"
S = "sms"
[values.direction]
O = "out"
I = "in"
[values.duration_s]
"" = "0"
[time]
formats = ["%d/%m/%Y %H:%M:%S"]
zone = "Europe/Paris"
"""


def _client(tmp_path: Path, toml: str = CLIENT_TOML) -> tuple[Path, Path]:
    data, mapping = tmp_path / "client.csv", tmp_path / "client.toml"
    data.write_text(CLIENT_CSV)
    mapping.write_text(toml)
    return data, mapping


def test_asterisk_custom_sample_every_row() -> None:
    src = list(csv.reader(SAMPLE.open(newline="")))
    out = read(SAMPLE, "mapping", FormatOptions(region="NORTH", mapping_path=ASTERISK_CUSTOM)).collect()
    assert out.height == len(src) == 14
    assert out["source_line"].to_list() == list(range(1, 15))
    assert out["record_id"].to_list() == [f"{r[16]}-{r[18]}" for r in src]
    assert out["record_id"].n_unique() == 14
    assert out["duration_s"].to_list() == [r[12] for r in src]  # billsec
    assert out["start_time"].to_list() == [r[8] for r in src]
    disp = {"ANSWERED": "answered", "NO ANSWER": "no_answer"}
    assert out["disposition"].to_list() == [disp[r[13]] for r in src]
    # endpoint directory: client1 is extension 1234, client2 is 6789
    directory = {"client1": "1234", "client2": "6789"}
    assert out["msisdn"].to_list() == [directory[r[1]] for r in src]
    assert out["other_party"].to_list() == [r[2] for r in src]
    assert set(out["direction"]) == {"out"} and set(out["service"]) == {"voice"}
    assert set(out["region"]) == {"NORTH"}


def test_client_layout_with_header_zone_and_value_maps(tmp_path: Path) -> None:
    data, mapping = _client(tmp_path)
    out = read(data, "mapping", FormatOptions(mapping_path=mapping, timezone="UTC")).collect()
    assert out.height == 5
    assert out["source_line"].to_list() == [2, 3, 4, 5, 6]
    # Paris is +01:00 before the 31 March 2024 change and +02:00 after; 02:30 did not exist
    assert out["start_time"].to_list() == [
        "2024-03-30T23:30:00+01:00",
        "2024-03-31T01:30:00+01:00",
        "31/03/2024 02:30:00",  # raw: ingest rejects it as bad_timestamp
        "2024-03-31T12:00:00+02:00",
        "not a date",
    ]
    assert out["service"].to_list() == ["voice", "sms", "voice", "X", "voice"]  # unknown stays raw
    assert out["direction"].to_list() == ["out", "out", "in", "in", "?"]
    assert out["duration_s"].to_list() == ["61", "0", "10", "5", "5"]  # "" -> "0" by value map
    assert out["charge"].to_list() == ["0,12", "0.05", "0", "0", "0"]  # not validated here
    assert set(out["currency"]) == {"EUR"}
    assert "region" not in out.columns  # cell_id is mapped
    assert has_charge("mapping", FormatOptions(mapping_path=mapping))


def test_naive_times_stay_naive_in_the_configured_zone(tmp_path: Path) -> None:
    data, mapping = _client(tmp_path)
    out = read(data, "mapping", FormatOptions(mapping_path=mapping, timezone="Europe/Paris")).collect()
    assert out["start_time"][0] == "2024-03-30T23:30:00"


def test_epoch_times_and_catch_all(tmp_path: Path) -> None:
    data = tmp_path / "e.csv"
    data.write_text(
        "id,ts,a,b,kind\n1,1711846790000,447700900001,447700900002,call\n2,x,447700900001,447700900002,sms\n"
    )
    mapping = tmp_path / "e.toml"
    mapping.write_text(
        '[fields]\nrecord_id="id"\nstart_time="ts"\nmsisdn="a"\nother_party="b"\nservice="kind"\n'
        '[constants]\ndirection="out"\nduration_s="0"\n[values.service]\ncall="voice"\n"*"="sms"\n'
        '[time]\nformats=["epoch_ms"]\n'
    )
    opts = FormatOptions(mapping_path=mapping, region="WEST")
    out = read(data, "mapping", opts).collect()
    assert out["start_time"].to_list() == ["2024-03-31T00:59:50Z", "x"]
    assert out["service"].to_list() == ["voice", "sms"]
    assert out["charge"].to_list() == [None, None] and not has_charge("mapping", opts)
    assert set(out["region"]) == {"WEST"}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[fields]\nrecord_id = "Call ID"\nfoo = "x"\n', "names no contract field: foo"),
        ('[fields]\nrecord_id = "Call ID"\n', "required contract fields not mapped: start_time"),
        ("[fields\n", "not valid TOML"),
        (
            "[source]\nheader = false\n" + CLIENT_TOML.split("[source]\n", 1)[1].replace('delimiter = ";"\n', ""),
            "needs columns",
        ),
        (CLIENT_TOML.replace('msisdn = "Caller"', 'msisdn = "Subscriber"'), "not in the file: Subscriber"),
        ("[fieldz]\n", "unknown sections: fieldz"),
    ],
    ids=["unknown-field", "missing-required", "bad-toml", "headerless-no-columns", "absent-column", "bad-section"],
)
def test_mapping_errors_say_what_is_wrong(tmp_path: Path, toml: str, message: str) -> None:
    data, mapping = _client(tmp_path, toml)
    with pytest.raises(FormatError, match=message) as err:
        read(data, "mapping", FormatOptions(mapping_path=mapping, region="R"))
    assert "\n" not in str(err.value)


def test_mapping_needs_a_file(tmp_path: Path) -> None:
    data, _ = _client(tmp_path)
    with pytest.raises(FormatError, match="--mapping"):
        read(data, "mapping", FormatOptions())
    with pytest.raises(FormatError, match="not found"):
        load_mapping(tmp_path / "nope.toml")
