"""Fraud alerts: the analyst's queue (sorted by score), alert detail with its evidence and
records, and the case workflow (new, investigating, confirmed, dismissed)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.fraud import cases, engine
from pages import _shared

_shared.guard(__file__)

st.title("Fraud alerts")
st.caption(
    "Alerts raised by the detectors (SIM box, IRSF, Wangiri, SIM clone, usage spike; thresholds in "
    "`analytics.toml` under `[fraud]`, definitions in docs/fraud.md). Score 0.5 = just past the thresholds, "
    "1.0 = overwhelming. A dismissed alert stays dismissed when detection runs again."
)

if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()

TYPES = list(engine.DETECTORS)
COLORS = {"out": "#636efa", "in": "#ef553b"}  # the timeline: colour by direction, symbol by service
SYMBOLS = {"voice": "circle", "sms": "diamond", "mms": "square", "data": "x", "voip": "triangle-up", "video": "star"}
SEE_NUMBERS = _shared.can("see_numbers")

with st.expander("Run detection now", icon=":material/play_arrow:"):
    st.caption(
        "Runs every detector over all loaded records (as `python -m analytics fraud` does) and merges the alerts."
    )
    if st.button("Run detection", key="fr_run", disabled=not _shared.can("manage_fraud")):
        with st.spinner("detecting..."):
            found = engine.run_detection(_shared.warehouse_path())
        st.success(f"{found.height} alerts found, {int(found['is_new'].sum() or 0) if found.height else 0} new.")
        st.rerun()

w = _shared.window()
c1, c2 = st.columns(2)
types = c1.multiselect("Alert types", TYPES, key="fr_types", placeholder="All types")
statuses = c2.multiselect("Case status", list(cases.STATUSES), default=["new", "investigating"], key="fr_status",
                          placeholder="All statuses")  # fmt: skip
st.caption(f"Alerts active between {w.start:%d %b %Y} and {w.end:%d %b %Y}"
           f"{' in ' + ', '.join(w.regions) if w.regions else ''} (sidebar filters).")  # fmt: skip

queue = _shared.run(cases.alert_queue, types=tuple(types), regions=tuple(w.regions), statuses=tuple(statuses),
                    start=w.start, end=w.end)  # fmt: skip
if queue is None or queue.height == 0:
    _shared.empty_state(
        "No alerts match. Widen the dates or filters, include dismissed/confirmed cases, or run detection "
        "(`python -m analytics fraud`, or the button above) after a load."
    )
    st.stop()

shown = queue if SEE_NUMBERS else _shared.mask(queue, ["msisdn"])
m1, m2, m3 = st.columns(3)
m1.metric("Alerts", f"{queue.height:,}", border=True)
m2.metric("New", f"{queue.filter(pl.col('status') == 'new').height:,}", border=True)
m3.metric("Score >= 0.8", f"{queue.filter(pl.col('score') >= 0.8).height:,}", border=True)
picked = _shared.table(
    shown.drop("alert_key"),
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="fr_queue",
    column_config={
        "score": st.column_config.ProgressColumn("score (0-1)", min_value=0.0, max_value=1.0, format="%.2f"),
        "first_seen_at": st.column_config.DatetimeColumn("first seen (UTC)"),
        "last_seen_at": st.column_config.DatetimeColumn("last seen (UTC)"),
        "record_count": st.column_config.NumberColumn("records"),
    },
)
_shared.download_table(shown, "fraud_alerts", key="fr_queue_dl")

rows = picked.selection.rows if picked is not None else []
index = rows[0] if rows else 0
key = queue["alert_key"][index]
if not rows:
    st.caption("Select a row of the queue to see its detail; showing the highest score.")

detail = _shared.run(cases.alert_detail, key)
if detail is None:
    _shared.empty_state("This alert is no longer stored; run detection again.")
    st.stop()

who = (
    detail["msisdn"]
    if SEE_NUMBERS
    else _shared.mask(pl.DataFrame({"msisdn": [detail["msisdn"]]}), ["msisdn"])["msisdn"][0]
)
st.subheader(f"{detail['type']} · {who}")
d1, d2, d3, d4 = st.columns(4)
d1.metric("Score (0-1)", f"{detail['score']:.2f}", border=True)
d2.metric("Case status", detail["status"], border=True)
d3.metric("First seen (UTC)", f"{detail['first_seen_at']:%d %b %H:%M}", border=True)
d4.metric("Last seen (UTC)", f"{detail['last_seen_at']:%d %b %H:%M}", border=True)

evidence = {k: v for k, v in detail["evidence"].items() if k not in ("record_ids", "daily", "contacts")}
st.json(evidence, expanded=False)

records = _shared.run(cases.alert_records, key)
# the records first: the queue's data grid is already on the page, so this view adds no JavaScript;
# a chart first pulled in Plotly's bundle and two renders (at 10 M records, load ~5: cold 3.7-4.0 s
# instead of 4.8-5.3 s, warm 1.1-1.2 s instead of 1.75 s)
view = _shared.choose("Evidence", ["Records", "Timeline", "Counterparts", "Case"], key="fr_view")
if view == "Timeline":
    if records.height == 0:
        _shared.empty_state("The records behind this alert are no longer in the warehouse (retention).")
    else:
        # graph_objects, not plotly.express: the first view, and no 0.5 s express import on a cold server
        fig = go.Figure()
        for (direction, service), part in records.group_by("direction", "service", maintain_order=True):
            fig.add_scatter(
                x=part["start_at"].to_list(),
                y=part["duration_s"].to_list(),
                mode="markers",
                name=f"{direction}, {service}",
                marker={"symbol": SYMBOLS.get(service, "circle"), "color": COLORS.get(direction)},
            )
        fig.update_layout(title="Records behind the alert", xaxis_title="Start (UTC)", yaxis_title="Duration (s)")
        _shared.plot(fig, key="fr_timeline")
        hist = go.Figure([go.Histogram(x=part["start_at"].to_list(), name=str(region), xbins={"size": 3_600_000})
                          for (region,), part in records.group_by("region", maintain_order=True)])  # fmt: skip
        hist.update_layout(barmode="stack", title="Records per hour", xaxis_title="Start (UTC)",
                           yaxis_title="Records (count)")  # fmt: skip
        _shared.plot(hist, key="fr_hist")
    if detail["type"] == "usage_spike" and detail["evidence"].get("daily"):
        daily = pl.DataFrame(detail["evidence"]["daily"])
        st.caption("Spike days against the line's baseline median (voice in minutes, data in MB, texts in count).")
        _shared.table(daily, hide_index=True)
        _shared.download_table(daily, "fraud_spike_days", key="fr_daily_dl")
elif view == "Counterparts":
    if records.height == 0:
        _shared.empty_state("No records behind this alert.")
    else:
        by = (
            "destination_country"
            if detail["type"] == "irsf"
            else ("cell_id" if detail["type"] == "sim_clone" else "msisdn")
        )
        import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

        fig = px.histogram(records if SEE_NUMBERS or by != "msisdn" else _shared.mask(records, ["msisdn"]), y=by,
                           title=f"Records per {by.replace('_', ' ')}", labels={by: by.replace("_", " ")})  # fmt: skip
        fig.update_xaxes(title_text="Records (count)")
        fig.update_yaxes(categoryorder="total ascending")
        _shared.plot(fig, key="fr_by", height=min(900, 120 + 18 * records[by].n_unique()))
elif view == "Records":
    shown_records = records if SEE_NUMBERS else _shared.mask(records, ["msisdn", "other_party", "imei"])
    st.caption(f"{records.height:,} records (the evidence lists up to the first {engine.options().max_evidence_ids}; "
               f"record_count = {detail['evidence'].get('record_count')}).")  # fmt: skip
    _shared.table(
        shown_records, hide_index=True, column_config={"duration_s": st.column_config.NumberColumn("duration (s)")}
    )
    _shared.download_table(shown_records, f"fraud_records_{detail['type']}", key="fr_rec_dl")
else:
    user = _shared.current_user()
    with st.form("fr_case"):
        status = st.selectbox("Status", list(cases.STATUSES), index=list(cases.STATUSES).index(detail["status"]))
        note = st.text_input("Note", value=detail.get("note") or "", placeholder="why (kept in the case history)")
        if st.form_submit_button("Save case", type="primary", disabled=not _shared.can("manage_fraud")):
            cases.update_case(_shared.warehouse_path(), key, status, user=user.name, note=note or None)
            st.success(f"Case set to {status} by {user.name}.")
            st.rerun()
    history = _shared.run(cases.case_history, key)
    if history.height == 0:
        _shared.empty_state("No status changes yet: the case is new.")
    else:
        _shared.table(
            history, hide_index=True, column_config={"changed_at": st.column_config.DatetimeColumn("changed at (UTC)")}
        )
        _shared.download_table(history, "fraud_case_history", key="fr_hist_dl")
