"""One day's scoring: features ► model ► tiers and reasons ► registry, resident tiers and watchlist."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import psycopg

from grassroots import settings
from grassroots.scoring import access, features, model, store

log = logging.getLogger(__name__)
MIN_RESIDENTS = 50


def _feature_spec(names: tuple[str, ...]) -> list[dict]:
    spec = []
    for name in names:
        feature = features.BY_NAME[name]
        spec.append(
            {
                "name": name,
                "label_zh": feature.label_zh,
                "label_en": feature.label_en,
                "weight": feature.weight,
                "source": ".".join((*features.RESIDENTS, name)),
            }
        )
    return spec


def _profile(names: tuple[str, ...], centroid_z: np.ndarray, weights: np.ndarray) -> str:
    """The cluster's defining features in words (largest weighted deviations towards need)."""
    pulls = centroid_z * weights
    top = [j for j in np.argsort(-pulls, kind="stable") if pulls[j] >= model.REASON_MIN][: model.MAX_REASONS]
    if not top:
        return "无突出需求 / no marked need"
    zh = "、".join(features.BY_NAME[names[j]].label_zh for j in top)
    en = ", ".join(features.BY_NAME[names[j]].label_en for j in top)
    return f"{zh} / {en}"


def _group_reason(feature: features.Feature) -> tuple[str, str]:
    """A reason about the resident's cluster, never a claim about the person."""
    return f"所在群体特征：{feature.label_zh}", f"in a group marked by: {feature.label_en}"


def _reason_sets(
    names: tuple[str, ...], values: np.ndarray, indices: np.ndarray, group: np.ndarray
) -> tuple[np.ndarray, list[tuple[list[str], list[str]]]]:
    """Per resident, an index into the distinct (Chinese reasons, English reasons) lists it returns.

    A feature's sentence depends on its value only, so each sentence is written once per distinct
    value (compared bit for bit) and residents share the lists: a million residents have a few
    thousand distinct ones."""
    texts: list[tuple[str, str]] = []
    text_ids = np.full(indices.shape, -1, dtype=np.int64)
    for j, name in enumerate(names):
        feature = features.BY_NAME[name]
        slots = indices == j
        rows, cols = np.nonzero(slots & ~group[:, None])
        if rows.size:
            distinct, inverse = np.unique(values[rows, j].view(np.int64), return_inverse=True)
            text_ids[rows, cols] = len(texts) + inverse
            texts.extend(feature.reason(float(v)) for v in distinct.view(np.float64))
        group_slots = slots & group[:, None]
        if group_slots.any():
            text_ids[group_slots] = len(texts)
            texts.append(_group_reason(feature))
    reason_set, first = store.distinct_rows([(slot + 1, len(texts) + 1) for slot in text_ids.T])
    reason_lists = []
    for row in text_ids[first]:
        chosen = [texts[t] for t in row if t >= 0]
        reason_lists.append(([zh for zh, _ in chosen], [en for _, en in chosen]))
    return reason_set, reason_lists


def _resident_tiers(table: features.FeatureTable, clustering: model.Clustering) -> store.ResidentTiers:
    """Every resident's cluster, tier, score and reasons, computed column by column."""
    pulls = model.contributions(table.values, clustering)
    profiles = clustering.centroids_z * clustering.weights
    top_clusters = np.array([tier == model.TIERS[0][0] for tier in clustering.tiers])
    indices, group = model.reason_indices(pulls, clustering.cluster_of, profiles, top_clusters)
    reason_set, reasons = _reason_sets(table.names, table.values, indices, group)
    return store.ResidentTiers(
        person_keys=table.person_keys,
        communities=table.communities,
        grids=table.grids,
        cluster_of=clustering.cluster_of,
        cluster_labels=clustering.labels,
        tiers=clustering.tiers,
        scores=pulls.sum(axis=1) / clustering.weights.sum(),
        reason_set=reason_set,
        reasons=reasons,
    )


def score_day(dsn: str, ds: dt.date) -> dict[str, object]:
    """Cluster the day's residents into risk tiers, store model, tiers and watchlist; return counts only."""
    with psycopg.connect(dsn) as conn:
        store.ensure_schema(conn)
        table = features.load(conn, ds)
        if len(table.person_keys) < MIN_RESIDENTS:
            raise ValueError(f"scoring {ds}: {len(table.person_keys)} residents, need at least {MIN_RESIDENTS}")
        weights = np.array([features.BY_NAME[n].weight for n in table.names])
        previous = store.previous_run(conn, ds)
        clustering = model.fit(table.values, weights, table.names, previous)
        meta = {
            "seed": model.SEED,
            "parameters": {
                "k_candidates": list(model.K_CANDIDATES),
                "tiers": dict(model.TIERS[:-1]),
                "reason_min": model.REASON_MIN,
                "max_reasons": model.MAX_REASONS,
                "tier_hysteresis": model.TIER_HYSTERESIS,
                "silhouette_sample": model.SILHOUETTE_SAMPLE,
                "minibatch_from": model.MINIBATCH_FROM,
                "dbt_vars": {
                    name: int(settings.dbt_var(name))
                    for name in ("recent_days", "pension_reference_yuan", "pension_age")
                },
            },
            "tier_rule": model.TIER_RULE,
            "previous_ds": previous.ds if previous else None,
            "profiles": [_profile(table.names, clustering.centroids_z[i], weights) for i in range(clustering.k)],
        }
        store.write_run(conn, ds, clustering, _feature_spec(table.names), meta)
        written = store.write_residents(conn, ds, _resident_tiers(table, clustering))
        watchlist = access.refresh_watchlist(conn, ds)
    tier_sizes: dict[str, int] = {}
    for tier, size in zip(clustering.tiers, clustering.sizes, strict=True):
        tier_sizes[tier] = tier_sizes.get(tier, 0) + size
    summary = {
        "ds": ds.isoformat(),
        "residents": len(table.person_keys),
        "k": clustering.k,
        "silhouette": round(clustering.silhouette, 4),
        "tier_sizes": tier_sizes,
        "watchlist": watchlist,
        "tier_history_changes": written["changed"],
    }
    log.info("scoring %s: %s", ds, summary)
    return summary
