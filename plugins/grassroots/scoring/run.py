"""One day's scoring: features ► model ► tiers and reasons ► registry, resident tiers and watchlist."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import psycopg

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
                "source": ".".join(feature.relation) + ":" + ",".join(feature.columns),
                "expression": feature.expression,
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


def _reasons(names: tuple[str, ...], row: np.ndarray, pulls: np.ndarray, profile: np.ndarray, top: bool):
    """(Chinese reasons, English reasons) for one resident."""
    zh, en = [], []
    own = [j for j in np.argsort(-pulls, kind="stable") if pulls[j] >= model.REASON_MIN][: model.MAX_REASONS]
    for j in model.reason_indices(pulls, profile, top):
        feature = features.BY_NAME[names[j]]
        if j in own:
            text_zh, text_en = feature.reason(float(row[j]))
        else:  # group-level reason: about the cluster, never a claim about the person
            text_zh, text_en = f"所在群体特征：{feature.label_zh}", f"in a group marked by: {feature.label_en}"
        zh.append(text_zh)
        en.append(text_en)
    return zh, en


def _resident_rows(table: features.FeatureTable, values: np.ndarray, clustering: model.Clustering) -> list[tuple]:
    pulls = model.contributions(values, clustering)
    profiles = clustering.centroids_z * clustering.weights
    rows = []
    for i, key in enumerate(table.person_keys):
        c = int(clustering.cluster_of[i])
        tier = clustering.tiers[c]
        zh, en = _reasons(table.names, values[i], pulls[i], profiles[c], tier == model.TIERS[0][0])
        score = float(pulls[i].sum() / clustering.weights.sum())
        rows.append((key, table.communities[i], table.grids[i], clustering.labels[c], tier, model.tier_rank(tier),
                     round(score, 4), zh, en))  # fmt: skip
    return rows


def score_day(dsn: str, ds: dt.date) -> dict[str, object]:
    """Cluster the day's residents into risk tiers, store model, tiers and watchlist; return counts only."""
    with psycopg.connect(dsn) as conn:
        store.ensure_schema(conn)
        table = features.load(conn, ds)
        if len(table.person_keys) < MIN_RESIDENTS:
            raise ValueError(f"scoring {ds}: {len(table.person_keys)} residents, need at least {MIN_RESIDENTS}")
        values = np.array(table.values, dtype=float)
        weights = np.array([features.BY_NAME[n].weight for n in table.names])
        previous = store.previous_run(conn, ds)
        clustering = model.fit(values, weights, table.names, previous)
        meta = {
            "seed": model.SEED,
            "awaiting": list(features.AWAITING_WAREHOUSE),
            "parameters": {"k_candidates": list(model.K_CANDIDATES), "tiers": dict(model.TIERS[:-1]),
                           "reason_min": model.REASON_MIN, "max_reasons": model.MAX_REASONS,
                           "tier_hysteresis": model.TIER_HYSTERESIS,
                           "silhouette_sample": model.SILHOUETTE_SAMPLE, "minibatch_from": model.MINIBATCH_FROM,
                           "pension_reference_yuan": features.PENSION_REFERENCE_YUAN,
                           "recent_days": features.RECENT_DAYS},
            "tier_rule": model.TIER_RULE,
            "previous_ds": previous.ds if previous else None,
            "profiles": [_profile(table.names, clustering.centroids_z[i], weights) for i in range(clustering.k)],
        }  # fmt: skip
        store.write_run(conn, ds, clustering, _feature_spec(table.names), meta)
        store.write_residents(conn, ds, _resident_rows(table, values, clustering))
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
    }
    log.info("scoring %s: %s", ds, summary)
    return summary
