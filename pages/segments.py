"""Segments: who our customers are, who is on the wrong plan, what to offer them."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.config import settings
from analytics.marketing.exports import export_table, map_points
from analytics.marketing.report import segment_report
from analytics.marts import stored_segment_report
from analytics.privacy import MissingSecretError
from pages import _shared

_shared.guard(__file__)

CUR = settings().currency
st.title("Segments and plan recommendations")
st.caption(
    "Subscribers of one month clustered (k-means, number of segments by silhouette) on scaled behaviour: "
    "voice, texts, data, night share, roaming, international, mobility, contacts, spend, active days. "
    "Each month is re-rated under every plan (monthly fee included) to find the cheapest plan for each customer."
)

if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()
month = _shared.month_picker(key="seg_month", help="Local calendar month; allowances and bills are monthly.")
# The report is built after each load (analytics.marts: ~20 s a month at 10 M records) and read here;
# a month not built yet (or built before the latest load) can be computed now on request.
mart = _shared.run(stored_segment_report, month)
live_key = f"seg_compute_{month:%Y-%m}"
if mart["status"] != "current" and not st.session_state.get(live_key):
    if mart["status"] == "missing":
        _shared.empty_state(
            f"The segment report of {month:%Y-%m} is not built yet. It is built after each load "
            "(`python -m analytics ingest` refreshes the marts); you can also compute it now."
        )
    else:
        st.warning(
            f"Stale since {mart['built_at']:%Y-%m-%d %H:%M} UTC: shown is the report built then, before later loads "
            "changed this month's data. A running month's segments are rebuilt once a day and when the month "
            "completes; you can also compute them now.",
            icon=":material/history:",
        )
    st.button(
        "Compute now (about 20 s at 10 M records)",
        key=f"seg_compute_btn_{month:%Y-%m}",
        on_click=st.session_state.__setitem__,
        args=(live_key, True),
    )
    if mart["report"] is None:
        st.stop()
if mart["status"] == "current" or not st.session_state.get(live_key):
    report = mart["report"]
else:
    with st.spinner(f"Computing the segments of {month:%Y-%m}..."):
        report = _shared.run(segment_report, month=month)
totals, segs, subs = report["totals"], report["segments"], report["subscribers"]
see_numbers = _shared.can("see_numbers")
if subs.height == 0:
    _shared.empty_state(f"No subscriber has records in {month:%Y-%m}. Pick another month or load its extracts.")
    st.stop()

c = st.columns(4)
c[0].metric("Subscribers", f"{totals['subscribers']:,}", border=True)
c[1].metric("Segments", f"{totals['k']}", border=True, help=f"Silhouette by k: {totals['silhouette']}")
c[2].metric(
    "Cheaper-plan offers",
    f"{totals['recommendations']:,}",
    border=True,
    help="Subscribers whose cheapest plan saves them at least [marketing] min_saving this month.",
)
c[3].metric(
    f"Their saving ({CUR}/month)",
    f"{float(totals['estimated_savings']):,.2f}",
    border=True,
    help=f"Operator revenue change if all were taken: {float(totals['revenue_impact']):,.2f} {CUR}.",
)

# the profiles first (tiles, no chart): the map pulled in Plotly's bundle and 2,000 markers on the first view
# (interleaved at 10 M records, load 5-6: cold 3.3 vs 4.75-5.1 s, warm 1.05-1.18 vs 1.76-1.93 s)
view = _shared.choose(
    "View", ["Profiles", "Segment map", "Segment x plan", "Recommendations", "Upsell"], key="seg_view"
)

if view == "Segment map":
    pts = map_points(subs, limit=2000)  # a seeded sample: 2,000 markers show the clusters; 5,000 cost ~1 s to draw
    if not see_numbers:
        pts = _shared.mask(pts, ["msisdn"])
    # graph_objects, not plotly.express: the first view, one trace per segment, no express import on a cold server
    hover = ["msisdn", "current_plan", "voice_minutes", "sms", "data_mb"]
    fig = go.Figure([
        go.Scatter(x=part["pc1"].to_list(), y=part["pc2"].to_list(), mode="markers", name=str(name),
                   marker={"size": 5, "opacity": 0.7}, customdata=part.select(hover).rows(),
                   hovertemplate="<br>".join(f"{c}: %{{customdata[{i}]}}" for i, c in enumerate(hover)) + "<extra>%{fullData.name}</extra>")
        for (name,), part in pts.sort("segment").group_by("segment", maintain_order=True)
    ])  # fmt: skip
    fig.update_layout(
        title=f"Subscribers on the first two principal components, {month:%Y-%m}",
        legend_title_text="Segment",
        xaxis_title="PC 1 (scaled behaviour, unitless)",
        yaxis_title="PC 2 (scaled behaviour, unitless)",
    )
    _shared.plot(fig, key="seg_map")
    st.caption(f"{pts.height:,} of {subs.height:,} subscribers shown (seeded sample).")

elif view == "Profiles":
    for row in segs.to_dicts():
        with st.container(border=True):
            st.subheader(f"{row['segment_id']}. {row['segment']}")
            k = st.columns(5)
            k[0].metric(
                "Subscribers", f"{row['subscribers']:,}", f"{100 * row['share']:.1f} % of base", delta_color="off"
            )
            k[1].metric(f"Revenue ({CUR})", f"{float(row['revenue'] or 0):,.2f}", help="Billed usage + monthly fee.")
            k[2].metric(
                "Churn risk",
                f"{100 * (row['churn_risk_share'] or 0):.1f} %",
                help="Share whose records fell by 30 % or more against the previous month.",
            )
            k[3].metric("Cheaper-plan offers", f"{row['recommendations']:,}")
            k[4].metric(f"Their saving ({CUR})", f"{float(row['estimated_savings'] or 0):,.2f}")
            st.caption(
                f"Per subscriber: {row['mean_voice_minutes']:.1f} voice min, {row['mean_sms']:.1f} texts, "
                f"{row['mean_data_mb']:,.0f} MB, night share {100 * row['mean_night_share']:.0f} %, roaming "
                f"{100 * row['mean_roaming_share']:.1f} %, international {100 * row['mean_international_share']:.1f} %, "
                f"radius of gyration {row['mean_radius_of_gyration']:.1f} km, {row['mean_usage_active_days']:.1f} active days."
            )
    _shared.download_table(segs, f"segments_{month:%Y-%m}", key="seg_dl_profiles")

elif view == "Segment x plan":
    matrix = report["matrix"].with_columns(pl.col("current_plan").fill_null("(unknown)"))
    wide = matrix.pivot(on="current_plan", index="segment", values="subscribers").fill_null(0)
    import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

    fig = px.density_heatmap(
        matrix,
        x="current_plan",
        y="segment",
        z="subscribers",
        text_auto=True,
        title=f"Subscribers by segment and current plan, {month:%Y-%m}",
        labels={"current_plan": "Current plan", "segment": "Segment", "subscribers": "Subscribers"},
    )
    _shared.plot(fig, key="seg_matrix")
    _shared.table(wide, hide_index=True)
    _shared.download_table(wide, f"segment_plan_{month:%Y-%m}", key="seg_dl_matrix")

elif view == "Recommendations":
    f = st.columns(3)
    seg_pick = f[0].multiselect("Segments", segs["segment"].to_list(), key="seg_f_seg", placeholder="All segments")
    plan_pick = f[1].multiselect(
        "Current plan",
        sorted(subs["current_plan"].drop_nulls().unique().to_list()),
        key="seg_f_plan",
        placeholder="All plans",
    )
    min_saving = f[2].number_input(f"Minimum saving ({CUR})", min_value=0.0, value=0.0, step=1.0, key="seg_f_min")
    only = st.toggle("Only subscribers offered a cheaper plan", value=True, key="seg_f_only")
    shown = subs.filter(
        (pl.col("is_recommendation") if only else pl.lit(True))
        & (pl.col("segment").is_in(seg_pick) if seg_pick else pl.lit(True))
        & (pl.col("current_plan").is_in(plan_pick) if plan_pick else pl.lit(True))
        & (pl.col("saving").cast(pl.Float64).fill_null(0) >= min_saving)
    ).sort("saving", descending=True, nulls_last=True)
    if shown.height == 0:
        _shared.empty_state(
            "No subscriber matches these filters. Clear the segment/plan filters or lower the minimum saving."
        )
    else:
        cols = [
            "msisdn",
            "segment",
            "current_plan",
            "current_cost",
            "recommended_plan",
            "recommended_cost",
            "saving",
            "voice_allowance_use",
            "sms_allowance_use",
            "data_allowance_use",
        ]
        _shared.table(
            shown.select(cols) if see_numbers else _shared.mask(shown.select(cols), ["msisdn"]), hide_index=True
        )
    st.markdown("**Export** (all columns and indicators; numbers pseudonymised unless you may see them)")
    try:
        export = export_table(shown, see_numbers=see_numbers)
    except MissingSecretError as exc:
        _shared.empty_state(f"Exports need pseudonyms: {exc}.")
    else:
        _shared.download_table(export, f"recommendations_{month:%Y-%m}", key="seg_dl_recs")
        _shared.download_file(
            {"recommendations": export},
            f"recommendations_{month:%Y-%m}.parquet",
            "application/vnd.apache.parquet",
            render=lambda t: _shared.parquet_bytes(t["recommendations"]),
            label="Download Parquet",
            key="seg_parquet",
            note=False,
        )

else:
    ups = report["upsell"]
    st.caption(
        "Subscribers over an allowance of their own plan in at least [marketing] upsell_min_months of the last "
        "upsell_window_months months, with the cheapest dearer plan for them this month."
    )
    if ups.height == 0:
        _shared.empty_state("Nobody exceeded an allowance regularly: no upsell candidates this month.")
    else:
        _shared.table(ups if see_numbers else _shared.mask(ups, ["msisdn"]), hide_index=True)
    try:
        _shared.download_table(export_table(ups, see_numbers=see_numbers), f"upsell_{month:%Y-%m}", key="seg_dl_upsell")
    except MissingSecretError as exc:
        _shared.empty_state(f"Exports need pseudonyms: {exc}.")
