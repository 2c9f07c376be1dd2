"""Where the app's warehouse is and the ``[dashboard]`` settings of analytics.toml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from analytics.config import settings

WAREHOUSE_ENV = "ANALYTICS_WAREHOUSE"


DASHBOARD_DEFAULTS = {
    "demo_on_first_start": True,  # generate and load the demo world when the warehouse is empty
    "demo_subscribers": 3000,
    "demo_months": 3,
    "default_days": 28,  # default date range: the last N days with data
    "upload_max_mb": 200,
}


def warehouse_path() -> Path:
    """The warehouse the app shows: ``$ANALYTICS_WAREHOUSE`` or the configured default."""
    env = os.environ.get(WAREHOUSE_ENV)
    return Path(env) if env else settings().warehouse_path


def dashboard_settings() -> dict[str, Any]:
    """``[dashboard]`` of analytics.toml over the defaults; env ``ANALYTICS_DEMO_*`` wins."""
    cfg = settings().section("dashboard", defaults=DASHBOARD_DEFAULTS)
    env = os.environ
    if "ANALYTICS_DEMO_ON_START" in env:
        cfg["demo_on_first_start"] = env["ANALYTICS_DEMO_ON_START"].lower() not in {"0", "false", "no"}
    for key in ("subscribers", "months"):
        if f"ANALYTICS_DEMO_{key.upper()}" in env:
            cfg[f"demo_{key}"] = int(env[f"ANALYTICS_DEMO_{key.upper()}"])
    return cfg
