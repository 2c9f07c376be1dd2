"""``[marketing]`` of analytics.toml: one typed section for segments, recommendations,
churn signals and the batch sizes of the indicator and re-rating queries (docs/marketing.md)."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.config import settings


@dataclass(frozen=True)
class MarketingSettings:
    # segments (analytics/marketing/segments.py): k-means seed, k searched by silhouette
    seed: int = 7
    k_min: int = 3
    k_max: int = 8
    silhouette_sample: int = 3000
    search_n_init: int = 3
    fit_sample: int = 50000
    min_subscribers: int = 12
    name_threshold: float = 0.5
    # recommendations (analytics/marketing/recommend.py)
    min_saving: float = 1.0
    upsell_window_months: int = 3
    upsell_min_months: int = 2
    # churn risk: records fell by at least this share against the previous month
    churn_drop: float = 0.3
    # batch sizes (records of the window per query)
    indicator_batch_records: int = 18_000_000
    rerate_batch_records: int = 25_000_000


def marketing_settings() -> MarketingSettings:
    """``[marketing]`` of analytics.toml over the code defaults."""
    return settings().section("marketing", MarketingSettings)
