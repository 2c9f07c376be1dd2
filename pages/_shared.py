"""Cached wrappers and shared view helpers: the only module besides pages that imports streamlit.

Pages call analytics functions through :func:`run`, which caches the result per
published warehouse snapshot: when a load lands the snapshot version changes, so every
cached query is recomputed against the new data without a manual refresh.

Stable API used by every page (keep the signatures):
  connection(), run(fn, *args, **kwargs), filters(), current_user(), can(perm),
  mask(df, columns), download_table(df, name), empty_state(message), warehouse_path()
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable

import polars as pl
import streamlit as st

from analytics import store
from analytics.config import settings

WAREHOUSE_ENV = "ANALYTICS_WAREHOUSE"


def warehouse_path() -> Path:
    """The warehouse the app shows: ``$ANALYTICS_WAREHOUSE`` or the configured default."""
    env = os.environ.get(WAREHOUSE_ENV)
    return Path(env) if env else settings().warehouse_path


@st.cache_resource(max_entries=4, show_spinner=False)
def _connection(path: str, version: str):  # noqa: ARG001 - version is the cache key
    return store.snapshot_reader(path)


def snapshot_version() -> str | None:
    path = warehouse_path()
    version = store.snapshot_version(path)
    if version is None and path.exists():
        store.snapshot_reader(path).close()  # publishes the first snapshot
        version = store.snapshot_version(path)
    return version


def connection():
    """The shared read-only connection to the current snapshot, or None without data."""
    version = snapshot_version()
    if version is None:
        return None
    return _connection(str(warehouse_path()), version)


@st.cache_data(ttl=600, max_entries=512, show_spinner=False)
def _run(_fn: Callable[..., Any], key: str, version: str, args: tuple, kwargs: tuple) -> Any:  # noqa: ARG001
    return _fn(_connection(str(warehouse_path()), version), *args, **dict(kwargs))


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(con, *args, **kwargs)`` cached per snapshot version; None when there is no data."""
    version = snapshot_version()
    if version is None:
        return None
    key = f"{fn.__module__}.{fn.__qualname__}"
    return _run(fn, key, version, tuple(args), tuple(sorted(kwargs.items())))


@dataclass(frozen=True)
class Filters:
    start: date | None
    end: date | None
    regions: tuple[str, ...]
    services: tuple[str, ...]


def filters() -> Filters:
    """The sidebar filters shared by all pages (set in app.py, persisted in the URL)."""
    s = st.session_state
    return Filters(
        start=s.get("f_start"),
        end=s.get("f_end"),
        regions=tuple(s.get("f_regions") or ()),
        services=tuple(s.get("f_services") or ()),
    )


@dataclass(frozen=True)
class User:
    name: str
    role: str


def current_user() -> User:
    return st.session_state.get("user") or User(name="local", role="admin")


def can(permission: str) -> bool:  # noqa: ARG001 - refined by the security module
    return True


def mask(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:  # noqa: ARG001
    return df


def download_table(df: pl.DataFrame, name: str, *, key: str | None = None) -> None:
    """CSV and Excel download buttons for a table."""
    key = key or name
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", df.write_csv().encode("utf-8"), f"{name}.csv", "text/csv", key=f"dl_csv_{key}")
    buf = io.BytesIO()
    df.write_excel(buf)
    c2.download_button(
        "Download Excel",
        buf.getvalue(),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"dl_xlsx_{key}",
    )


def empty_state(message: str) -> None:
    st.info(message, icon=":material/info:")
