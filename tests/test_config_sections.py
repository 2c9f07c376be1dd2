"""Typed settings sections: code defaults, the file's overrides, and one-line refusals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from analytics import config
from analytics.billing.shock import BillingSettings
from analytics.config import SettingsError, WarehouseSettings, load_settings, with_options
from analytics.formats._common import FormatSettings
from analytics.fraud import clone, engine, irsf, simbox, spike, wangiri
from analytics.ingest import IngestSettings
from analytics.live.kpis import LiveSettings
from analytics.marketing.settings import MarketingSettings
from analytics.marts import MartsSettings
from analytics.network.kpis import NetworkSettings
from analytics.security.schema import SecuritySettings
from pages._settings import DashboardSettings

REPO = Path(__file__).resolve().parent.parent

# table -> its section class (every typed section of the product)
SECTIONS: dict[str, type] = {
    "warehouse": WarehouseSettings,
    "ingest": IngestSettings,
    "formats": FormatSettings,
    "billing": BillingSettings,
    "marts": MartsSettings,
    "marketing": MarketingSettings,
    "network": NetworkSettings,
    "fraud": engine.FraudSettings,
    "fraud.sim_box": simbox.SimBoxSettings,
    "fraud.irsf": irsf.IrsfSettings,
    "fraud.wangiri": wangiri.WangiriSettings,
    "fraud.sim_clone": clone.CloneSettings,
    "fraud.usage_spike": spike.SpikeSettings,
    "security": SecuritySettings,
    "live": LiveSettings,
    "dashboard": DashboardSettings,
}
CORE = {"source", "privacy"}  # read into Settings itself


def _tables(raw: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in raw.items():
        if isinstance(value, dict) and f"{prefix}{key}" not in {"live.windows"}:
            out |= {f"{prefix}{key}"} | _tables(value, f"{prefix}{key}.")
    return out


def _file(tmp_path: Path, text: str) -> config.Settings:
    path = tmp_path / "analytics.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


@pytest.mark.parametrize("table", sorted(SECTIONS))
def test_missing_table_gives_the_code_defaults(tmp_path: Path, table: str) -> None:
    kind = SECTIONS[table]
    assert _file(tmp_path, "").section(table, kind) == kind()


@pytest.mark.parametrize("table", sorted(SECTIONS))
def test_committed_file_is_accepted_by_every_section(table: str) -> None:
    section = load_settings(REPO / "analytics.toml").section(table, SECTIONS[table])
    assert dataclasses.is_dataclass(section)


def test_every_table_of_the_committed_file_has_a_section() -> None:
    import tomllib

    from analytics.forecast.pipeline import ForecastSettings

    raw = tomllib.loads((REPO / "analytics.toml").read_text(encoding="utf-8"))
    assert _tables(raw) <= set(SECTIONS) | CORE | {"forecast"}
    load_settings(REPO / "analytics.toml").section("forecast", ForecastSettings)


@pytest.mark.parametrize("doc", sorted((REPO / "docs").glob("*.md")), ids=lambda p: p.name)
def test_settings_shown_in_the_docs_are_accepted(tmp_path: Path, doc: Path) -> None:
    import re

    for block in re.findall(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
        cfg = _file(tmp_path, block)
        for table in set(SECTIONS) & _tables(dict(cfg.raw)):
            cfg.section(table, SECTIONS[table])


def test_file_overrides_the_defaults_key_by_key(tmp_path: Path) -> None:
    cfg = _file(tmp_path, "[marketing]\nupsell_window_months = 6\nmin_saving = 2\n")
    got = cfg.section("marketing", MarketingSettings)
    assert got == dataclasses.replace(MarketingSettings(), upsell_window_months=6, min_saving=2.0)
    assert isinstance(got.min_saving, float)  # a TOML integer is a fine number


def test_section_is_frozen(tmp_path: Path) -> None:
    got = _file(tmp_path, "").section("marts", MartsSettings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.forecasts_after_load = False  # type: ignore[misc]


def test_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    cfg = _file(tmp_path, "[marketing]\nupsell_windows_months = 6\n")
    with pytest.raises(SettingsError, match=r"^analytics.toml \[marketing\] upsell_windows_months: unknown key") as e:
        cfg.section("marketing", MarketingSettings)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[marketing]\nk_max = "8"\n', r"\[marketing\] k_max: expected an integer, got '8'"),
        ("[marketing]\nk_max = 8.5\n", r"\[marketing\] k_max: expected an integer, got 8.5"),
        ("[marketing]\nseed = true\n", r"\[marketing\] seed: expected an integer, got True"),
        ('[marketing]\nmin_saving = "1"\n', r"\[marketing\] min_saving: expected a number, got '1'"),
        ("[marts]\nforecasts_after_load = 1\n", r"\[marts\] forecasts_after_load: expected true/false, got 1"),
        ("[warehouse]\nmemory_limit = 3\n", r"\[warehouse\] memory_limit: expected a string, got 3"),
    ],
)
def test_wrongly_typed_value_is_refused_with_its_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "analytics.toml"
    path.write_text(text, encoding="utf-8")
    table = text.split("]")[0].lstrip("[")
    with pytest.raises(SettingsError, match=message) as e:
        load_settings(path).section(table, SECTIONS[table])
    assert "\n" not in str(e.value)


def test_warehouse_table_is_checked_when_the_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "analytics.toml"
    path.write_text('[warehouse]\nmemory_limt = "1GB"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"\[warehouse\] memory_limt: unknown key"):
        load_settings(path)


def test_overrides_are_checked_like_the_file() -> None:
    base = MarketingSettings()
    assert with_options(base, {"seed": 3}).seed == 3
    assert with_options(base, None) is base
    with pytest.raises(SettingsError, match=r"overrides sed: unknown key"):
        with_options(base, {"sed": 3})


def test_a_union_takes_any_of_its_types(tmp_path: Path) -> None:
    import datetime as dt

    from analytics.ingest import IngestSettings

    assert _file(tmp_path, "[ingest]\nearliest_start = 2001-02-03\n").section(
        "ingest", IngestSettings
    ).earliest_start == dt.date(2001, 2, 3)
    assert (
        _file(tmp_path, '[ingest]\nearliest_start = "2001-02-03"\n').section("ingest", IngestSettings).earliest_start
        == "2001-02-03"
    )
    with pytest.raises(SettingsError, match=r"\[ingest\] earliest_start: expected a string or a date, got 2001"):
        _file(tmp_path, "[ingest]\nearliest_start = 2001\n").section("ingest", IngestSettings)


def test_a_nested_table_is_its_own_section(tmp_path: Path) -> None:
    cfg = _file(tmp_path, "[fraud]\nmax_evidence_ids = 50\n[fraud.sim_box]\nmin_calls = 7\n")
    assert cfg.section("fraud", engine.FraudSettings).max_evidence_ids == 50
    assert cfg.section("fraud.sim_box", simbox.SimBoxSettings) == simbox.SimBoxSettings(min_calls=7)
    assert cfg.section("fraud.irsf", irsf.IrsfSettings) == irsf.IrsfSettings()


def test_an_unknown_nested_table_is_refused(tmp_path: Path) -> None:
    cfg = _file(tmp_path, "[fraud.sim_boxx]\nmin_calls = 7\n")
    with pytest.raises(SettingsError, match=r"\[fraud\] sim_boxx: unknown key"):
        cfg.section("fraud", engine.FraudSettings)


def test_a_table_value_is_checked_entry_by_entry(tmp_path: Path) -> None:
    cfg = _file(tmp_path, '[live.windows]\n"5m" = 300\n')
    assert cfg.section("live", LiveSettings).windows == {"5m": 300}
    with pytest.raises(SettingsError, match=r"\[live\] windows.5m: expected an integer, got '300'"):
        _file(tmp_path, '[live.windows]\n"5m" = "300"\n').section("live", LiveSettings)


def test_a_list_becomes_a_tuple_and_its_items_are_checked(tmp_path: Path) -> None:
    got = _file(tmp_path, "[billing]\nshock_levels = [0.5, 1]\n").section("billing", BillingSettings)
    assert got.shock_levels == (0.5, 1.0)
    with pytest.raises(SettingsError, match=r"\[billing\] shock_levels: expected a number, got 'high'"):
        _file(tmp_path, '[billing]\nshock_levels = [0.5, "high"]\n').section("billing", BillingSettings)


def test_fraud_overrides_are_checked_per_detector() -> None:
    got = engine.options({"max_evidence_ids": 10, "sim_box": {"min_calls": 7}})
    assert (got.max_evidence_ids, got.detectors["sim_box"].min_calls) == (10, 7)
    assert got.detectors["irsf"] == config.settings().section("fraud.irsf", irsf.IrsfSettings)
    with pytest.raises(SettingsError, match=r"\[fraud.sim_box\] min_cals: unknown key"):
        engine.options({"sim_box": {"min_cals": 7}})


def test_live_options_fill_the_source_timezone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from analytics.live import kpis

    path = tmp_path / "analytics.toml"
    path.write_text('[source]\ntimezone = "Asia/Tokyo"\n', encoding="utf-8")
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    config.settings.cache_clear()
    try:
        assert kpis.options().timezone == "Asia/Tokyo"
        assert kpis.options({"timezone": "UTC"}).timezone == "UTC"
    finally:
        config.settings.cache_clear()


def test_dashboard_environment_wins_over_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from pages._settings import dashboard_settings

    monkeypatch.setenv("ANALYTICS_DEMO_ON_START", "no")
    monkeypatch.setenv("ANALYTICS_DEMO_SUBSCRIBERS", "200")
    got = dashboard_settings()
    assert (got.demo_on_first_start, got.demo_subscribers) == (False, 200)
    assert got.demo_months == config.settings().section("dashboard", DashboardSettings).demo_months
