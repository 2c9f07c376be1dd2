"""Downloads and tables: every export passes the role's permission, masking or
pseudonyms, and the audit log; tables are drawn without Streamlit's own toolbar export."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from analytics import privacy as _privacy
from analytics.security import audit as _security_audit
from analytics.security import roles as _roles
from pages._access import User, current_user
from pages._settings import warehouse_path

log = logging.getLogger(__name__)


def export_allowed(df: pl.DataFrame, *, note: bool = True) -> pl.DataFrame | None:
    """``df`` as the current user may export it (masked or pseudonymised per role), or None
    with a note (unless ``note`` is false) when the role may not export this kind of table."""
    user = current_user()
    kind = _roles.export_kind(df.columns)
    if not _roles.can(user.role, kind):
        if not note:
            return None
        what = "subscriber-level" if kind == "export_records" else "aggregate"
        st.caption(f"Downloads of {what} tables are not open to the {user.role or 'anonymous'} role.")
        return None
    try:
        return _privacy.protect_export(df, mode=_roles.export_mode(user.role))
    except _privacy.MissingSecretError:
        st.caption("Numbers are masked in this download (set ANALYTICS_HMAC_KEY for pseudonyms).")
        return _privacy.protect_export(df, mode="mask")


def _button(
    container: Any, label: str, data: Callable[[], bytes | str], file_name: str, mime: str, *, key: str, rows: int
) -> None:
    """A download button whose file is built only when clicked (Streamlit's deferred data:
    a page run does not write CSV/Excel/HTML for every table it shows).

    The audit row is written where the file is built, so a download is audited exactly
    when it is served. The click starts no rerun (``on_click="ignore"``): a rerun raced
    the deferred file request and, on a busy server, replaced the button's file id before
    the browser fetched it, and the download never came. The build runs outside the
    script thread, so who and where are taken now.
    """
    build = audited(
        data, warehouse_path(), current_user(), f"{file_name} ({rows} rows) from {st.session_state.get('_page', '?')}"
    )
    container.download_button(label, build, file_name, mime, key=key, on_click="ignore")


def audited(data: Callable[[], bytes | str], warehouse: Path, user: User, detail: str) -> Callable[[], bytes | str]:
    """``data`` that writes an ``export`` audit row (``detail``) for ``user`` each time it builds the file."""

    def build() -> bytes | str:
        out = data()
        _security_audit.record(warehouse, user=user.name, role=user.role, action="export", detail=detail)
        return out

    return build


def download_file(
    tables: dict[str, pl.DataFrame],
    file_name: str,
    mime: str,
    *,
    render: Callable[[dict[str, pl.DataFrame]], bytes | str],
    label: str,
    key: str,
    note: bool = True,
) -> bool:
    """One download button for a file built from ``tables`` (an HTML report, Parquet...).

    The same path as :func:`download_table`: every table must pass the role's export
    permission (else a note and no button), ``render`` receives the tables masked or
    pseudonymised for the role (it runs when the button is clicked), and each click is
    audited. ``note=False``: no refusal note (one is already shown for the same table).
    Returns whether a button was shown.
    """
    allowed = {}
    for name, df in tables.items():
        safe = export_allowed(df, note=note)
        if safe is None:
            return False
        allowed[name] = safe
    _button(
        st,
        label,
        lambda: render(allowed),
        file_name,
        mime,
        key=f"dl_{key}",
        rows=sum(df.height for df in allowed.values()),
    )
    return True


def parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def excel_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_excel(buf)
    return buf.getvalue()


def download_table(df: pl.DataFrame, name: str, *, key: str | None = None) -> None:
    """CSV and Excel download buttons for a table (if the role may export it; audited)."""
    key = key or name
    df = export_allowed(df)
    if df is None:
        return
    c1, c2 = st.columns(2)
    _button(
        c1,
        "Download CSV",
        lambda: df.write_csv().encode("utf-8"),
        f"{name}.csv",
        "text/csv",
        key=f"dl_csv_{key}",
        rows=df.height,
    )
    _button(
        c2,
        "Download Excel",
        lambda: excel_bytes(df),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"dl_xlsx_{key}",
        rows=df.height,
    )


DATA_EXPORT_OFF = "client.disableDataExport"


def table(data: Any, **kwargs: Any) -> Any:
    """``st.dataframe(data, **kwargs)`` for every table a page shows (issue 19, item 1).

    Streamlit's own table toolbar offers "Download as CSV" (and cell copy) to anyone,
    bypassing the role's export permission, masking and the audit log. Tables are drawn
    only with that export off (``client.disableDataExport``, set in .streamlit/config.toml);
    a server started without it is switched over here and the run restarted, so no table
    is ever sent to a browser with the toolbar download on. Downloads go through
    :func:`download_table` / :func:`download_file` (permission, masking, audit).
    """
    if not st.get_option(DATA_EXPORT_OFF):
        log.warning("%s was off (not read from .streamlit/config.toml?): switching it on", DATA_EXPORT_OFF)
        st.set_option(DATA_EXPORT_OFF, True)
        st.rerun()  # the new run's session message carries the option to the browser
    return st.dataframe(data, **kwargs)
