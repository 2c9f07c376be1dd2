"""Demand heatmaps: hour x weekday, region x day, and a cell map (no map tiles needed).

Groups with fewer than settings().k_anonymity distinct subscribers are blanked here
and in every download (the analytics functions return them already suppressed).
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics import dashboard
from analytics.config import settings
from pages import _shared

_shared.guard(__file__)

K = settings().k_anonymity
MEASURES = {
    "records": "Records",
    "minutes": "Minutes (connected)",
    "data_gb": "Data (GB)",
    "subscribers": "Distinct subscribers",
}

st.title("Demand heatmaps")
if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()

w = _shared.window()
bounds = _shared.data_bounds()
st.caption(
    f"{w.start:%d %b %Y} to {w.end:%d %b %Y}, local times in {settings().timezone}. Groups with fewer than {K} distinct "
    "subscribers are suppressed (blank) in every view and download."
)
view = _shared.choose("View", ["Hour x weekday", "Region x day", "Cell map"], key="hm_view")
measure = st.selectbox("Measure", list(MEASURES), format_func=MEASURES.get, key="hm_measure")

if view == "Hour x weekday":
    c1, c2 = st.columns(2)
    region = c1.selectbox("Region", ["(filtered)", *bounds["region"]], key="hm_region")
    service = c2.selectbox("Service", ["(filtered)", *bounds["service"]], key="hm_service")
    regions = w.regions if region == "(filtered)" else (region,)
    services = w.services if service == "(filtered)" else (service,)
    df = _shared.run(dashboard.hour_weekday, w.start, w.end, regions, services, exact=measure == "subscribers")
    if df is None or df.height == 0:
        _shared.nothing_selected_hint()
        st.stop()
    grid = (
        pl.DataFrame({"weekday": list(range(1, 8))})
        .join(pl.DataFrame({"hour": list(range(24))}), how="cross")
        .join(df, on=["weekday", "hour"], how="left")
        .sort("weekday", "hour")
    )
    z = [grid.filter(pl.col("weekday") == d)[measure].to_list() for d in range(1, 8)]
    # graph_objects: one heatmap trace, no plotly.express import (0.5 s on a cold server)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{h:02d}" for h in range(24)],
            y=list(dashboard.heatmaps.WEEKDAYS),
            colorscale="Viridis",
            colorbar={"title": {"text": MEASURES[measure]}},
            hoverongaps=False,
            hovertemplate="%{y} %{x}h: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{MEASURES[measure]} by hour and weekday ({'filtered regions' if region == '(filtered)' else region}, "
        f"{'filtered services' if service == '(filtered)' else service}); blank = suppressed or none",
        xaxis_title="Hour of day (local)",
        yaxis_title="Weekday",
        yaxis_autorange="reversed",
    )
    _shared.plot(fig, key="hm_hw")
    table, name = df, "heatmap_hour_weekday"
elif view == "Region x day":
    df = _shared.run(dashboard.region_day, w.start, w.end, w.regions, w.services, exact=measure == "subscribers")
    if df is None or df.height == 0:
        _shared.nothing_selected_hint()
        st.stop()
    wide = df.pivot(on="day_date", index="region", values=measure, sort_columns=True)
    days = wide.columns[1:]
    fig = go.Figure(
        go.Heatmap(
            z=wide.select(days).to_numpy(),
            x=[str(d) for d in days],
            y=wide["region"].to_list(),
            colorscale="Viridis",
            colorbar={"title": {"text": MEASURES[measure]}},
            hoverongaps=False,
            hovertemplate="%{y} %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{MEASURES[measure]} by region and day; blank = suppressed or none",
        xaxis_title="Day (local)",
        yaxis_title="Region",
        yaxis_autorange="reversed",
    )
    _shared.plot(fig, key="hm_rd", height=max(320, 40 * wide.height + 120))
    table, name = df, "heatmap_region_day"
else:
    df = _shared.run(dashboard.cell_map, w.start, w.end, w.regions, w.services, exact=measure == "subscribers")
    if df is None or df.height == 0:
        _shared.empty_state(
            "No reference cells in the selected regions. Load a cells.csv with ingest --cells, or widen the region filter."
        )
        st.stop()
    colour = _shared.choose(
        "Colour by",
        ["busy_hour_load", measure],
        key="hm_colour",
        format_func=lambda c: "Busy-hour load (erlangs / capacity)" if c == "busy_hour_load" else MEASURES[c],
    )
    import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

    shown = df.filter(~pl.col("suppressed")).with_columns(pl.col(measure).fill_null(0).alias("_size"))
    hidden = df.height - shown.height
    # A plain lon/lat scatter with an equal-distance aspect: needs no map tiles and no
    # topojson download (Plotly geo fetches its base map from a CDN and draws nothing offline).
    fig = px.scatter(
        shown,
        x="lon",
        y="lat",
        size="_size",
        color=colour,
        hover_name="cell_id",
        hover_data={
            "region": True,
            "records": True,
            "busy_hour_erlangs": ":.2f",
            "capacity_erlangs": True,
            "busy_hour_load": ":.0%",
            "_size": False,
        },
        size_max=22,
        color_continuous_scale="RdYlGn_r" if colour == "busy_hour_load" else "Viridis",
        labels={
            "busy_hour_load": "Busy-hour load (share of capacity)",
            "lon": "Longitude (deg)",
            "lat": "Latitude (deg)",
            **MEASURES,
        },
        title=f"Cells sized by {MEASURES[measure].lower()}"
        + (f" ({hidden} suppressed cells not drawn)" if hidden else ""),
    )
    centres = df.group_by("region").agg(pl.col("lat").mean(), pl.col("lon").mean())
    fig.add_scatter(
        x=centres["lon"],
        y=centres["lat"],
        text=centres["region"],
        mode="text",
        textfont={"size": 11},
        showlegend=False,
        hoverinfo="skip",
    )
    mean_lat = float(df["lat"].mean() or 0.0)
    fig.update_yaxes(scaleanchor="x", scaleratio=1 / max(math.cos(math.radians(mean_lat)), 0.1))
    _shared.plot(fig, key="hm_map", height=720)
    over = df.filter(pl.col("busy_hour_load") >= 0.8).sort("busy_hour_load", descending=True)
    if over.height:
        st.warning(
            f"{over.height} cell(s) reach 80% or more of capacity in their busy hour: {', '.join(over['cell_id'].head(10))}."
        )
    table, name = df, "cell_map"

if "subscribers" in table.columns and table["subscribers"].null_count() == table.height:
    table = table.drop("subscribers")  # not counted (pick "Distinct subscribers" to count them exactly)
# a lazy expander: closed, it runs nothing, so the data grid is not sent or drawn
with st.expander("Table and downloads", key="hm_table_open", on_change="rerun") as table_box:
    if table_box.open:
        _shared.table(
            table,
            hide_index=True,
            column_config={
                "subscribers_at_least": st.column_config.NumberColumn(
                    "subscribers (at least)",
                    help="The largest exact count of one hour, cell and service of the group: a lower bound.",
                ),
            },
        )
        _shared.download_table(table, name, key=f"hm_{name}")
