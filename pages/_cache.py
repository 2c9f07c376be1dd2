"""Pages read the published warehouse snapshot through :func:`run`, cached per snapshot
version: when a load lands the version changes, so every cached query is recomputed
against the new data without a manual refresh."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from analytics import store
from analytics.security import audit as _security_audit
from pages._access import audit
from pages._settings import warehouse_path


@st.cache_resource(max_entries=4, show_spinner=False)
def _connection(path: str, version: str):  # noqa: ARG001 - the version is the cache key
    """A read-only connection to the published snapshot ``version``.

    Every published version has its own file name (see analytics.store), so a cached
    connection keeps reading its version and a new version gets a new connection.
    """
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
    lookup = _security_audit.lookup_detail(key, tuple(args))  # a subscriber lookup is audited (issue 10)
    if lookup:
        audit("lookup", lookup)
    return _run(fn, key, version, tuple(args), tuple(sorted(kwargs.items())))


def has_data() -> bool:
    """True when the published snapshot holds at least one record."""
    if snapshot_version() is None:
        return False
    return bool(run(_records_exist))


def _records_exist(con) -> bool:
    return bool(store.scalar(con, "select exists(select 1 from records)"))
