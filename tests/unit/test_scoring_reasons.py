"""Tiers, scores and reasons computed column by column equal the per-resident rules they replace."""

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from grassroots.scoring import features, model, run

NAMES = features.FEATURES


def _reference(values: np.ndarray, clustering: model.Clustering, i: int) -> tuple[str, float, list[str], list[str]]:
    """One resident the way scoring did it before it was vectorised: a Python loop over residents."""
    pulls = model.contributions(values, clustering)[i]
    c = int(clustering.cluster_of[i])
    tier = clustering.tiers[c]
    profile = clustering.centroids_z[c] * clustering.weights
    own = [int(j) for j in np.argsort(-pulls, kind="stable") if pulls[j] >= model.REASON_MIN][: model.MAX_REASONS]
    chosen = own
    if not own and tier == model.TIERS[0][0]:
        chosen = [int(j) for j in np.argsort(-profile, kind="stable") if profile[j] > 0][: model.MAX_REASONS]
    zh, en = [], []
    for j in chosen:
        feature = features.BY_NAME[NAMES[j]]
        if j in own:
            text_zh, text_en = feature.reason(float(values[i, j]))
        else:
            text_zh, text_en = f"所在群体特征：{feature.label_zh}", f"in a group marked by: {feature.label_en}"
        zh.append(text_zh)
        en.append(text_en)
    return tier, round(float(pulls.sum() / clustering.weights.sum()), 4), zh, en


def _stored(number: float | str) -> Decimal:
    """What numeric(8,4) keeps of a number's text."""
    return Decimal(str(number)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def scored() -> tuple[features.FeatureTable, model.Clustering]:
    """Residents with many ties (small integers and repeated amounts) in clusters of every tier,
    the top one holding residents near the mean so that some get their cluster's reasons."""
    rng = np.random.default_rng(5)
    n, k = 4000, 6
    values = np.column_stack(
        [
            rng.integers(0, 100, n),
            rng.random(n) < 0.1,
            rng.choice([0.0, 850.5, 1200.25, 1900.0], n),
            rng.choice([0.0, 0.0, 1500.75, 3000.0], n),
            rng.integers(0, 4, n),
            rng.random(n) < 0.2,
            rng.random(n) < 0.3,
            rng.integers(0, 5, n),
            rng.poisson(0.3, n),
            rng.poisson(0.2, n),
        ]
    ).astype(float)
    values[:40] = values.mean(axis=0).round()  # ordinary residents …
    weights = np.array([features.BY_NAME[name].weight for name in NAMES])
    scale = values.std(axis=0)
    centroids_z = rng.normal(0, 1, (k, len(NAMES)))
    centroids_z[0] = np.abs(centroids_z[0]) + 0.5
    cluster_of = rng.integers(0, k, n)
    cluster_of[:40] = 0  # … in the top tier's cluster
    clustering = model.Clustering(
        k=k,
        k_selection={},
        algorithm="KMeans",
        init="k-means++",
        mean=values.mean(axis=0),
        scale=scale,
        weights=weights,
        cluster_of=cluster_of,
        labels=[3, 1, 4, 0, 5, 2],
        centroids=centroids_z * scale,
        centroids_z=centroids_z,
        scores=np.zeros(k),
        tiers=["high", "elevated", "moderate", "low", "high", "low"],
        sizes=np.bincount(cluster_of, minlength=k).tolist(),
        silhouette=0.0,
        silhouette_sample=0,
    )
    keys = np.array([f"{i:064x}" for i in range(n)], dtype=object)
    table = features.FeatureTable(NAMES, keys, np.full(n, "c", dtype=object), np.full(n, None, dtype=object), values)
    return table, clustering


def test_every_resident_gets_the_tier_score_and_reasons_of_the_per_resident_rules(scored) -> None:
    table, clustering = scored
    residents = run._resident_tiers(table, clustering)
    group_reasons = 0
    for i in range(len(table.person_keys)):
        tier, score, zh, en = _reference(table.values, clustering, i)
        c = residents.cluster_of[i]
        assert (residents.tiers[c], residents.cluster_labels[c]) == (tier, clustering.labels[c])
        assert _stored(f"{residents.scores[i]:.4f}") == _stored(score)
        assert residents.reasons[residents.reason_set[i]] == (zh, en)
        group_reasons += bool(zh) and zh[0].startswith("所在群体特征")
    assert group_reasons >= 40  # the cluster's reasons were exercised, not only a resident's own


def test_a_score_on_a_rounding_edge_is_stored_as_round_gives_it() -> None:
    edges = np.array([0.00005, 0.12345, -0.00005, 1.00005, 2.4404999999999997, 0.30000000000000004])
    assert [_stored(f"{x:.4f}") for x in edges] == [_stored(round(float(x), 4)) for x in edges]
