"""Network quality: the worst cells of the period with their trend, a cell's hourly KPIs,
and the stored incidents (cells and regions outside their band)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.network.incidents import stored_incidents
from analytics.network.kpis import WORSE_HIGH, cell_trend, worst_cells
from pages import _shared

_shared.guard(__file__)

LABELS = {
    "dropped_call_rate": "Dropped-call rate",
    "short_call_ratio": "Short-call ratio",
    "asr": "ASR",
    "ner": "NER",
}
PCT = {k: st.column_config.NumberColumn(v, format="percent") for k, v in LABELS.items()}

st.title("Network quality")
st.caption(
    "Outgoing voice calls per cell and hour, with the live monitor's KPI definitions (docs/live.md) plus the "
    "short-call ratio; incidents are hours whose calls or ASR fell outside their usual band, stored after each "
    "load (docs/network.md). The sidebar's dates and regions apply; the service filter does not (voice only)."
)

if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()

w = _shared.window()
pane = (
    st.segmented_control(
        "View", ["Worst cells", "Incidents"], default="Worst cells", required=True, key="nq_pane", bind="query-params"
    )
    or "Worst cells"
)

if pane == "Worst cells":
    rank_by = (
        st.segmented_control(
            "Rank by",
            list(WORSE_HIGH),
            format_func=LABELS.get,
            default="dropped_call_rate",
            required=True,
            key="nq_rank",
            bind="query-params",
        )
        or "dropped_call_rate"
    )
    ranking = _shared.run(worst_cells, w.start, w.end, w.regions, rank_by=rank_by)
    if ranking is None or ranking.height == 0:
        _shared.nothing_selected_hint("cells with enough calls")
        st.stop()
    worst = "highest" if WORSE_HIGH[rank_by] else "lowest"
    st.subheader(f"Worst cells by {LABELS[rank_by]} ({worst} first), {w.start:%d %b} – {w.end:%d %b %Y}")
    _shared.table(
        ranking,
        hide_index=True,
        column_config={
            **PCT,
            "call_attempts": st.column_config.NumberColumn("calls", format="%d"),
            "trend": st.column_config.LineChartColumn(f"{LABELS[rank_by]} per day"),
            "trend_per_day": st.column_config.NumberColumn("trend per day", format="%+.4f"),
        },
    )
    _shared.download_table(ranking.drop("trend"), f"worst_cells_{rank_by}_{w.start}_{w.end}", key="nq_dl_worst")

    st.subheader("A cell hour by hour")
    cell = st.selectbox("Cell", ranking["cell_id"].to_list(), key="nq_cell", help="The ranked cells, worst first.")
    hourly = _shared.run(cell_trend, w.start, w.end, cell)
    cell_incidents = _shared.run(stored_incidents, w.start, w.end, w.regions).filter(pl.col("cell_id") == cell)
    import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

    fig = px.line(
        hourly,
        x="hour_at",
        y=rank_by,
        markers=True,
        title=f"{LABELS[rank_by]} of {cell} per hour (UTC); shaded: its incidents",
        labels={"hour_at": "Hour (UTC)", rank_by: LABELS[rank_by]},
    )
    for row in cell_incidents.iter_rows(named=True):
        fig.add_vrect(x0=row["start_at"], x1=row["end_at"], fillcolor="red", opacity=0.2, line_width=0)
    fig.update_yaxes(tickformat=".0%")
    _shared.plot(fig, key="nq_cell_trend")
    _shared.download_table(hourly, f"cell_{cell}_hourly_{w.start}_{w.end}", key="nq_dl_cell")
else:
    inc = _shared.run(stored_incidents, w.start, w.end, w.regions)
    if inc is None or inc.height == 0:
        _shared.empty_state("No incident in this period: every cell and region stayed inside its band.")
        st.stop()
    cells = inc.filter(pl.col("level") == "cell")
    c1, c2, c3 = st.columns(3)
    c1.metric("Cell incidents", cells.height)
    c2.metric("Region incidents", inc.height - cells.height)
    c3.metric(
        "Subscribers in cell incidents",
        f"{int(cells['subscribers'].sum()):,}",
        help="Summed over incidents: a subscriber in two incidents counts twice.",
    )
    shown = inc.with_columns(
        place=pl.when(pl.col("level") == "cell")
        .then(pl.concat_str(pl.lit("cell "), "cell_id", pl.lit(" ("), "region", pl.lit(")")))
        .otherwise(pl.concat_str(pl.lit("region "), "region"))
    )
    import plotly.express as px  # noqa: PLC0415

    fig = px.timeline(
        shown,
        x_start="start_at",
        x_end="end_at",
        y="place",
        color="kpis",
        hover_data=["hours", "attempts", "asr", "expected_asr", "subscribers"],
        title="Incident timeline (UTC)",
        labels={"place": "", "kpis": "Outside its band"},
    )
    _shared.plot(fig, key="nq_timeline", height=max(300, 28 * shown["place"].n_unique() + 120))
    table = shown.select(
        "start_at",
        "end_at",
        "level",
        "region",
        "cell_id",
        "hours",
        "kpis",
        "attempts",
        "expected_attempts",
        "asr",
        "expected_asr",
        "subscribers",
    )
    _shared.table(
        table,
        hide_index=True,
        column_config={
            "start_at": st.column_config.DatetimeColumn("start (UTC)"),
            "end_at": st.column_config.DatetimeColumn("end (UTC)"),
            "asr": st.column_config.NumberColumn("ASR", format="percent"),
            "expected_asr": st.column_config.NumberColumn("expected ASR", format="percent"),
            "expected_attempts": st.column_config.NumberColumn("expected calls", format="%.0f"),
        },
    )
    _shared.download_table(table, f"incidents_{w.start}_{w.end}", key="nq_dl_incidents")
