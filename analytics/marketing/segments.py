"""Interpretable subscriber segments: k-means on scaled behavioural features.

Grain in: one row per subscriber (the month's profile: indicators, usage, costs).
Grain out: :func:`fit_segments` gives one row per subscriber (``segment_id``,
``segment``, ``pc1``, ``pc2``) and one row per segment (its profile).

Method (all choices in ``[marketing]`` of analytics.toml, defaults below):

* features (:data:`FEATURES`): volumes and counts log1p-transformed (voice minutes,
  sms, data MB, contacts, radius of gyration, spend), shares kept as they are (night
  share of calls and texts, roaming, international), active days; nulls (no call, no
  location...) count 0; then standardised (z-scores).
* k-means (scikit-learn, ``n_init=10``, ``random_state=seed``). The number of segments
  is the k in ``k_min..k_max`` (3..8) with the highest silhouette score on a seeded
  sample of at most ``silhouette_sample`` (3000) subscribers (k-means there with
  ``search_n_init`` = 3 starts); ties go to the smaller k; the model is fitted on a seeded
  sample of at most ``fit_sample`` and assigns everyone. Fewer than ``min_subscribers``
  subscribers make a single segment. Same data + same seed -> same segments.
* Segment ids are ordered by size (0 = largest). The name comes from the centroid: the
  (up to 3) features whose centroid z-score is furthest from 0 (|z| >= 0.5), each
  worded high/low (:data:`WORDS`), e.g. "heavy data, night owl, low voice"; "typical"
  when no feature stands out.
* The 2-D map is a PCA of the same scaled features.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from analytics.marketing.settings import MarketingSettings, marketing_settings

log = logging.getLogger(__name__)

LOG_FEATURES = ("voice_minutes", "sms", "data_mb", "contacts", "radius_of_gyration", "spend_f")
SHARE_FEATURES = ("night_share", "roaming_share", "international_share", "usage_active_days")
FEATURES = LOG_FEATURES + SHARE_FEATURES

# feature -> (word when high, word when low); None: not worth a word
WORDS: dict[str, tuple[str, str | None]] = {
    "data_mb": ("heavy data", "light data"),
    "voice_minutes": ("heavy voice", "low voice"),
    "sms": ("texter", "few texts"),
    "night_share": ("night owl", "daytime"),
    "roaming_share": ("roamer", None),
    "international_share": ("international caller", None),
    "radius_of_gyration": ("mobile", "local"),
    "contacts": ("wide circle", "small circle"),
    "spend_f": ("high spend", "low spend"),
    "usage_active_days": ("daily user", "occasional"),
}


def feature_frame(profiles: pl.DataFrame) -> pl.DataFrame:
    """The clustering features of each subscriber (raw units, nulls as 0)."""
    n_call = pl.col("number_of_interactions_call").fill_null(0)
    n_text = pl.col("number_of_interactions_text").fill_null(0)
    night = (
        pl.col("percent_nocturnal_call").fill_null(0) * n_call + pl.col("percent_nocturnal_text").fill_null(0) * n_text
    )
    return profiles.select(
        "msisdn",
        pl.col("voice_minutes").fill_null(0).cast(pl.Float64),
        pl.col("sms").fill_null(0).cast(pl.Float64),
        pl.col("data_mb").fill_null(0).cast(pl.Float64),
        (pl.col("number_of_contacts_call").fill_null(0) + pl.col("number_of_contacts_text").fill_null(0))
        .cast(pl.Float64)
        .alias("contacts"),
        pl.col("radius_of_gyration").fill_null(0).cast(pl.Float64),
        pl.col("spend").cast(pl.Float64).fill_null(0).alias("spend_f"),
        pl.when(n_call + n_text > 0).then(night / (n_call + n_text)).otherwise(0.0).alias("night_share"),
        pl.col("roaming_share").fill_null(0).cast(pl.Float64),
        pl.col("international_share").fill_null(0).cast(pl.Float64),
        pl.col("usage_active_days").fill_null(0).cast(pl.Float64),
    )


def _matrix(features: pl.DataFrame) -> np.ndarray:
    return features.select(
        *[pl.col(c).clip(lower_bound=0).log1p() for c in LOG_FEATURES], *[pl.col(c) for c in SHARE_FEATURES]
    ).to_numpy()


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=size, replace=False)) if n > size else np.arange(n)


def choose_k(x: np.ndarray, *, opts: MarketingSettings) -> tuple[int, dict[int, float]]:
    """The k of ``k_min..k_max`` with the best silhouette on a seeded sample."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(opts.seed)
    xs = x[_sample(len(x), opts.silhouette_sample, rng)]
    scores: dict[int, float] = {}
    distinct = len(np.unique(xs, axis=0))
    for k in range(opts.k_min, opts.k_max + 1):
        if k >= distinct:
            break
        labels = KMeans(n_clusters=k, n_init=opts.search_n_init, random_state=opts.seed).fit_predict(xs)
        if len(set(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(xs, labels))
    if not scores:
        return 1, scores
    return max(scores, key=lambda k: (scores[k], -k)), scores


def _name(z: np.ndarray, threshold: float, taken: set[str]) -> str:
    order = np.argsort(-np.abs(z), kind="stable")
    words = []
    for i in order:
        if abs(z[i]) < threshold:
            break
        high, low = WORDS[FEATURES[i]]
        word = high if z[i] > 0 else low
        if word:
            words.append(word)
    for n in range(min(3, len(words)), len(words) + 1):
        name = ", ".join(words[:n]) if n else "typical"
        if name not in taken:
            return name
    base = ", ".join(words[:3]) or "typical"
    i = 2
    while f"{base} ({i})" in taken:
        i += 1
    return f"{base} ({i})"


def fit_segments(
    profiles: pl.DataFrame, *, options: MarketingSettings | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(assignments, centroids, info) for the month's subscriber ``profiles``.

    assignments: msisdn, segment_id, segment, pc1, pc2 (+ the features).
    centroids: one row per segment: segment_id, segment, and each feature's centroid
    z-score (``z_<feature>``). info: chosen k and silhouette scores.
    """
    opts = options or marketing_settings()
    features = feature_frame(profiles)
    n = features.height
    if n == 0:
        assign = features.with_columns(
            pl.lit(None, pl.Int64).alias("segment_id"),
            pl.lit(None, pl.String).alias("segment"),
            pl.lit(None, pl.Float64).alias("pc1"),
            pl.lit(None, pl.Float64).alias("pc2"),
        )
        centroids = pl.DataFrame(schema={"segment_id": pl.Int64, "segment": pl.String})
        return assign, centroids, {"k": 0, "silhouette": {}}
    # scikit-learn is imported here: it takes seconds to import and empty months need none of it
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(_matrix(features))
    if n < opts.min_subscribers:
        k, scores = 1, {}
    else:
        k, scores = choose_k(x, opts=opts)
    rng = np.random.default_rng(opts.seed)
    fit_rows = x[_sample(n, opts.fit_sample, rng)]
    if k == 1:
        labels = np.zeros(n, dtype=np.int64)
        centers = x.mean(axis=0, keepdims=True)
    else:
        model = KMeans(n_clusters=k, n_init=10, random_state=opts.seed).fit(fit_rows)
        labels = model.predict(x)
        centers = model.cluster_centers_
    # relabel: 0 = largest segment (ties by centroid), so ids are stable for the same data
    sizes = np.bincount(labels, minlength=len(centers))
    order = sorted(range(len(centers)), key=lambda c: (-sizes[c], tuple(np.round(centers[c], 9))))
    remap = np.empty(len(centers), dtype=np.int64)
    remap[order] = np.arange(len(centers))
    labels = remap[labels]
    centers = centers[order]
    taken: set[str] = set()
    names = []
    for c in centers:
        name = _name(c, opts.name_threshold, taken) if k > 1 else "all subscribers"
        taken.add(name)
        names.append(name)
    if n >= 3 and x.shape[1] >= 2:
        pca = PCA(n_components=2, random_state=opts.seed).fit(fit_rows if len(fit_rows) >= 2 else x)
        coords = pca.transform(x)
    else:
        coords = np.zeros((n, 2))
    assignments = features.with_columns(
        pl.Series("segment_id", labels, dtype=pl.Int64),
        pl.Series("segment", [names[i] for i in labels], dtype=pl.String),
        pl.Series("pc1", coords[:, 0], dtype=pl.Float64),
        pl.Series("pc2", coords[:, 1], dtype=pl.Float64),
    )
    centroids = pl.DataFrame(
        {"segment_id": np.arange(len(centers), dtype=np.int64), "segment": names}
        | {f"z_{f}": centers[:, i] for i, f in enumerate(FEATURES)}
    )
    log.info("segments: %d subscribers, k=%d (silhouette %s)", n, k, scores)
    return assignments, centroids, {"k": k, "silhouette": scores}
