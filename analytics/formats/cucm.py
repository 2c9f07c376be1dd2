"""Cisco Unified Communications Manager CDR flat files onto cdr-extract v1.

Layout (Cisco "CDR Analysis and Reporting" / CDR field descriptions): comma-separated,
strings quoted; line 1 the field names, line 2 their types (``INTEGER``,
``VARCHAR(50)``, ``UNIQUEIDENTIFIER``); then one CDR per line. Exports without the
name row (type row first) are read with the documented field order (``FIELDS``; older
releases write a prefix of it). CMR files (call management records: voice quality,
no calls) are recognised and refused with a message.

Mapping (one output row per CDR line):
* record_id = ``globalCallID_callManagerId-globalCallID_callId-origLegCallIdentifier-
  destLegIdentifier``: the global call id names the call, and a call that was
  transferred or conferenced writes several CDRs with that same id, one per leg pair;
* start_time = ``dateTimeOrigination`` (UTC epoch seconds) as ``...Z``;
* msisdn = ``callingPartyNumber``, other_party = ``finalCalledPartyNumber``
  (``originalCalledPartyNumber`` when empty), direction ``out``: a CUCM CDR is written
  from the calling party's side;
* duration_s = ``duration`` (connected seconds, 0 when never connected);
* disposition from ``dateTimeConnect`` and the Q.850 cause (``destCause_value``, else
  ``origCause_value``): connected calls are ``answered``, or ``dropped`` for a failure
  cause (``DROP_CAUSES``); never connected: 17/21 ``busy``, 16/18/19/20/31 and 0
  (caller gave up) ``no_answer``, anything else ``failed``;
* service ``video`` when a video codec was negotiated, else ``voice``; no cell
  (``--region``); no billed charge.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from analytics.formats._common import (
    FormatError,
    FormatOptions,
    empty_frame,
    epoch_time,
    finish,
    head_lines,
    require_region,
    scan_strings,
    split_csv_line,
)

HAS_CHARGE = False
FIELDS = [
    "cdrRecordType",
    "globalCallID_callManagerId",
    "globalCallID_callId",
    "origLegCallIdentifier",
    "dateTimeOrigination",
    "origNodeId",
    "origSpan",
    "origIpAddr",
    "callingPartyNumber",
    "callingPartyUnicodeLoginUserID",
    "origCause_location",
    "origCause_value",
    "origPrecedenceLevel",
    "origMediaTransportAddress_IP",
    "origMediaTransportAddress_Port",
    "origMediaCap_payloadCapability",
    "origMediaCap_maxFramesPerPacket",
    "origMediaCap_g723BitRate",
    "origVideoCap_Codec",
    "origVideoCap_Bandwidth",
    "origVideoCap_Resolution",
    "origVideoTransportAddress_IP",
    "origVideoTransportAddress_Port",
    "origRSVPAudioStat",
    "origRSVPVideoStat",
    "destLegIdentifier",
    "destNodeId",
    "destSpan",
    "destIpAddr",
    "originalCalledPartyNumber",
    "finalCalledPartyNumber",
    "finalCalledPartyUnicodeLoginUserID",
    "destCause_location",
    "destCause_value",
    "destPrecedenceLevel",
    "destMediaTransportAddress_IP",
    "destMediaTransportAddress_Port",
    "destMediaCap_payloadCapability",
    "destMediaCap_maxFramesPerPacket",
    "destMediaCap_g723BitRate",
    "destVideoCap_Codec",
    "destVideoCap_Bandwidth",
    "destVideoCap_Resolution",
    "destVideoTransportAddress_IP",
    "destVideoTransportAddress_Port",
    "destRSVPAudioStat",
    "destRSVPVideoStat",
    "dateTimeConnect",
    "dateTimeDisconnect",
    "lastRedirectDn",
    "pkid",
    "originalCalledPartyNumberPartition",
    "callingPartyNumberPartition",
    "finalCalledPartyNumberPartition",
    "lastRedirectDnPartition",
    "duration",
    "origDeviceName",
    "destDeviceName",
    "origCallTerminationOnBehalfOf",
    "destCallTerminationOnBehalfOf",
    "origCalledPartyRedirectOnBehalfOf",
    "lastRedirectRedirectOnBehalfOf",
    "origCalledPartyRedirectReason",
    "lastRedirectRedirectReason",
    "destConversationId",
    "globalCallId_ClusterID",
    "joinOnBehalfOf",
    "comment",
    "authCodeDescription",
    "authorizationLevel",
    "clientMatterCode",
    "origDTMFMethod",
    "destDTMFMethod",
    "callSecuredStatus",
    "origConversationId",
    "origMediaCap_Bandwidth",
    "destMediaCap_Bandwidth",
    "authorizationCodeValue",
    "outpulsedCallingPartyNumber",
    "outpulsedCalledPartyNumber",
    "origIpv4v6Addr",
    "destIpv4v6Addr",
    "origVideoCap_Codec_Channel2",
    "origVideoCap_Bandwidth_Channel2",
    "origVideoCap_Resolution_Channel2",
    "origVideoTransportAddress_IP_Channel2",
    "origVideoTransportAddress_Port_Channel2",
    "origVideoChannel_Role_Channel2",
    "destVideoCap_Codec_Channel2",
    "destVideoCap_Bandwidth_Channel2",
    "destVideoCap_Resolution_Channel2",
    "destVideoTransportAddress_IP_Channel2",
    "destVideoTransportAddress_Port_Channel2",
    "destVideoChannel_Role_Channel2",
    "IncomingProtocolID",
    "IncomingProtocolCallRef",
    "OutgoingProtocolID",
    "OutgoingProtocolCallRef",
    "currentRoutingReason",
    "origRoutingReason",
    "lastRedirectingRoutingReason",
    "huntPilotPartition",
    "huntPilotDN",
    "calledPartyPatternUsage",
    "IncomingICID",
    "IncomingOrigIOI",
    "IncomingTermIOI",
    "OutgoingICID",
    "OutgoingOrigIOI",
    "OutgoingTermIOI",
    "outpulsedOriginalCalledPartyNumber",
    "outpulsedLastRedirectingNumber",
    "wasCallQueued",
    "totalWaitTimeInQueue",
    "callingPartyNumber_uri",
    "originalCalledPartyNumber_uri",
    "finalCalledPartyNumber_uri",
    "lastRedirectDn_uri",
    "mobileCallingPartyNumber",
    "finalMobileCalledPartyNumber",
    "origMobileDeviceName",
    "destMobileDeviceName",
    "origMobileCallDuration",
    "destMobileCallDuration",
    "mobileCallType",
    "originalCalledPartyPattern",
    "finalCalledPartyPattern",
    "lastRedirectingPartyPattern",
    "huntPilotPattern",
    "origDeviceType",
    "destDeviceType",
    "origDeviceSessionID",
    "destDeviceSessionID",
]
OUTPUT = (
    "record_id",
    "start_time",
    "msisdn",
    "other_party",
    "service",
    "direction",
    "duration_s",
    "cell_id",
    "charge",
    "disposition",
)
CMR_MARKERS = ("numberPacketsSent", "directoryNum", "varVQMetrics")
BUSY_CAUSES = (17, 21)
NO_ANSWER_CAUSES = (0, 16, 18, 19, 20, 31)
DROP_CAUSES = (27, 38, 41, 42, 47, 102, 111, 127)
_TYPE = re.compile(r"^(INTEGER|BIGINT|SMALLINT|STRING|TEXT|UNIQUEIDENTIFIER|(N?VAR)?CHAR\(\d+\))$", re.I)
# A CDR row has 100+ fields; a CMR row (headerless, type row first) about 20 to 50.
MIN_CDR_FIELDS = 60


def _is_type_row(fields: list[str]) -> bool:
    return len(fields) > 3 and all(_TYPE.match(f.strip()) for f in fields)


def layout(lines: list[str]) -> tuple[str, bool] | None:
    """("cdr" | "cmr", has_name_row) for a CUCM flat file, None when it is not one."""
    if len(lines) < 1:
        return None
    first = split_csv_line(lines[0])
    if first and first[0].strip() == "cdrRecordType":
        kind = "cmr" if any(m in first for m in CMR_MARKERS) else "cdr"
        return kind, True
    if _is_type_row(first):
        return ("cdr" if len(first) >= MIN_CDR_FIELDS else "cmr"), False
    return None


def sniff(lines: list[str]) -> bool:
    return layout(lines) is not None


def read(path: Path, opts: FormatOptions) -> pl.LazyFrame:
    lines = head_lines(path, 2)
    found = layout(lines)
    if found is None:
        raise FormatError(f"{path.name}: not a CUCM CDR file (no cdrRecordType header or type row)")
    kind, has_names = found
    if kind == "cmr":
        raise FormatError(
            f"{path.name}: CUCM CMR file (call quality records, no calls): not loaded; give the CDR files"
        )
    region = require_region("cucm", opts, path)
    if has_names:
        names = [n.strip() for n in split_csv_line(lines[0])]
        skip = 2  # name row + type row
    else:
        count = len(split_csv_line(lines[0]))
        names = FIELDS[:count] + [f"extra_{i}" for i in range(count - len(FIELDS))]
        skip = 1  # type row
    if len(head_lines(path, skip + 1)) <= skip:
        return empty_frame(OUTPUT, region=region)
    lf = scan_strings(path, names=names, skip_lines=skip)
    return finish(lf, _columns(names), region=region)


def _columns(names: list[str]) -> dict[str, pl.Expr]:
    def col(name: str) -> pl.Expr:
        return pl.col(name).str.strip_chars() if name in names else pl.lit(None, dtype=pl.String)

    record_id = pl.concat_str(
        [
            col("globalCallID_callManagerId"),
            col("globalCallID_callId"),
            col("origLegCallIdentifier"),
            col("destLegIdentifier"),
        ],
        separator="-",
        ignore_nulls=True,
    )
    called = pl.coalesce(col("finalCalledPartyNumber"), col("originalCalledPartyNumber"))
    video = (col("origVideoCap_Codec").fill_null("0") != "0") | (col("destVideoCap_Codec").fill_null("0") != "0")
    return {
        "record_id": record_id,
        "start_time": epoch_time(col("dateTimeOrigination")),
        "msisdn": col("callingPartyNumber"),
        "other_party": called,
        "service": pl.when(video).then(pl.lit("video")).otherwise(pl.lit("voice")),
        "direction": pl.lit("out"),
        "duration_s": col("duration"),
        "cell_id": pl.lit(None, dtype=pl.String),
        "charge": pl.lit(None, dtype=pl.String),
        "disposition": disposition(col("dateTimeConnect"), col("destCause_value"), col("origCause_value")),
    }


def disposition(connect: pl.Expr, dest_cause: pl.Expr, orig_cause: pl.Expr) -> pl.Expr:
    """Contract disposition from the connect time and the Q.850 cause codes."""
    connected = connect.cast(pl.Int64, strict=False).fill_null(0) > 0
    d = dest_cause.cast(pl.Int64, strict=False).fill_null(0)
    cause = pl.when(d != 0).then(d).otherwise(orig_cause.cast(pl.Int64, strict=False).fill_null(0))
    return (
        pl.when(connected & cause.is_in(DROP_CAUSES))
        .then(pl.lit("dropped"))
        .when(connected)
        .then(pl.lit("answered"))
        .when(cause.is_in(BUSY_CAUSES))
        .then(pl.lit("busy"))
        .when(cause.is_in(NO_ANSWER_CAUSES))
        .then(pl.lit("no_answer"))
        .otherwise(pl.lit("failed"))
    )
