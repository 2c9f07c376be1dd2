"""Admin: accounts, the audit log (read and export only: it cannot be edited here) and
retention (preview and run). Open to the admin role only."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import polars as pl
import streamlit as st

from analytics.security import accounts, audit, retention
from analytics.security.roles import ROLES
from pages import _shared

_shared.guard(__file__)
st.title("Admin")
me = _shared.current_user()
path = _shared.warehouse_path()
view = _shared.choose("Show", ["Users", "Audit log", "Retention"], key="adm_view")

if view == "Users":
    users = accounts.list_users(path)
    if users.height == 0:
        _shared.empty_state("No accounts yet. Add one below or with `python -m analytics users add NAME --role ROLE`.")
    else:
        _shared.table(
            users,
            hide_index=True,
            column_config={
                "locked_until": st.column_config.DatetimeColumn("locked until (UTC)"),
                "last_sign_in_at": st.column_config.DatetimeColumn("last sign-in (UTC)"),
                "created_at": st.column_config.DatetimeColumn("created (UTC)"),
            },
        )
        _shared.download_table(users, "accounts", key="adm_dl_users")
    st.subheader("Add an account")
    with st.form("adm_add_user", clear_on_submit=True):
        c1, c2 = st.columns(2)
        name = c1.text_input("User name (the e-mail for identity-provider users)")
        role = c2.selectbox("Role", ROLES)
        oidc = st.checkbox("Signs in through the identity provider only (no local password)")
        password = st.text_input(
            "Password", type="password", disabled=oidc, help="At least [security] min_password_length characters."
        )
        if st.form_submit_button("Add account", type="primary"):
            try:
                accounts.add_user(path, name, role=role, password=None if oidc else password, by=me.name)
                st.success(f"Added {name} ({role}).")
            except (accounts.AccountError, ValueError) as exc:
                st.error(str(exc))
    if users.height:
        st.subheader("Disable, enable or unlock")
        c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
        who = c1.selectbox("Account", users["user_name"].to_list(), key="adm_who")
        if c2.button("Disable", key="adm_disable", disabled=who == me.name, help="You cannot disable yourself."):
            accounts.set_disabled(path, who, disabled=True, by=me.name)
            st.rerun()
        if c3.button("Enable", key="adm_enable"):
            accounts.set_disabled(path, who, disabled=False, by=me.name)
            st.rerun()
        if c4.button(
            "Unlock", key="adm_unlock", help="Lift the lock-out after failed sign-ins (every client address)."
        ):
            cleared = accounts.unlock(path, who, by=me.name)
            st.toast(f"{who}: {cleared} lock-out row(s) cleared." if cleared else f"{who} was not locked out.")

elif view == "Audit log":
    st.caption(
        "Every sign-in, lookup, unmasking, export, account change and retention run (UTC), newest first. "
        "The log is append-only: the app has no way to edit or delete it."
    )
    c1, c2, c3 = st.columns(3)
    since = c1.date_input("Since", value=date.today() - timedelta(days=30), key="adm_since")
    user = c2.text_input("User", key="adm_user")
    action = c3.selectbox("Action", ["(any)", *audit.ACTIONS], key="adm_action")
    log = audit.read_log(
        path,
        since=datetime.combine(since, time()) if since else None,
        user=user.strip(),
        action="" if action == "(any)" else action,
    )
    if log.height == 0:
        _shared.empty_state("No audit events match. Widen the date or clear the user and action filters.")
    else:
        _shared.table(log, hide_index=True, column_config={"event_at": st.column_config.DatetimeColumn("time (UTC)")})
        _shared.download_table(log, "audit_log", key="adm_dl_audit")

else:
    st.caption(
        "Deletes record-level data (records, rated records, duplicates, quarantined rows) older than the kept "
        "months; the cubes stay. Same as `python -m analytics retention --keep-months N`."
    )
    keep = int(
        st.number_input(
            "Months to keep (besides the running one)", min_value=1, max_value=120, value=12, key="adm_keep"
        )
    )
    if st.button("Preview (dry run)", key="adm_dry"):
        st.session_state["adm_preview"] = retention.run_retention(path, keep, by=me.name, dry_run=True)
    report = st.session_state.get("adm_preview")
    if report and report["keep_months"] == keep:
        st.write(f"Cutoff: {report['cutoff_at']} (everything before it would go)")
        tables = pl.DataFrame(report["tables"]) if report["tables"] else pl.DataFrame()
        _shared.table(tables, hide_index=True)
        sure = st.checkbox(f"Delete {report['rows_to_delete']:,} rows for good", key="adm_sure")
        if st.button("Delete now", type="primary", disabled=not sure, key="adm_run"):
            done = retention.run_retention(path, keep, by=me.name)
            st.session_state.pop("adm_preview", None)
            st.success(f"Deleted {done['rows_deleted']:,} rows; compliance report {done['report_file']}.")
