"""The clustering model: weighted standard scaling, k by silhouette, warm-started KMeans, tiers and reasons.

Rules (also stored with every run in scoring.model_run):
- Scaling: each feature is standardised over today's residents (mean 0, standard deviation 1),
  then multiplied by its weight (features.Feature.weight).
- k: silhouette (on a seeded sample of at most SILHOUETTE_SAMPLE residents) for every k in
  K_CANDIDATES; the best wins, except that the previous run's k is kept while its silhouette is
  within K_KEEP_TOLERANCE of the best (day-to-day stability). The candidates start at 6 because
  the few most vulnerable residents are a small group that fewer clusters merge into larger ones.
- KMeans (MiniBatchKMeans above MINIBATCH_FROM residents) with SEED; when the previous run used
  the same features and k, it starts from the previous centroids (warm start), otherwise k-means++.
- Cluster ids mean nothing. Each cluster's risk score is the weighted mean of its centroid's
  standardised features (every feature points towards need), and the tier is the first of TIERS
  whose threshold the score reaches: a `high` cluster is one whose typical member is on average at
  least 1.5 standard deviations on the side of need.
- Clusters are matched to the previous run's by centroid distance (Hungarian assignment,
  scipy.optimize.linear_sum_assignment) and keep its labels, so label 3 is the same group every day.
- Hysteresis: a matched cluster keeps the previous run's tier while its score stays within
  TIER_HYSTERESIS of that tier's band (a large group of ordinary residents scoring just under
  0 one day and just over it the next does not flip hundreds of people between moderate and low).
- A resident's reasons are the features on which they are at least REASON_MIN weighted standard
  deviations on the side of need, largest first, at most MAX_REASONS; a resident of the top tier
  without any gets the features that define their cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEED = 369
K_CANDIDATES = tuple(range(6, 11))
K_KEEP_TOLERANCE = 0.02
SILHOUETTE_SAMPLE = 3000
K_SELECTION_SAMPLE = 20000
MINIBATCH_FROM = 100_000
TIERS = (("high", 1.5), ("elevated", 0.75), ("moderate", 0.0), ("low", float("-inf")))
WATCHLIST_TIERS = ("high", "elevated")
TIER_HYSTERESIS = 0.1
REASON_MIN = 0.75
MAX_REASONS = 3
TIER_RULE = (
    "cluster risk score = weighted mean of the centroid's standardised features (every feature points "
    "towards need); tier = high if score >= 1.5, elevated if >= 0.75, moderate if >= 0, else low; "
    "a cluster matched to yesterday's keeps yesterday's tier while its score is within 0.1 of that tier's band"
)


@dataclass
class Previous:
    """What today's model needs from the previous run."""

    ds: Any
    features: tuple[str, ...]
    k: int
    labels: list[int]
    centroids: np.ndarray  # original units, one row per label
    tiers: list[str]


@dataclass
class Clustering:
    """A fitted model for one day."""

    k: int
    k_selection: dict[str, Any]
    algorithm: str
    init: str
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    cluster_of: np.ndarray  # per resident: index into the arrays below
    labels: list[int]  # stable cluster label per cluster index
    centroids: np.ndarray  # original units
    centroids_z: np.ndarray  # standardised, unweighted
    scores: np.ndarray
    tiers: list[str]
    sizes: list[int]
    silhouette: float
    silhouette_sample: int
    matching: list[dict[str, Any]] = field(default_factory=list)


def tier_of(score: float) -> str:
    """The tier a cluster risk score falls in."""
    return next(name for name, threshold in TIERS if score >= threshold)


def tier_band(tier: str) -> tuple[float, float]:
    """[lower, upper) score bounds of a tier."""
    index = [name for name, _ in TIERS].index(tier)
    upper = TIERS[index - 1][1] if index else float("inf")
    return TIERS[index][1], upper


def tier_with_hysteresis(score: float, previous_tier: str | None) -> str:
    """The tier of a score, keeping `previous_tier` while the score is within TIER_HYSTERESIS of its band."""
    tier = tier_of(score)
    if previous_tier is None or tier == previous_tier:
        return tier
    lower, upper = tier_band(previous_tier)
    return previous_tier if lower - TIER_HYSTERESIS <= score < upper + TIER_HYSTERESIS else tier


def tier_rank(tier: str) -> int:
    """1 for the top tier."""
    return [name for name, _ in TIERS].index(tier) + 1


def _kmeans(k: int, n: int, init: np.ndarray | str, n_init: int) -> Any:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if n >= MINIBATCH_FROM:
        return MiniBatchKMeans(n_clusters=k, init=init, n_init=n_init, random_state=SEED, batch_size=4096)
    return KMeans(n_clusters=k, init=init, n_init=n_init, random_state=SEED)


def _silhouette(x: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    from sklearn.metrics import silhouette_score

    sample = min(len(x), SILHOUETTE_SAMPLE)
    return float(silhouette_score(x, labels, sample_size=sample, random_state=SEED)), sample


def choose_k(x: np.ndarray, previous_k: int | None) -> tuple[int, dict[str, Any]]:
    """k by silhouette over K_CANDIDATES, keeping the previous k while it is within tolerance of the best."""
    rng = np.random.default_rng(SEED)
    sample = x if len(x) <= K_SELECTION_SAMPLE else x[rng.choice(len(x), K_SELECTION_SAMPLE, replace=False)]
    candidates = [k for k in K_CANDIDATES if k < len(sample)]
    scores = {
        k: _silhouette(sample, _kmeans(k, len(sample), "k-means++", 4).fit_predict(sample))[0] for k in candidates
    }
    best = max(scores, key=lambda k: (scores[k], -k))
    kept = previous_k in scores and scores[previous_k] >= scores[best] - K_KEEP_TOLERANCE
    chosen = previous_k if kept else best
    return chosen, {
        "method": "silhouette",
        "candidates": {str(k): round(v, 4) for k, v in scores.items()},
        "best": best,
        "kept_previous": bool(kept),
        "tolerance": K_KEEP_TOLERANCE,
        "sample": len(sample),
    }


def _match(previous: Previous, centroids: np.ndarray, mean: np.ndarray, scale: np.ndarray, weights: np.ndarray):
    """Hungarian assignment of today's centroids to the previous run's, in today's weighted space."""
    from scipy.optimize import linear_sum_assignment

    old = (previous.centroids - mean) / scale * weights
    new = (centroids - mean) / scale * weights
    distances = np.linalg.norm(new[:, None, :] - old[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(distances)
    return {int(r): (int(c), float(distances[r, c])) for r, c in zip(rows, cols, strict=True)}


def fit(values: np.ndarray, weights: np.ndarray, features: tuple[str, ...], previous: Previous | None) -> Clustering:
    """Scale, choose k, cluster, label clusters stably, score and tier them."""
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale == 0] = 1.0
    x = (values - mean) / scale * weights
    same_features = previous is not None and previous.features == features
    k, selection = choose_k(x, previous.k if same_features else None)
    warm = same_features and previous.k == k
    init = (previous.centroids - mean) / scale * weights if warm else "k-means++"
    model = _kmeans(k, len(x), init, 1 if warm else 10).fit(x)
    cluster_of = model.labels_.astype(int)
    centroids_z = model.cluster_centers_ / weights
    centroids = centroids_z * scale + mean
    matching: list[dict[str, Any]] = []
    labels = list(range(k))
    previous_tiers: list[str | None] = [None] * k
    if previous is not None and same_features:
        pairs = _match(previous, centroids, mean, scale, weights)
        taken = {previous.labels[c] for c, _ in pairs.values()}
        spare = (label for label in range(k + len(previous.labels)) if label not in taken)
        labels = [previous.labels[pairs[i][0]] if i in pairs else next(spare) for i in range(k)]
        for i, (c, _) in pairs.items():
            previous_tiers[i] = previous.tiers[c]
        for i, (c, distance) in sorted(pairs.items()):
            matching.append(
                {
                    "cluster": labels[i],
                    "previous_cluster": previous.labels[c],
                    "distance": round(distance, 4),
                    "previous_tier": previous.tiers[c],
                }
            )
    scores = centroids_z @ weights / weights.sum()
    silhouette, sample = _silhouette(x, cluster_of) if k > 1 else (0.0, 0)
    return Clustering(
        k=k,
        k_selection=selection,
        algorithm=type(model).__name__,
        init="previous centroids" if warm else "k-means++",
        mean=mean,
        scale=scale,
        weights=weights,
        cluster_of=cluster_of,
        labels=labels,
        centroids=centroids,
        centroids_z=centroids_z,
        scores=scores,
        tiers=[tier_with_hysteresis(float(s), t) for s, t in zip(scores, previous_tiers, strict=True)],
        sizes=np.bincount(cluster_of, minlength=k).tolist(),
        silhouette=silhouette,
        silhouette_sample=sample,
        matching=matching,
    )


def contributions(values: np.ndarray, clustering: Clustering) -> np.ndarray:
    """Per resident and feature: weighted standard deviations on the side of need."""
    return (values - clustering.mean) / clustering.scale * clustering.weights


def reason_indices(
    pulls: np.ndarray, cluster_of: np.ndarray, profiles: np.ndarray, top_clusters: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The features that explain each resident's tier (see module docstring), for all residents at once.

    `pulls` are the residents' contributions, `profiles` the clusters' (weighted centroids) and
    `top_clusters` marks the clusters of the top tier. Returns the feature indices, one row per
    resident, largest pull first, -1 where a resident has fewer than MAX_REASONS; and per resident
    whether they are their cluster's (a top-tier resident without reasons of their own)."""
    order = np.argsort(-pulls, axis=1, kind="stable")[:, :MAX_REASONS]
    # Sorted by pull, so the features that reach REASON_MIN are a prefix of each row.
    own = np.take_along_axis(pulls, order, axis=1) >= REASON_MIN
    indices = np.where(own, order, -1)
    group = top_clusters[cluster_of] & ~own.any(axis=1)
    profile_order = np.argsort(-profiles, axis=1, kind="stable")[:, :MAX_REASONS]
    profile_indices = np.where(np.take_along_axis(profiles, profile_order, axis=1) > 0, profile_order, -1)
    indices[group] = profile_indices[cluster_of[group]]
    return indices, group
