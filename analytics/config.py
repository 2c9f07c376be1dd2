"""Settings: one committed TOML file (``analytics.toml``) read into frozen dataclasses.

``Settings`` holds the product-wide values. Each module's options live in their own TOML
table and are read as a typed section: the module declares a frozen dataclass whose field
defaults are the code defaults (defined there only), and ``settings().section("fraud",
FraudSettings)`` builds it from the file's table, refusing an unknown key or a wrongly
typed value with a one-line :class:`SettingsError` that names the key. Secrets never live
here (see ``secret()``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "ANALYTICS_CONFIG"

S = TypeVar("S")


class SettingsError(ValueError):
    """A settings file value this version cannot use (one line, naming the table and key)."""


@dataclass(frozen=True)
class WarehouseSettings:
    """``[warehouse]``: the embedded warehouse file and DuckDB's memory cap per connection."""

    path: str = "data/warehouse.duckdb"
    memory_limit: str = "3GB"


@dataclass(frozen=True)
class Settings:
    warehouse_path: Path = ROOT / WarehouseSettings.path
    timezone: str = "UTC"
    home_country: str = "GB"
    currency: str = "GBP"
    k_anonymity: int = 5
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    source: str = field(default="analytics.toml", compare=False, repr=False)

    def table(self, name: str) -> Mapping[str, Any]:
        """The file's table ``name`` as written (``"fraud.sim_box"`` for a nested one)."""
        node: Any = self.raw
        for part in name.split("."):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        if not isinstance(node, Mapping):
            raise SettingsError(f"{self.source} [{name}]: expected a table, got {node!r}")
        return node

    def section(self, name: str, kind: type[S]) -> S:
        """Table ``[name]`` of the file as the frozen dataclass ``kind``: its field defaults
        overridden by the file's values; an unknown key or a wrongly typed value raises
        :class:`SettingsError`."""
        return build_section(kind, self.table(name), where=f"{self.source} [{name}]")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def build_section(kind: type[S], values: Mapping[str, Any], *, where: str = "", base: S | None = None) -> S:
    """``kind`` built from ``values`` over ``base`` (default: the class defaults), each value
    checked against the field's type. ``kind.SUBTABLES`` names nested tables that belong to
    other sections (``[fraud.sim_box]`` inside ``[fraud]``): they are skipped here."""
    hints = _hints(kind)
    skip: tuple[str, ...] = getattr(kind, "SUBTABLES", ())
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key in skip and isinstance(value, Mapping):
            continue
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise SettingsError(f"{where} {key}: unknown key (known: {known})".strip())
        changes[key] = _checked(value, hints[key], f"{where} {key}".strip())
    return replace(base, **changes) if base is not None else kind(**changes)


def with_options(section: S, overrides: Mapping[str, Any] | None, *, where: str = "overrides") -> S:
    """``section`` with ``overrides`` (same keys and types as its table) applied and checked."""
    if not overrides:
        return section
    return build_section(type(section), overrides, where=where, base=section)


def as_dict(section: Any) -> dict[str, Any]:
    """A section's values by key (tuples as lists, the shape of the file's table)."""
    return {f.name: _plain(getattr(section, f.name)) for f in dataclasses.fields(section)}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@cache
def _hints(kind: type) -> dict[str, Any]:
    if not dataclasses.is_dataclass(kind):
        raise TypeError(f"{kind!r} is not a dataclass")
    names = {f.name for f in dataclasses.fields(kind)}
    return {k: v for k, v in get_type_hints(kind).items() if k in names}


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is tuple:
        return f"a list of {_describe(get_args(hint)[0])}s"
    if origin in (dict, Mapping):
        return f"a table of {_describe(get_args(hint)[1])}s"
    if origin is types.UnionType:
        return " or ".join(_describe(h) for h in get_args(hint))
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, f"a {getattr(hint, '__name__', hint)}")


def _checked(value: Any, hint: Any, where: str) -> Any:
    """``value`` as ``hint`` (a TOML integer is a fine float; a list becomes a tuple), or
    :class:`SettingsError`."""
    origin = get_origin(hint)
    ok = True
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif origin is tuple:
        if isinstance(value, list | tuple):
            return tuple(_checked(v, get_args(hint)[0], where) for v in value)
        ok = False
    elif origin in (dict, Mapping):
        if isinstance(value, Mapping):
            return {str(k): _checked(v, get_args(hint)[1], f"{where}.{k}") for k, v in value.items()}
        ok = False
    elif origin is types.UnionType:
        for option in get_args(hint):
            try:
                return _checked(value, option, where)
            except SettingsError:
                continue
        ok = False
    elif isinstance(hint, type):  # a date, say: TOML has its own
        ok = isinstance(value, hint)
    if not ok:
        raise SettingsError(f"{where}: expected {_describe(hint)}, got {value!r}")
    return value


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


def load_settings(path: str | Path | None = None) -> Settings:
    """Read settings from ``path``, ``$ANALYTICS_CONFIG`` or ``analytics.toml`` at the root."""
    cfg_path = Path(path or os.environ.get(CONFIG_ENV) or ROOT / "analytics.toml")
    raw: dict[str, Any] = {}
    if cfg_path.exists():
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    src = raw.get("source", {})
    priv = raw.get("privacy", {})
    base = Settings()
    source = cfg_path.name
    wh = build_section(WarehouseSettings, raw.get("warehouse", {}), where=f"{source} [warehouse]")
    return Settings(
        warehouse_path=_resolve(wh.path),
        timezone=src.get("timezone", base.timezone),
        home_country=str(src.get("home_country", base.home_country)).upper(),
        currency=str(src.get("currency", base.currency)).upper(),
        k_anonymity=int(priv.get("k_anonymity", base.k_anonymity)),
        raw=MappingProxyType(raw),
        source=source,
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()


def secret(name: str, default: str | None = None) -> str | None:
    """A secret from the environment (``ANALYTICS_<NAME>``); never from the committed file."""
    return os.environ.get(f"ANALYTICS_{name.upper()}", default)
