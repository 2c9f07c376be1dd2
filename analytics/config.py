"""Settings: one committed TOML file (``analytics.toml``) read into a frozen dataclass.

Module-specific options live in their own TOML table and are read with
``settings.section("fraud")``; each module keeps its defaults in code and lets the
file override them. Secrets never live here (see ``secret()``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "ANALYTICS_CONFIG"


@dataclass(frozen=True)
class Settings:
    warehouse_path: Path = ROOT / "data" / "warehouse.duckdb"
    timezone: str = "UTC"
    home_country: str = "GB"
    currency: str = "GBP"
    k_anonymity: int = 5
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def section(self, name: str, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Options of one module: its code defaults overridden by ``[name]`` in the file."""
        merged = dict(defaults or {})
        merged.update(self.raw.get(name, {}))
        return merged

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


def load_settings(path: str | Path | None = None) -> Settings:
    """Read settings from ``path``, ``$ANALYTICS_CONFIG`` or ``analytics.toml`` at the root."""
    cfg_path = Path(path or os.environ.get(CONFIG_ENV) or ROOT / "analytics.toml")
    raw: dict[str, Any] = {}
    if cfg_path.exists():
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    wh = raw.get("warehouse", {})
    src = raw.get("source", {})
    priv = raw.get("privacy", {})
    base = Settings()
    return Settings(
        warehouse_path=_resolve(wh.get("path", base.warehouse_path)),
        timezone=src.get("timezone", base.timezone),
        home_country=str(src.get("home_country", base.home_country)).upper(),
        currency=str(src.get("currency", base.currency)).upper(),
        k_anonymity=int(priv.get("k_anonymity", base.k_anonymity)),
        raw=MappingProxyType(raw),
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()


def secret(name: str, default: str | None = None) -> str | None:
    """A secret from the environment (``ANALYTICS_<NAME>``); never from the committed file."""
    return os.environ.get(f"ANALYTICS_{name.upper()}", default)
