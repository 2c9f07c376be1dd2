"""Forecasts: per-region history and forecast with 80 % / 95 % bands, the backtest table,
the model coverage report, the capacity outlook and the cells to act on with their map
(served from the stored forecast run). Daily forecasts have a level: national, region or
cell, whose numbers are the stored coherent ones (children add up to their parent, checked
on the page)."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.config import settings
from analytics.forecast import cells, views
from pages import _jobs, _shared

_shared.guard(__file__)

UNITS = {
    "records": "records per {step}",
    "voice_minutes": "voice minutes per {step}",
    "sms": "SMS + MMS per {step}",
    "data_gb": "data GB per {step}",
    "busy_hour_erlangs": "busy-hour load (Erlangs)",
    "erlangs": "offered load (Erlangs)",
}
RUN_HINT = (
    "No stored forecast yet. Run `python -m analytics forecast` (daily) or "
    "`python -m analytics forecast --freq hourly` after loading data; this page shows the stored result."
)
COVERAGE_COLUMNS = {  # the band coverage of held-out points, in the backtest and model coverage tables
    "coverage_80": st.column_config.NumberColumn("coverage 80 %", format="percent"),
    "coverage_95": st.column_config.NumberColumn("coverage 95 %", format="percent"),
}

LEVELS = {"national": "National", "region": "Region", "cell": "Cell"}
HISTORY, FORECAST = "#4a4a4a", "#1f77b4"  # observed in neutral grey, the projection and its bands in blue


def add_lines(fig: go.Figure, history: pl.DataFrame, rows: pl.DataFrame, *, base: str | None, name: str) -> None:
    """History (grey), the base forecast ``yhat_base`` (dotted; when ``base`` names its model)
    and the forecast shown, ``yhat`` (dashed)."""
    fig.add_trace(go.Scatter(x=history["ds"], y=history["y"], name="history", mode="lines", line={"color": HISTORY}))
    if base is not None:
        fig.add_trace(
            go.Scatter(
                x=rows["ds"],
                y=rows["yhat_base"],
                name=f"base forecast ({base})",
                mode="lines",
                line={"dash": "dot", "color": "#9ab7d3"},
            )
        )
    fig.add_trace(
        go.Scatter(x=rows["ds"], y=rows["yhat"], name=name, mode="lines", line={"dash": "dash", "color": FORECAST})
    )


def show_check(check: pl.DataFrame, *, parent: str, children: str) -> None:
    """The visible check that ``children`` add up to ``parent`` on every forecast day."""
    if check.height == 0:
        return
    gap = float(check["abs_diff"].max())
    text = (
        f"{check['children'][0]} {children} add up to {parent} on every one of the {check.height} forecast days "
        f"(largest gap {gap:.1e})."
    )
    if gap < 1e-6:
        st.success(text, icon=":material/check_circle:")
    else:
        st.error(f"{children.capitalize()} do not add up to {parent}: largest gap {gap:,.6f}.", icon=":material/error:")


def coherent_view(level: str, coherent: pl.DataFrame) -> None:
    """The national total or one cell: history, coherent forecast beside the base one, the check."""
    metrics = [m for m in UNITS if m in set(coherent["metric"].to_list())]
    if level == "national":
        c2 = st.columns(2)[0]
        node, title, parent_level, parent = "total", "National total", "national", "total"
    else:
        c1, c3, c2 = st.columns(3)
        regions = sorted(coherent.filter(pl.col("level") == "region")["region"].unique().to_list())
        wanted = _shared.filters().regions
        region = c1.selectbox(
            "Region",
            regions,
            key="fc_h_region",
            bind="query-params",
            index=regions.index(wanted[0]) if wanted and wanted[0] in regions else 0,
        )
        cell_ids = sorted(
            coherent.filter((pl.col("level") == "cell") & (pl.col("region") == region))["cell_id"].unique().to_list()
        )
        cell = c3.selectbox("Cell", cell_ids, key="fc_h_cell", bind="query-params")
        node, title, parent_level, parent = f"{region}/{cell}", f"{region}, cell {cell}", "region", region
    metric = c2.selectbox(
        "Measure",
        metrics,
        index=metrics.index("voice_minutes") if "voice_minutes" in metrics else 0,
        format_func=lambda m: UNITS.get(m, m).format(step="day"),
        key="fc_h_metric",
        bind="query-params",
    )
    rows = coherent.filter((pl.col("node_id") == node) & (pl.col("metric") == metric)).sort("ds")
    if rows.height == 0:
        _shared.empty_state("No coherent forecast for this choice.")
        st.stop()
    choice = _shared.run(views.coherent_choice).filter((pl.col("metric") == metric) & pl.col("is_chosen"))
    k1, k2, k3 = st.columns(3)
    k1.metric(
        "Reconciliation",
        rows["method"][0].replace("_", " "),
        border=True,
        help="chosen for this measure by a backtest over the national, region and cell levels",
    )
    k2.metric(
        "Backtest score",
        "n/a" if choice.height == 0 or choice["score"][0] is None else f"{choice['score'][0]:.3f}",
        help="mean over the three levels of MAE / mean actual, on the held-out days",
        border=True,
    )
    k3.metric("Base model", rows["base_model"][0], border=True, help="this series' own forecast before reconciliation")
    unit = UNITS.get(metric, metric).format(step="day")
    history = _shared.run(views.coherent_history, node, metric)
    fig = go.Figure()
    add_lines(fig, history, rows, base=rows["base_model"][0], name="coherent forecast")
    fig.update_layout(title=f"{title}: {unit}", xaxis_title=f"Day ({settings().timezone})", yaxis_title=unit)
    _shared.plot(fig, key="fc_coherent_chart")
    check = _shared.run(views.coherent_check).filter(
        (pl.col("metric") == metric) & (pl.col("level") == parent_level) & (pl.col("node_id") == parent)
    )
    show_check(
        check,
        parent="the national total" if level == "national" else region,
        children="regions" if level == "national" else "cells",
    )
    with st.expander("Check by day and values", key="fc_h_values_open", on_change="rerun") as box:
        if box.open:
            _shared.table(check.select("ds", "parent_yhat", "children_yhat", "abs_diff"), hide_index=True)
            _shared.table(rows.select("ds", "yhat", "yhat_base", "method"), hide_index=True)
            _shared.download_table(rows, f"coherent_forecast_{node.replace('/', '_')}_{metric}", key="fc_h_values")
    st.stop()


st.title("Forecasts")
if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()

if "_fc_freq_next" in st.session_state:
    st.session_state["fc_freq"] = st.session_state.pop("_fc_freq_next")
freq = _shared.choose("Step", ["daily", "hourly"], key="fc_freq")
fits = _shared.run(views.fits, freq)
job = _jobs.running()
if job is not None:  # a run in progress (started here, by someone else or by the first start)
    if fits is not None and fits.height:
        _jobs.watch(job.warehouse)  # this step's stored forecasts stay on view; a progress line above them
    else:
        if _jobs.follow(job, until=freq if freq in job.freqs else None):
            st.rerun()  # its snapshot is published: every cached view reloads
        st.stop()
if fits is None or fits.height == 0:
    _shared.empty_state(
        RUN_HINT
        if freq == "daily"
        else RUN_HINT.replace("(daily) or", "or").replace("forecast` after", "forecast --freq hourly` after")
    )
    if not _shared.can("run_forecasts"):
        st.caption(
            f"Computing forecasts is open to planners and admins, not to the {_shared.current_user().role} role."
        )
        st.stop()
    st.caption(
        "Or compute them here: every region's series, a model chosen per series by backtest (a few minutes on a "
        "large warehouse; loads and other sessions go on meanwhile)."
    )
    choices = [freq, *[f for f in ("daily", "hourly") if f != freq]]
    b1, b2, _ = st.columns([1, 1, 2])
    asked = None
    if b1.button(
        "Compute forecasts" if freq == "daily" else "Compute hourly forecasts",
        type="primary",
        key="fc_compute",
        icon=":material/play_arrow:",
        help=f"{choices[0].capitalize()} forecasts: this step.",
    ):
        asked = choices[0]
    if b2.button(f"Compute {choices[1]} forecasts", key="fc_compute_other", help="The other step, as a second choice."):
        asked = choices[1]
    if asked is not None:
        if _jobs.follow(_jobs.start_forecast(asked), until=asked):  # the coherent totals go on in the background
            st.session_state["_fc_freq_next"] = asked  # show the step just computed (set before its widget)
            st.rerun()
    st.stop()

coherent = _shared.run(views.coherent) if freq == "daily" else None
level = "region"
if coherent is not None and coherent.height:
    level = (
        st.segmented_control(
            "Level",
            list(LEVELS),
            format_func=LEVELS.get,
            default="region",
            required=True,
            key="fc_level",
            bind="query-params",
            help="Coherent daily forecasts: cells add up to their region, regions to the national total.",
        )
        or "region"
    )
    if (age := _shared.run(views.coherent_age)) and age["computed_at"] is not None:  # how old the totals are
        behind = age["days_behind"] or 0
        st.caption(
            f"Coherent totals computed {age['computed_at']:%d %b %Y %H:%M} UTC from data up to "
            f"{age['data_day']:%d %b}"
            + (
                f": {behind} day{'s' if behind > 1 else ''} of newer data since. A load refits them once "
                "`[forecast] hierarchy_refit_days` new complete days have arrived; *Compute forecasts* refits them now."
                if behind
                else "."
            )
        )
if level != "region":
    coherent_view(level, coherent)

regions = sorted(fits["region"].unique().to_list())
wanted = _shared.filters().regions
c1, c2 = st.columns(2)
region = c1.selectbox(
    "Region", regions, index=regions.index(wanted[0]) if wanted and wanted[0] in regions else 0, key="fc_region"
)
metrics = fits.filter(pl.col("region") == region)["metric"].to_list()
metric = c2.selectbox(
    "Measure",
    metrics,
    index=metrics.index("voice_minutes") if "voice_minutes" in metrics else 0,
    format_func=lambda m: UNITS.get(m, m).format(step="day" if freq == "daily" else "hour"),
    key="fc_metric",
)
uid = f"{region}/{metric}"
fit = fits.filter(pl.col("unique_id") == uid).row(0, named=True)
step = "day" if freq == "daily" else "hour"
zone = settings().timezone if freq == "daily" else "UTC"
unit = UNITS.get(metric, metric).format(step=step)

k1, k2, k3, k4 = st.columns(4)
k1.metric("Model", fit["model"], border=True)
k2.metric(
    "Backtest MASE",
    "n/a" if fit["mase"] is None else f"{fit['mase']:.2f}",
    help="below 1: better than repeating last season",
    border=True,
)
k3.metric("80 % band coverage", "n/a" if fit["coverage_80"] is None else f"{fit['coverage_80']:.0%}", border=True)
cutoff = fit["data_cutoff"]
k4.metric(
    "Data cut-off",
    "n/a" if cutoff is None else f"{cutoff:%d %b}" if freq == "daily" else f"{cutoff:%d %b %H}h",
    help=None if cutoff is None else f"Last {step} of data used: {cutoff:%Y-%m-%d %H:%M} ({zone}).",
    border=True,
)
if fit["reason"]:
    st.warning(f"Fallback (seasonal naive) used: {fit['reason']}.", icon=":material/warning:")

history, forecast = _shared.run(views.chart, freq, uid, history_days=90 if freq == "daily" else 21)
node = (
    None
    if coherent is None
    else coherent.filter((pl.col("node_id") == region) & (pl.col("level") == "region") & (pl.col("metric") == metric))
)
if node is not None and node.height:  # the coherent forecast, the region's bands moved onto it
    forecast = views.recentre(forecast, node.select("ds", "yhat"))
fig = go.Figure()
x_band = pl.concat([forecast["ds"], forecast["ds"].reverse()])
fig.add_trace(
    go.Scatter(
        x=x_band,
        y=pl.concat([forecast["yhat_upper_95"], forecast["yhat_lower_95"].reverse()]),
        fill="toself",
        line={"width": 0},
        fillcolor=FORECAST,
        opacity=0.15,
        name="95 % band",
        hoverinfo="skip",
    )
)
fig.add_trace(
    go.Scatter(
        x=x_band,
        y=pl.concat([forecast["yhat_upper"], forecast["yhat_lower"].reverse()]),
        fill="toself",
        line={"width": 0},
        fillcolor=FORECAST,
        opacity=0.3,
        name="80 % band",
        hoverinfo="skip",
    )
)
coherent = "yhat_base" in forecast.columns
add_lines(
    fig,
    history,
    forecast,
    base=fit["model"] if coherent else None,
    name="coherent forecast" if coherent else f"forecast ({fit['model']})",
)
fig.update_layout(title=f"{region}: {unit}", xaxis_title=f"{step.capitalize()} ({zone})", yaxis_title=unit)
_shared.plot(fig, key="fc_chart")
if node is not None and node.height:
    checks = _shared.run(views.coherent_check).filter(pl.col("metric") == metric)
    show_check(
        checks.filter((pl.col("level") == "region") & (pl.col("node_id") == region)), parent=region, children="cells"
    )
    show_check(checks.filter(pl.col("level") == "national"), parent="the national total", children="regions")
# Lazy expanders, as on the other pages: closed, they run nothing, so the first view sends
# the chart only (no data grid, its own JavaScript chunk, on a cold browser).
with st.expander("Forecast values", key="fc_values_open", on_change="rerun") as values_box:
    if values_box.open:
        _shared.table(forecast, hide_index=True)
        _shared.download_table(forecast, f"forecast_{freq}_{region}_{metric}", key="fc_values")

details = st.expander("Backtest, model coverage and capacity", key="fc_details_open", on_change="rerun")
if not details.open:
    st.stop()
with details:
    view = _shared.choose(
        "Details", ["Backtest", "Model coverage", "Capacity", "Cells to act on", "All series"], key="fc_view"
    )
    if view == "Backtest":
        bt = _shared.run(views.backtests, freq, uid)
        st.caption(
            "Rolling-origin backtest: mean over the cut-offs of each model; the chosen model has the lowest MASE."
        )
        if bt.height == 0:
            _shared.empty_state(
                "No backtest for this series: it took the fallback before any backtest (see the reason above)."
            )
        else:
            _shared.table(
                bt,
                hide_index=True,
                column_config={
                    "smape": st.column_config.NumberColumn("sMAPE (%)", format="%.1f"),
                    **COVERAGE_COLUMNS,
                    "seconds_per_fit": st.column_config.NumberColumn("seconds per fit", format="%.3f"),
                },
            )
            _shared.download_table(bt, f"backtest_{freq}_{region}_{metric}", key="fc_bt")
    elif view == "Model coverage":
        cov = _shared.run(views.coverage, freq)
        st.caption(
            "Held-out accuracy of the chosen models over all series: well-calibrated 80 % bands cover about 80 %."
        )
        if cov.height == 0:
            _shared.empty_state("No backtests stored yet: run `python -m analytics forecast`.")
        else:
            _shared.table(cov, hide_index=True, column_config=COVERAGE_COLUMNS)
            _shared.download_table(cov, f"model_coverage_{freq}", key="fc_cov")
    elif view == "Capacity":
        level = _shared.choose("Level", ["region", "cell"], key="fc_cap_level")
        cap = _shared.run(views.capacity, level)
        st.caption(
            "Busy-hour load (Erlangs) against capacity_erlangs, read as [forecast] capacity_model says (by default the "
            "busy-hour load a cell is engineered for), with Erlang B blocking on its channels; "
            "sorted by days to exhaustion (thresholds in analytics.toml [forecast])."
        )
        if cap.height == 0:
            _shared.empty_state(
                "No capacity outlook yet: run `python -m analytics forecast` (and `--freq hourly` for the near term); "
                "cells need capacity_erlangs in cells.csv."
            )
        else:
            _shared.table(
                cap,
                hide_index=True,
                column_config={
                    "utilisation_peak": st.column_config.NumberColumn("peak utilisation", format="percent"),
                    "blocking_peak": st.column_config.NumberColumn("peak blocking (Erlang B)", format="%.4f"),
                    "busy_hour_erlangs_peak": st.column_config.NumberColumn("peak busy hour (E)", format="%.2f"),
                    "busy_hour_erlangs_now": st.column_config.NumberColumn("busy hour, last 7 days (E)", format="%.2f"),
                },
            )
            _shared.download_table(cap, f"capacity_{level}", key="fc_cap")
    elif view == "Cells to act on":
        outlook = _shared.run(views.cell_outlook)
        act = cells.rank_cells_to_act(outlook)  # a sort of the cached rows: no second query
        st.caption(
            "Cells whose forecast busy hour crosses the utilisation or blocking threshold within the horizon, or needs "
            "more channels than it has to hold the grade of service (Erlang B at the blocking threshold); soonest "
            "first. Months = days to exhaustion / 30.4. Data: the busiest hour's GB, now (last 7 days) and forecast."
        )
        if outlook.height == 0:
            _shared.empty_state(
                "No per-cell outlook yet: run `python -m analytics forecast`; cells need capacity_erlangs in cells.csv."
            )
            st.stop()
        k1, k2, k3 = st.columns(3)
        k1.metric("Cells to act on", f"{act.height} of {outlook.height}", border=True)
        k2.metric(
            "First exhaustion",
            "none in horizon"
            if act["exhaustion_date"].null_count() == act.height
            else f"{act['exhaustion_date'].min():%d %b %Y}",
            border=True,
        )
        k3.metric(
            "Channels to add",
            f"{int(act['channels_to_add'].sum())}",
            help="at the forecast peak, to hold the grade of service",
            border=True,
        )
        if act.height == 0:
            _shared.empty_state("No cell crosses a threshold within the forecast horizon.")
        else:
            _shared.table(
                act,
                hide_index=True,
                key="fc_cells_act_table",
                column_config={
                    "months_to_exhaustion": st.column_config.NumberColumn("months to exhaustion", format="%.1f"),
                    "first_blocking_date": st.column_config.DateColumn("grade of service first broken"),
                    **{
                        c: st.column_config.DateColumn(c.replace("_", " "))
                        for c in ("exhaustion_date", "first_utilisation_date", "peak_date", "data_cutoff")
                    },
                    "utilisation_peak": st.column_config.NumberColumn("peak utilisation", format="percent"),
                    "blocking_peak": st.column_config.NumberColumn("peak blocking (Erlang B)", format="%.4f"),
                    "busy_hour_data_gb_now": st.column_config.NumberColumn(
                        "busy hour data, last 7 days (GB)", format="%.3f"
                    ),
                    "busy_hour_data_gb_peak": st.column_config.NumberColumn("peak busy hour data (GB)", format="%.3f"),
                },
            )
            _shared.download_table(act, "cells_to_act", key="fc_cells_act")
        placed = cells.map_frame(outlook)
        dated, undated = (
            placed.filter(pl.col("colour_months").is_not_null()),
            placed.filter(pl.col("colour_months").is_null()),
        )
        hover = "%{text}<br>%{customdata[0]}<br>months to exhaustion: %{customdata[1]}<extra></extra>"
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=undated["lon"],
                y=undated["lat"],
                mode="markers",
                name="no date within the horizon",
                marker={"color": "#b0b0b0", "size": 6},
                text=undated["cell_id"],
                customdata=undated.select("region", pl.lit("none")).rows(),
                hovertemplate=hover,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=dated["lon"],
                y=dated["lat"],
                mode="markers",
                name="exhausts within the horizon",
                marker={
                    "color": dated["colour_months"],
                    "colorscale": "RdYlGn",
                    "cmin": 0,
                    "size": 11,
                    "cmax": max(1.0, dated["colour_months"].max() or 0.0),
                    "colorbar": {"title": "months"},
                    "line": {"width": 1, "color": "#333"},
                },
                text=dated["cell_id"],
                customdata=dated.select("region", "months_to_exhaustion").rows(),
                hovertemplate=hover,
            )
        )
        mid_lat = placed["lat"].mean() if placed.height else 0.0
        fig.update_layout(
            title="Cells by months to exhaustion",
            xaxis_title="longitude",
            yaxis_title="latitude",
            yaxis={"scaleanchor": "x", "scaleratio": 1 / max(math.cos(math.radians(mid_lat)), 0.1)},
        )
        _shared.plot(fig, key="fc_cells_map", height=650)
        _shared.download_table(outlook, "cell_outlook", key="fc_cells_all")
    else:
        _shared.table(fits, hide_index=True)
        _shared.download_table(fits, f"forecast_series_{freq}", key="fc_fits")
