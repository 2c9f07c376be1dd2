"""Subscriber lookup for support: a subscriber's itemised month, usage and dispute notes."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.billing.explain import find_subscribers, subscriber_view
from analytics.billing.notes import add_note
from analytics.config import settings
from analytics.network.incidents import mark_bill, month_marks
from pages import _shared

_shared.guard(__file__)

CUR = settings().currency
st.title("Subscriber lookup")

if not _shared.has_data():
    _shared.no_data_hint()
    st.stop()

query = st.text_input(
    "Phone number",
    key="lookup_query",
    placeholder="e.g. +44 7700 900123 or its last digits",
    help="At least 3 digits; spaces, dashes and the leading + are ignored.",
)
if not query:
    _shared.empty_state("Type a subscriber's number (or part of it) to see their itemised bill.")
    st.stop()
found = _shared.run(find_subscribers, query)
if found is None or found.height == 0:
    _shared.empty_state("No subscriber number contains those digits. Check the number, or type at least 3 digits.")
    st.stop()
label = dict(
    zip(found["msisdn"], _shared.mask(found, ["msisdn"])["msisdn"], strict=True)
)  # masked for roles that may not see numbers
c1, c2 = st.columns([2, 1])
msisdn = c1.selectbox("Subscriber", found["msisdn"].to_list(), format_func=lambda m: label[m], key="lookup_msisdn")
month = _shared.month_picker(key="lookup_month", container=c2)

view = _shared.run(subscriber_view, msisdn, month)
bill: pl.DataFrame = view["bill"]
marks = _shared.run(month_marks, msisdn, month)  # records inside an incident of their cell (docs/network.md)
if marks is not None and bill.height:
    bill = mark_bill(bill, marks)
s = view["summary"]
if bill.height == 0:
    _shared.empty_state(f"No records for this subscriber in {month:%Y-%m}. Pick another month.")
else:
    cols = st.columns(4)
    cols[0].metric(
        "Plan",
        s["plan_name"] or s["plan_id"] or "unknown",
        help=f"Monthly fee {CUR} {float(s['monthly_fee']):,.2f} (not part of any record).",
    )
    cols[1].metric(f"Usage billed ({CUR})", f"{float(s['billed_usage']):,.2f}")
    cols[2].metric(
        f"Usage expected ({CUR})",
        f"{float(s['expected_usage']):,.2f}",
        delta=f"{float(s['billed_usage'] - s['expected_usage']):+,.2f} billed - expected",
        delta_color="off",
    )
    cols[3].metric("Mismatched items", s["mismatches"])
    units = {"voice": "min", "sms": "messages", "data": "MB"}
    st.caption(
        " | ".join(
            f"{k} allowance used: {s['allowance_used'][k]:,} of {s['allowance_included'][k] if s['allowance_included'][k] is not None else '?'} {units[k]}"
            for k in ("voice", "sms", "data")
        )
    )

    if "in_incident" in bill.columns and bill["in_incident"].any():
        hit = bill.filter(pl.col("in_incident"))
        seen = hit["incident"].unique(maintain_order=True).to_list()
        more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
        st.warning(
            f"{hit.height} record(s) of this month fell inside a network incident of their cell "
            f"({'; '.join(seen[:3])}{more}). They are marked "
            "in the itemised bill (column *network incident*).",
            icon=":material/cell_tower:",
        )

    pane = _shared.choose("Show", ["Itemised bill", "Usage charts", "Dispute notes"], key="lookup_pane")
    if pane == "Itemised bill":
        only = st.toggle("Only mismatches", key="lookup_only_mism")
        shown = bill.filter(pl.col("is_mismatch")) if only else bill
        shown = _shared.mask(shown.drop("start_at"), ["other_party"])
        _shared.table(
            shown,
            hide_index=True,
            column_config={
                "local_at": st.column_config.DatetimeColumn("time (local)"),
                "mb": st.column_config.NumberColumn("data (MB)", format="%.3f"),
                "duration_s": st.column_config.NumberColumn("duration (s)"),
                "allowance_used": st.column_config.NumberColumn("allowance used after"),
                "allowance_left_after": st.column_config.NumberColumn("allowance left after"),
                "expected": st.column_config.NumberColumn(f"expected ({CUR})", format="%.2f"),
                "billed": st.column_config.NumberColumn(f"billed ({CUR})", format="%.4f"),
                "diff": st.column_config.NumberColumn(f"billed - expected ({CUR})", format="%.4f"),
                "in_incident": st.column_config.CheckboxColumn("in network incident"),
                "incident": st.column_config.TextColumn("network incident"),
            },
        )
        _shared.download_table(
            _shared.mask(bill.with_columns(pl.lit(msisdn).alias("msisdn")), ["msisdn", "other_party"]),
            f"itemised_bill_{month:%Y-%m}",
            key="lookup_dl_bill",
        )
    elif pane == "Usage charts":
        by_day: pl.DataFrame = view["by_day"]
        measure = _shared.choose(
            "Measure", ["Voice minutes", "Messages", "Data (MB)", f"Expected charge ({CUR})"], key="lookup_measure"
        )
        col = {"Voice minutes": "minutes", "Messages": "messages", "Data (MB)": "mb"}.get(measure, "expected")
        data = by_day.with_columns(pl.col(col).cast(pl.Float64))
        import plotly.express as px  # noqa: PLC0415 - only for this view: its import costs ~0.5 s on a cold server

        fig = px.bar(
            data,
            x="day_date",
            y=col,
            color="service",
            title=f"{measure} per day, {month:%Y-%m}",
            labels={"day_date": "Day (local)", col: measure, "service": "Service"},
        )
        _shared.plot(fig, key="lookup_usage")
        _shared.download_table(by_day, f"usage_by_day_{month:%Y-%m}", key="lookup_dl_usage")
    else:
        notes: pl.DataFrame = view["notes"]
        user = _shared.current_user()
        if _shared.can("write_dispute_notes"):
            with st.form("dispute_note", clear_on_submit=True):
                text = st.text_area(
                    "New dispute note", max_chars=4000, placeholder="What the customer disputes, what was agreed..."
                )
                record = st.selectbox(
                    "About record (optional)", [None, *bill["record_id"].unique(maintain_order=True).to_list()]
                )
                if st.form_submit_button("Save note"):
                    try:
                        add_note(
                            _shared.warehouse_path(),
                            msisdn=msisdn,
                            note=text,
                            author=user.name,
                            author_role=user.role,
                            month=month,
                            record_id=record,
                        )
                    except ValueError as exc:
                        st.error(str(exc))
                    else:
                        st.success(f"Note saved by {user.name}.")
                        st.rerun()
        if notes.height == 0:
            _shared.empty_state("No dispute notes for this subscriber yet.")
        else:
            _shared.table(
                notes.drop("msisdn"),
                hide_index=True,
                column_config={"created_at": st.column_config.DatetimeColumn("written at (UTC)")},
            )
            _shared.download_table(notes.drop("msisdn"), "dispute_notes", key="lookup_dl_notes")
