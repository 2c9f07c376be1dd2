"""Executive summary: a month's headline figures, changes, regions, movers and narrative."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics import dashboard
from analytics.config import settings
from pages import _shared

_shared.guard(__file__)

CUR = settings().currency
st.title("Executive summary")

if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()

months = _shared.run(dashboard.available_months, contiguous=True) or []
c_month, c_print = st.columns([3, 1])
month = c_month.selectbox("Month", months, key="exec_month", help="Local calendar months that hold records.")
printable = c_print.toggle("Printable view", key="exec_print", help="Plain tables, no charts: use the browser's print.")
report = _shared.run(dashboard.month_report, month)
if not report or not report["has_data"]:
    _shared.empty_state(f"No records for {month}. Pick another month, or load that month's extracts.")
    st.stop()

kpis: pl.DataFrame = report["kpis"]


def fmt(value: float | None, unit: str) -> str:
    """A tile value: the unit is in the tile's label, so the number stays short."""
    if value is None:
        return "n/a"
    if unit == "% of records":
        return f"{value:.1f}%"
    if unit.startswith("currency") or unit == "GB":
        return f"{value:,.2f}" if abs(value) < 10_000 else f"{value:,.0f}"
    return f"{value:,.0f}"


TILE_UNIT = {
    "records": None,
    "subscribers": None,
    "currency": CUR,
    "currency per subscriber": f"{CUR} per subscriber",
    "min": "minutes",
    "messages": "messages",
    "GB": "GB",
    "% of records": "%",
}


def delta(row: dict) -> str | None:
    mom, yoy = row["mom_change_pct"], row["yoy_change_pct"]
    if mom is None:
        return None
    text = f"{mom:+.1f}% MoM"
    return text + (f" | {yoy:+.1f}% YoY" if yoy is not None else " | YoY n/a")


st.markdown(f"**{report['narrative']}**")
if printable:
    st.markdown(
        "<style>[data-testid='stSidebar'],[data-testid='stHeader']{display:none}</style>", unsafe_allow_html=True
    )
    _shared.table(kpis.drop("metric"), hide_index=True)
    _shared.table(report["regions"], hide_index=True)
else:
    rows = list(kpis.iter_rows(named=True))
    for chunk in (rows[:4], rows[4:]):
        for col, row in zip(st.columns(4), chunk, strict=False):
            unit = TILE_UNIT.get(row["unit"])
            col.metric(
                f"{row['label']} ({unit})" if unit else row["label"],
                fmt(row["value"], row["unit"]),
                delta(row),
                border=True,
                help=f"{row['label']} in {unit or row['unit']}. Previous month: {fmt(row['previous_month'], row['unit'])}; "
                f"a year earlier: {fmt(row['previous_year'], row['unit'])}.",
            )

    regions: pl.DataFrame = report["regions"]
    # the region table is one of the views, not under the chart: the data grid (its own 1.2 MB of
    # JavaScript) is then drawn only when asked for; the first view is the tiles and one chart
    view = _shared.choose("By region", ["Revenue", "Traffic", "Top movers", "Region table"], key="exec_view")
    if view == "Revenue":
        # graph_objects, not plotly.express: the same grouped bars at a fraction of the build time
        x = regions["region"].to_list()
        fig = go.Figure(
            [
                go.Bar(x=x, y=regions[col].cast(pl.Float64).to_list(), name=name)
                for col, name in (("revenue", month), ("revenue_prev", "previous month"))
            ]
        )
        fig.update_layout(
            barmode="group",
            title=f"Usage revenue by region ({CUR})",
            xaxis_title="Region",
            yaxis_title=f"Revenue ({CUR})",
            legend_title_text="Month",
        )
        _shared.plot(fig, key="exec_rev")
    elif view == "Region table":
        _shared.table(
            regions,
            hide_index=True,
            column_config={"revenue": st.column_config.NumberColumn(f"revenue ({CUR})", format="%.2f")},
        )
    elif view == "Traffic":
        import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

        long = regions.select(
            "region",
            pl.col("voice_minutes").alias("Voice (min)"),
            pl.col("sms").alias("SMS+MMS (messages)"),
            pl.col("data_gb").alias("Data (GB)"),
        ).unpivot(index="region", variable_name="measure", value_name="value")
        fig = px.bar(
            long,
            x="region",
            y="value",
            facet_row="measure",
            title=f"Traffic by region, {month}",
            labels={"value": "", "region": "Region"},
            height=620,
        )
        fig.update_yaxes(matches=None)
        fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
        _shared.plot(fig, key="exec_traffic")
    else:
        movers: pl.DataFrame = report["movers"]
        if movers.height == 0:
            _shared.empty_state("Nothing moved against the previous month (or it has no data).")
        else:
            import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

            fig = px.bar(
                movers.with_columns((pl.col("name") + " (" + pl.col("dimension") + ")").alias("who")),
                x="revenue_change",
                y="who",
                orientation="h",
                title=f"Largest revenue changes vs previous month ({CUR})",
                labels={"revenue_change": f"Change in revenue ({CUR})", "who": ""},
            )
            fig.update_yaxes(autorange="reversed")
            _shared.plot(fig, key="exec_movers")

st.subheader("Download the month's figures")
st.caption("Headline figures (value, previous month, a year earlier, % changes)")
_shared.download_table(kpis, f"executive_summary_{month}", key="exec_kpis")
st.caption("Region figures (this month and the previous one)")
_shared.download_table(report["regions"], f"executive_regions_{month}", key="exec_regions")
st.caption("The printable page (HTML: narrative, headline and region figures)")
_shared.download_file(
    {"kpis": kpis, "regions": report["regions"]},
    f"executive_summary_{month}.html",
    "text/html",
    render=lambda t: dashboard.printable_html({**report, **t}),
    label="Download printable page (HTML)",
    key="exec_html",
)
