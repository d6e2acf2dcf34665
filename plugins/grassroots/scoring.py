"""Resident risk clusters: features from the warehouse, scaled, KMeans, ranked into tiers.

Cluster ids mean nothing; tiers come from an explicit rule over cluster profiles: each
centroid gets a risk score, the sum of its standardised features signed by RISK_DIRECTION
(older, on assistance, lower pension, higher attention level, living alone = riskier),
and clusters are ranked by that score.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import psycopg

log = logging.getLogger(__name__)
SEED = 369
K = 4
TIER_NAMES = ("high", "elevated", "moderate", "low")
RISK_DIRECTION = {
    "age": 1.0,
    "on_assistance": 1.0,
    "assistance_amount": 0.5,
    "pension_monthly": -1.0,
    "attention_level": 1.0,
    "lives_alone": 1.0,
}
FEATURES = tuple(RISK_DIRECTION)
REASONS = {
    "age": "older resident",
    "on_assistance": "receives social assistance",
    "assistance_amount": "high assistance amount",
    "pension_monthly": "low or no pension",
    "attention_level": "raised attention level",
    "lives_alone": "lives alone",
}

DDL = (
    "create schema if not exists scoring",
    """create table if not exists scoring.model_run (
        ds date primary key, model text not null, k integer not null, seed integer not null,
        features jsonb not null, residents integer not null, silhouette numeric(6,4),
        cluster_sizes jsonb not null, centroids jsonb not null, tier_rule text not null)""",
    """create table if not exists scoring.resident_risk (
        ds date not null, person_key char(64) not null, community_code text not null,
        cluster_id integer not null, risk_tier text not null, risk_score numeric(8,4) not null,
        reasons text[] not null, primary key (ds, person_key))""",
)


def _features(conn: psycopg.Connection) -> tuple[list[str], list[str], list[list[float]]]:
    rows = conn.execute(
        "select person_key, community_code, age, on_assistance::int, assistance_amount, "
        "coalesce(pension_monthly, 0), attention_level, lives_alone::int "
        "from warehouse.dim_residents order by person_key"
    ).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows], [[float(v) for v in r[2:]] for r in rows]


def score_day(dsn: str, ds: dt.date) -> dict[str, object]:
    """Cluster today's residents and replace the day's scoring rows; return counts only."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    with psycopg.connect(dsn) as conn:
        for statement in DDL:
            conn.execute(statement)
        keys, communities, matrix = _features(conn)
        if len(keys) < K:
            raise ValueError(f"scoring {ds}: {len(keys)} residents, need at least {K}")
        x = StandardScaler().fit_transform(np.array(matrix))
        model = KMeans(n_clusters=K, random_state=SEED, n_init=10).fit(x)
        direction = np.array([RISK_DIRECTION[f] for f in FEATURES])
        centroid_scores = model.cluster_centers_ @ direction
        order = np.argsort(-centroid_scores)
        tier_of = {int(cluster): TIER_NAMES[rank] for rank, cluster in enumerate(order)}
        contributions = x * direction
        sample = min(len(keys), 5000)
        silhouette = float(silhouette_score(x, model.labels_, sample_size=sample, random_state=SEED))
        sizes = np.bincount(model.labels_, minlength=K)
        conn.execute("delete from scoring.resident_risk where ds = %s", (ds,))
        conn.execute("delete from scoring.model_run where ds = %s", (ds,))
        conn.execute(
            "insert into scoring.model_run values (%s, 'kmeans', %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                ds, K, SEED, json.dumps(FEATURES), len(keys), round(silhouette, 4),
                json.dumps({tier_of[c]: int(sizes[c]) for c in range(K)}),
                json.dumps({tier_of[c]: [round(float(v), 4) for v in model.cluster_centers_[c]] for c in range(K)}),
                __doc__.split("\n\n")[1].replace("\n", " "),
            ),
        )  # fmt: skip
        with conn.cursor().copy(
            "copy scoring.resident_risk (ds, person_key, community_code, cluster_id, risk_tier, risk_score, reasons) "
            "from stdin"
        ) as copy:
            for i, key in enumerate(keys):
                cluster = int(model.labels_[i])
                top = [FEATURES[j] for j in np.argsort(-contributions[i])[:3] if contributions[i][j] > 0.5]
                copy.write_row((
                    ds, key, communities[i], cluster, tier_of[cluster],
                    round(float(contributions[i].sum()), 4), [REASONS[f] for f in top],
                ))  # fmt: skip
    summary = {"ds": ds.isoformat(), "residents": len(keys), "silhouette": round(silhouette, 4),
               "tier_sizes": {tier_of[c]: int(sizes[c]) for c in range(K)}}  # fmt: skip
    log.info("scoring %s: %s", ds, summary)
    return summary
