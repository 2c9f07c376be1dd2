"""Shared widgets: charts in the house layout, segmented choices, empty states."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st


def plot(fig, *, key: str | None = None, on_select: str = "ignore", height: int | None = None):
    """Render a Plotly figure with the house layout (readable in light and dark themes)."""
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.2}, hovermode="closest"
    )
    if height:
        fig.update_layout(height=height)
    return st.plotly_chart(
        fig, width="stretch", theme="streamlit", key=key, on_select=on_select, config={"displaylogo": False}
    )


def choose(
    label: str,
    options: list[Any] | tuple[Any, ...],
    *,
    key: str,
    default: Any = None,
    format_func: Callable[[Any], str] | None = None,
) -> Any:
    """A segmented control that always has a value (for heavy alternative views)."""
    default = options[0] if default is None else default
    kwargs = {"format_func": format_func} if format_func else {}
    if key not in st.session_state:  # a value set through session state wins (no default-and-state warning)
        kwargs["default"] = default
    value = st.segmented_control(label, list(options), key=key, required=True, **kwargs)
    return default if value is None else value


def empty_state(message: str) -> None:
    st.info(message, icon=":material/info:")


def no_data_hint() -> None:
    empty_state(
        "No records in the warehouse yet. Load extracts with `python -m analytics ingest FILE...`, "
        "run `python -m analytics demo`, or upload a file on the Data quality page."
    )


def nothing_selected_hint(what: str = "records") -> None:
    empty_state(
        f"No {what} match the filters. Widen the date range or clear the region and service filters in the sidebar."
    )
