"""Traffic trends: series by region / cell / service / direction, previous-period
comparison, drill-down region -> cells -> the records behind a point, busy hour."""

from __future__ import annotations

from datetime import datetime

import plotly.graph_objects as go
import streamlit as st

from analytics import dashboard
from analytics.config import settings
from pages import _shared

_shared.guard(__file__)

CUR = settings().currency
METRICS = {
    "records": "Records",
    "minutes": "Minutes (connected)",
    "data_gb": "Data (GB)",
    "revenue": f"Revenue ({CUR})",
}
BY = {"region": "Region", "cell_id": "Cell", "service": "Service", "direction": "Direction", "total": "Total"}

st.title("Traffic trends")
if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()

w = _shared.window()
bounds = _shared.data_bounds()
st.caption(
    f"{w.start:%d %b %Y} to {w.end:%d %b %Y}, times in {settings().timezone}. Change the range and filters in the sidebar."
)

c1, c2, c3 = st.columns([2, 2, 3])
metric = c1.selectbox("Measure", list(METRICS), format_func=METRICS.get, key="tt_metric")
grain = c2.selectbox("Grain", ["hour", "day", "week", "month"], index=1, key="tt_grain")
drill = c3.selectbox(
    "Drill into a region (series by its cells)",
    ["(none)", *[r for r in bounds["region"] if r != "ROAMING"]],
    key="tt_drill",
)
if drill == "(none)":
    by = (
        c3.segmented_control("Split by", list(BY), format_func=BY.get, default="region", key="tt_by", required=True)
        or "region"
    )
    regions = w.regions
else:
    by, regions = "cell_id", (drill,)

series = _shared.run(
    dashboard.trend, w.start, w.end, regions, w.services, grain=grain, by=by, top=10 if by == "cell_id" else None
)
if series is None or series.height == 0:
    _shared.nothing_selected_hint()
    st.stop()

# the current total is the sum of the series (every key, "other" included): one query less
prev = _shared.run(dashboard.previous_period, w.start, w.end, regions, w.services, grain=grain).sort("bucket_at")
cur_total = series[metric].sum()
prev_total = prev[metric].sum()
k1, k2 = st.columns(2)
k1.metric(
    f"{METRICS[metric]}, selected range",
    f"{cur_total:,.1f}" if metric != "records" else f"{cur_total:,.0f}",
    f"{(cur_total - prev_total) / prev_total * 100:+.1f}% vs previous period"
    if prev_total
    else "no previous period data",
    border=True,
)
k2.metric(
    f"{METRICS[metric]}, previous {(w.end - w.start).days + 1} days",
    f"{prev_total:,.1f}" if metric != "records" else f"{prev_total:,.0f}",
    border=True,
)

title = f"{METRICS[metric]} per {grain}" + (f", cells of {drill}" if drill != "(none)" else f" by {BY[by].lower()}")
# graph_objects, not plotly.express: one trace per series, built ~5x faster (warm render budget)
keys = sorted(series["key"].unique().to_list(), key=lambda k: (k == "other", str(k)))
parts = {k: part for (k,), part in series.sort("bucket_at").group_by(["key"])}
fig = go.Figure(
    [
        go.Scatter(
            x=parts[k]["bucket_at"].to_list(),
            y=parts[k][metric].to_list(),
            name=str(k),
            mode="lines" if grain == "hour" else "lines+markers",
        )
        for k in keys
    ]
)
fig.update_layout(
    title=title,
    xaxis_title=f"Local time ({settings().timezone})",
    yaxis_title=METRICS[metric],
    legend_title_text=BY[by],
)
if by != "total":
    st.caption("Choose *Split by: Total* to overlay the previous period on the chart; the tiles compare the totals.")
elif prev.height:
    fig.add_trace(
        go.Scatter(
            x=prev["bucket_at"], y=prev[metric], name="previous period (shifted)", mode="lines", line={"dash": "dot"}
        )
    )
event = _shared.plot(fig, key="tt_chart", on_select="rerun")

# lazy expanders: a closed one runs nothing, so its data grid is not sent or drawn
with st.expander("Series data", key="tt_series_open", on_change="rerun") as series_box:
    if series_box.open:
        _shared.table(series, hide_index=True)
        _shared.download_table(series, f"traffic_{by}_{grain}", key="tt_series")

st.subheader("Records behind a point")
buckets = series["bucket_at"].unique().sort().to_list()
keys = sorted(series["key"].unique().to_list())
picked = None
points = (event or {}).get("selection", {}).get("points", []) if event else []
if points:
    picked = datetime.fromisoformat(str(points[0]["x"]).replace(" ", "T"))
b1, b2 = st.columns(2)
choice = b1.selectbox(
    "Bucket (or click a point in the chart)",
    ["(choose)", *buckets],
    key="tt_bucket",
    index=(buckets.index(picked) + 1) if picked in buckets else 0,
    format_func=lambda b: b if isinstance(b, str) else f"{b:%Y-%m-%d %H:%M}",
)
key_choice = b2.selectbox(f"{BY[by]}", ["(all)", *keys], key="tt_key") if by != "total" else "(all)"
if choice == "(choose)":
    st.caption("Pick a bucket (or click a point) to list its records.")
else:
    rec_regions, rec_services, cell, direction = regions, w.services, "", ""
    if key_choice not in ("(all)", "other"):
        if by == "region":
            rec_regions = (key_choice,)
        elif by == "service":
            rec_services = (key_choice,)
        elif by == "cell_id":
            cell = key_choice
        elif by == "direction":
            direction = key_choice
    recs = _shared.run(
        dashboard.records_behind, choice, grain, rec_regions, rec_services, cell=cell, direction=direction, limit=1000
    )
    if not _shared.can("see_numbers"):
        recs = _shared.mask(recs, ["msisdn", "other_party"])
    if recs.height == 0:
        _shared.empty_state("No records in that bucket for this selection. Pick another bucket or series.")
    else:
        st.caption(
            f"{recs.height:,} records (first 1,000 shown), local times. Numbers masked unless your role may see them."
        )
        _shared.table(
            recs,
            hide_index=True,
            column_config={
                "charge": st.column_config.NumberColumn(f"charge ({CUR})", format="%.2f"),
                "bytes": st.column_config.NumberColumn("bytes (B)"),
                "duration_s": st.column_config.NumberColumn("duration (s)"),
            },
        )
        _shared.download_table(recs, "records_behind_point", key="tt_records")

st.subheader("Busy hour per region")
busy = _shared.run(dashboard.busy_hour, w.start, w.end, regions)
if busy is None or busy.height == 0:
    _shared.empty_state("No voice, VoIP or video traffic in the range: the busy hour is measured on carried call time.")
else:
    fig = go.Figure(
        go.Bar(
            x=busy["region"].to_list(),
            y=busy["busy_hour_erlangs"].to_list(),
            text=[f"{h}:00" for h in busy["busy_hour"]],
            textposition="outside",
            name="busy hour",
            hovertemplate="%{x}: %{y:.2f} E at %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Average carried traffic in the busy hour (label: local hour of day)",
        xaxis_title="Region",
        yaxis_title="Busy-hour traffic (erlangs)",
    )
    _shared.plot(fig, key="tt_busy")
    with st.expander("Busy hour table", key="tt_busy_open", on_change="rerun") as busy_box:
        if busy_box.open:
            _shared.table(busy, hide_index=True)
            _shared.download_table(busy, "busy_hour", key="tt_busy_dl")
