"""Data quality: load manifest, quarantine, duplicates, coverage gaps and a file upload
that runs the same ingest as ``python -m analytics ingest``."""

from __future__ import annotations

import re
import time

import polars as pl
import streamlit as st

from analytics import dashboard
from pages import _shared

_shared.guard(__file__)

ALLOWED = (".csv", ".csv.gz", ".parquet")
MAX_MB = _shared.dashboard_settings().upload_max_mb

st.title("Data quality")


def upload() -> None:
    st.subheader("Load an extract")
    st.caption(
        f"A cdr-extract v1 file (or a supported source format): {', '.join(ALLOWED)}, at most {MAX_MB} MB. "
        "It goes through the same validation, quarantine and de-duplication as the batch ingest."
    )
    file = st.file_uploader("Extract file", type=["csv", "gz", "parquet"], key="dq_upload", max_upload_size=MAX_MB)
    if file is None:
        return
    name = re.sub(r"[^A-Za-z0-9._-]", "_", file.name)
    if not name.lower().endswith(ALLOWED):
        st.error(f"{file.name}: not an extract ({', '.join(ALLOWED)} expected).")
        return
    if file.size > MAX_MB * 1_000_000:
        st.error(
            f"{file.name}: {file.size / 1e6:.1f} MB is over the {MAX_MB} MB limit; use `python -m analytics ingest` for large files."
        )
        return
    if not st.button(f"Load {name}", type="primary", key="dq_load"):
        return
    from analytics.pipeline import load_and_refresh, refresh_after  # noqa: PLC0415 - only when a load is asked for

    folder = _shared.warehouse_path().parent / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{time.strftime('%Y%m%dT%H%M%S')}_{name}"
    target.write_bytes(file.getvalue())
    bar = st.progress(0.0, text=f"loading {name}...")
    try:
        report = load_and_refresh(
            [target],
            warehouse=_shared.warehouse_path(),
            marts=False,
            on_progress=lambda f, m: bar.progress(min(max(float(f), 0.0), 1.0), text=m),
        )
        result = report.ingest
    except Exception as exc:  # shown to the operator, one line
        st.error(f"The load failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return
    bar.progress(1.0, text="done")
    f = result["files"][0] if result["files"] else {}
    if f.get("status") == "refused":
        st.error(f"Refused: {f.get('error')}")
    elif f.get("status") == "already_loaded":
        st.info(f"Already loaded: {f.get('error')}")
    else:
        st.success(
            f"Loaded {result['rows_loaded']:,} of {result['rows_read']:,} rows; {result['rows_duplicate']:,} duplicates, "
            f"{result['rows_rejected']:,} rejected {result['rejects_by_reason'] or ''}. The views refresh with the new data."
        )
    if result["rows_loaded"]:  # as `python -m analytics ingest` does: the marts of the months the load changed
        with st.spinner("Refreshing billing, segments and fraud alerts for the new records..."):
            marts = refresh_after([result], warehouse=_shared.warehouse_path())
        st.caption(
            f"Marts refreshed: billing {', '.join(marts['reconciled_months']) or 'unchanged'}, segments "
            f"{', '.join(marts['segment_months']) or 'unchanged'}, {marts['fraud_alerts']:,} fraud alerts."
        )


if not _shared.has_data():
    _shared.no_data_hint()
    upload()
    st.stop()

w = _shared.window()
view = _shared.choose("Show", ["Loads", "Quarantine", "Duplicates", "Coverage gaps", "Upload"], key="dq_view")

if view == "Loads":
    loads = _shared.run(dashboard.load_manifest)
    # CDR files only: reference files (cells, plans, subscribers) are rows of the manifest too
    cdr = loads.filter(~pl.col("format").str.starts_with("reference:"))
    totals = cdr.select(pl.col("rows_read", "rows_loaded", "rows_duplicate", "rows_rejected").sum()).row(0, named=True)
    cols = st.columns(4)
    for col, (k, v) in zip(cols, totals.items(), strict=True):
        col.metric("CDR " + k.replace("_", " "), f"{v or 0:,}", border=True)
    refused = loads.filter(pl.col("status") == "refused")
    if refused.height:
        st.warning(f"{refused.height} file(s) refused whole: see the `error` column.")
    _shared.table(
        loads, hide_index=True, column_config={"seconds": st.column_config.NumberColumn("duration (s)", format="%.2f")}
    )
    _shared.download_table(loads, "load_manifest", key="dq_loads")
elif view == "Quarantine":
    summary = _shared.run(dashboard.quarantine_summary)
    if summary.height == 0:
        _shared.empty_state("No rows were quarantined: every row of every load passed validation.")
    else:
        import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

        fig = px.bar(
            summary,
            x="rows",
            y="reason",
            color="source_file",
            orientation="h",
            title="Quarantined rows by reason and file",
            labels={"rows": "Rows (count)", "reason": "Reason (rule:column)", "source_file": "File"},
        )
        _shared.plot(fig, key="dq_q_chart")
        _shared.table(summary, hide_index=True)
        _shared.download_table(summary, "quarantine_by_reason", key="dq_q_sum")
        c1, c2 = st.columns(2)
        reason = c1.selectbox("Reason", ["(any)", *summary["reason"].unique().sort().to_list()], key="dq_reason")
        source = c2.selectbox("File", ["(any)", *summary["source_file"].unique().sort().to_list()], key="dq_file")
        rows = _shared.run(
            dashboard.quarantine_rows,
            reason="" if reason == "(any)" else reason,
            source_file="" if source == "(any)" else source,
            limit=1000,
        )
        if not _shared.can("see_numbers"):
            rows = _shared.mask(rows, ["raw"])
        st.caption(f"{rows.height:,} rows (first 1,000): `raw` holds the row as delivered.")
        _shared.table(rows, hide_index=True)
        _shared.download_table(rows, "quarantined_rows", key="dq_q_rows")
elif view == "Duplicates":
    dups = _shared.run(dashboard.duplicates_by_load)
    if dups.height == 0:
        _shared.empty_state("No duplicates: no record_id was delivered twice.")
    else:
        _shared.table(dups, hide_index=True)
        _shared.download_table(dups, "duplicates_by_load", key="dq_d_sum")
        rows = _shared.run(dashboard.duplicate_rows, limit=1000)
        if not _shared.can("see_numbers"):
            rows = _shared.mask(rows, ["msisdn"])
        st.caption("Repeated records (first 1,000); the first delivery is the one counted.")
        _shared.table(rows, hide_index=True)
        _shared.download_table(rows, "duplicate_records", key="dq_d_rows")
elif view == "Coverage gaps":
    st.caption(f"{w.start:%d %b %Y} to {w.end:%d %b %Y}, clipped to the hours the warehouse covers.")
    gaps = _shared.run(dashboard.coverage_gaps, w.start, w.end, w.regions)
    if gaps.height == 0:
        _shared.empty_state("No coverage gaps: every region has records in every hour of the range.")
    else:
        import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

        fig = px.timeline(
            gaps,
            x_start="gap_start",
            x_end="gap_end",
            y="region",
            title="Hours with no records, per region (local time)",
            labels={"region": "Region"},
            hover_data={"hours": True},
        )
        _shared.plot(fig, key="dq_gaps", height=max(300, 30 * gaps["region"].n_unique() + 150))
        _shared.table(gaps, hide_index=True, column_config={"hours": st.column_config.NumberColumn("length (hours)")})
        _shared.download_table(gaps, "coverage_gaps", key="dq_gaps_dl")
    silent = _shared.run(dashboard.silent_cells, w.start, w.end, w.regions)
    st.subheader("Cells with no records in the range")
    if silent.height == 0:
        _shared.empty_state("Every reference cell carried traffic in the range.")
    else:
        _shared.table(silent, hide_index=True)
        _shared.download_table(silent, "silent_cells", key="dq_silent")
else:
    upload()
