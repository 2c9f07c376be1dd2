"""Billing reconciliation: billed vs expected charges for a month, leakage, over-billing, bill shock."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.billing.reconcile import CLASSES, month_report
from analytics.billing.shock import bill_shock
from analytics.config import settings
from pages import _shared

_shared.guard(__file__)

CUR = settings().currency
st.title("Billing reconciliation")
st.caption(
    "Every record is re-rated under its plan with the contract's rating rules and compared with the billed charge. "
    "A difference above 0.005 is a mismatch. Leakage = under-billed amount; over-billing = amount billed too much "
    "(duplicates billed again included)."
)

if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()

month = _shared.month_picker(
    key="bill_month",
    help="Calendar months (in the configured time zone) that hold records; allowances reset each month.",
)
report = _shared.run(month_report, month)
summary = report["summary"]

c = st.columns(4)
c[0].metric(
    "Records checked",
    f"{summary['records_checked']:,}",
    border=True,
    help=f"Records with a billed charge. Not reconciled (no charge in the source): {summary['not_reconciled']:,}; "
    f"no known plan: {summary['unrated']:,}.",
)
c[1].metric(
    "Mismatches",
    f"{summary['mismatches']:,}",
    border=True,
    help="Records whose billed charge differs from the expected one by more than 0.005, plus duplicates billed again.",
)
c[2].metric(
    f"Leakage ({CUR})",
    f"{float(summary['leakage']):,.2f}",
    border=True,
    help="Revenue not billed: sum of expected minus billed where under-billed.",
)
c[3].metric(
    f"Over-billing ({CUR})",
    f"{float(summary['overbilling']):,.2f}",
    border=True,
    help="Billed too much: sum of billed minus expected where over-billed.",
)
c = st.columns(4)
c[0].metric(f"Billed ({CUR})", f"{float(summary['billed_total']):,.2f}")
c[1].metric(f"Expected ({CUR})", f"{float(summary['expected_total']):,.2f}")
c[2].metric(f"Duplicates billed ({CUR})", f"{float(summary['duplicate_billed_total']):,.2f}")
c[3].metric("Mismatch rate", f"{100 * summary['mismatches'] / max(summary['records_checked'], 1):.3f} %")

view = _shared.choose("View", ["Breakdown", "Mismatch list", "Bill shock"], key="bill_view")

if view == "Breakdown":
    dim = _shared.choose("By", ["class", "region", "plan", "service"], key="bill_dim")
    table: pl.DataFrame = report[
        {"class": "by_class", "region": "by_region", "plan": "by_plan", "service": "by_service"}[dim]
    ]
    key = {"class": "mismatch_class", "region": "region", "plan": "plan_id", "service": "service"}[dim]
    if table.height == 0 or table["mismatches"].sum() == 0:
        _shared.empty_state(f"No mismatches in {month:%Y-%m}: every billed charge matches its rating.")
    else:
        # graph_objects, not plotly.express: two bar traces, and no 0.5 s express import on a cold server
        x = table[key].fill_null("(none)").cast(pl.String).to_list()
        fig = go.Figure(
            [
                go.Bar(x=x, y=table[col].cast(pl.Float64).to_list(), name=name)
                for col, name in (("leakage", "Leakage"), ("overbilling", "Over-billing"))
            ]
        )
        fig.update_layout(
            barmode="group",
            title=f"Leakage and over-billing by {dim}, {month:%Y-%m} ({CUR})",
            xaxis_title=dim.capitalize(),
            yaxis_title=f"Amount ({CUR})",
        )
        _shared.plot(fig, key=f"bill_bar_{dim}")
    # a lazy expander: a closed one runs nothing, so the first view sends no data grid (its own
    # JavaScript chunk) besides the chart
    with st.expander(f"Breakdown table by {dim}", key="bill_table_open", on_change="rerun") as table_box:
        if table_box.open:
            _shared.table(table, hide_index=True)
            _shared.download_table(table, f"billing_by_{dim}_{month:%Y-%m}", key=f"bill_dl_{dim}")

elif view == "Mismatch list":
    mism: pl.DataFrame = report["mismatches"]
    win = _shared.filters()
    classes = st.multiselect("Classes", list(CLASSES), key="bill_classes", placeholder="All classes")
    shown = mism.filter(
        (pl.col("mismatch_class").is_in(classes) if classes else pl.lit(True))
        & (pl.col("region").is_in(win.regions) if win.regions else pl.lit(True))
        & (pl.col("service").is_in(win.services) if win.services else pl.lit(True))
    ).select(
        "record_id",
        "source",
        "start_at",
        "msisdn",
        "region",
        "plan_id",
        "service",
        "rule",
        "mismatch_class",
        "billed",
        "expected",
        "diff",
    )
    if shown.height == 0:
        _shared.empty_state(
            "No mismatches match. Clear the class filter, or the region and service filters in the sidebar."
        )
    else:
        st.caption(
            f"{shown.height:,} mismatches; diff = billed - expected ({CUR}). Region and service follow the sidebar filters."
        )
        masked = _shared.mask(shown, ["msisdn"])
        _shared.table(
            masked,
            hide_index=True,
            column_config={
                "diff": st.column_config.NumberColumn(f"diff ({CUR})", format="%.4f"),
                "billed": st.column_config.NumberColumn(f"billed ({CUR})", format="%.4f"),
                "expected": st.column_config.NumberColumn(f"expected ({CUR})", format="%.2f"),
            },
        )
        _shared.download_table(masked, f"billing_mismatches_{month:%Y-%m}", key="bill_dl_mism")

else:
    alerts = _shared.run(bill_shock, month)
    st.caption(
        "Subscribers past 80 % or 100 % of an included allowance this month, or whose month-to-date usage spend "
        "is far above their usual monthly spend (thresholds in `[billing]` of analytics.toml)."
    )
    if alerts is None or alerts.height == 0:
        _shared.empty_state(f"No bill-shock alerts for {month:%Y-%m}.")
    else:
        counts = alerts.group_by("alert", "kind").len().sort("alert", "kind")
        import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

        fig = px.bar(
            counts.with_columns(pl.col("kind").fill_null("spend")),
            x="alert",
            y="len",
            color="kind",
            title=f"Bill-shock alerts, {month:%Y-%m}",
            labels={"len": "Subscribers", "alert": "Alert", "kind": "Allowance"},
        )
        _shared.plot(fig, key="bill_shock_bar")
        masked = _shared.mask(alerts, ["msisdn"])
        _shared.table(
            masked,
            hide_index=True,
            column_config={
                "pct_used": st.column_config.NumberColumn("used (% of allowance)", format="percent"),
                "mtd_spend": st.column_config.NumberColumn(f"month-to-date spend ({CUR})", format="%.2f"),
                "usual_spend": st.column_config.NumberColumn(f"usual monthly spend ({CUR})", format="%.2f"),
            },
        )
        _shared.download_table(masked, f"bill_shock_{month:%Y-%m}", key="bill_dl_shock")
