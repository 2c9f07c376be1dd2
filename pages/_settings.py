"""Where the app's warehouse is and the ``[dashboard]`` settings of analytics.toml."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from analytics.config import settings

WAREHOUSE_ENV = "ANALYTICS_WAREHOUSE"


@dataclass(frozen=True)
class DashboardSettings:
    """``[dashboard]`` of analytics.toml (docs/dashboard.md)."""

    demo_on_first_start: bool = True  # generate and load the demo world when the warehouse is empty
    demo_subscribers: int = 3000
    demo_months: int = 3
    default_days: int = 28  # default date range: the last N days with data
    upload_max_mb: int = 200


def warehouse_path() -> Path:
    """The warehouse the app shows: ``$ANALYTICS_WAREHOUSE`` or the configured default."""
    env = os.environ.get(WAREHOUSE_ENV)
    return Path(env) if env else settings().warehouse_path


def dashboard_settings() -> DashboardSettings:
    """``[dashboard]`` of analytics.toml over the defaults; env ``ANALYTICS_DEMO_*`` wins."""
    cfg = settings().section("dashboard", DashboardSettings)
    env = os.environ
    changes: dict[str, Any] = {}
    if "ANALYTICS_DEMO_ON_START" in env:
        changes["demo_on_first_start"] = env["ANALYTICS_DEMO_ON_START"].lower() not in {"0", "false", "no"}
    for key in ("subscribers", "months"):
        if f"ANALYTICS_DEMO_{key.upper()}" in env:
            changes[f"demo_{key}"] = int(env[f"ANALYTICS_DEMO_{key.upper()}"])
    return replace(cfg, **changes)
