"""The `scoring` schema: model registry, clusters, resident tiers; reads the previous run back."""

from __future__ import annotations

import datetime as dt
import json
import logging

import numpy as np
import psycopg
from psycopg import sql

from grassroots.scoring.model import Clustering, Previous, tier_rank

log = logging.getLogger(__name__)

COLUMNS = {
    "model_run": (
        ("ds", "date not null"), ("run_id", "text not null"), ("algorithm", "text not null"),
        ("init", "text not null"), ("seed", "integer not null"), ("features", "jsonb not null"),
        ("awaiting_features", "jsonb not null"), ("parameters", "jsonb not null"), ("k", "integer not null"),
        ("k_selection", "jsonb not null"), ("residents", "integer not null"),
        ("silhouette", "numeric(6,4) not null"), ("silhouette_sample", "integer not null"),
        ("scaler", "jsonb not null"), ("tier_rule", "text not null"), ("tier_sizes", "jsonb not null"),
        ("previous_ds", "date"), ("tier_changes", "integer not null"),
    ),
    "model_cluster": (
        ("ds", "date not null"), ("cluster_label", "integer not null"), ("size", "integer not null"),
        ("centroid", "jsonb not null"), ("centroid_z", "jsonb not null"), ("risk_score", "numeric(8,4) not null"),
        ("risk_tier", "text not null"), ("tier_rank", "integer not null"), ("previous_cluster_label", "integer"),
        ("previous_tier", "text"), ("match_distance", "numeric(10,4)"), ("profile", "text not null"),
    ),
    "resident_risk": (
        ("ds", "date not null"), ("person_key", "char(64) not null"), ("community_code", "text not null"),
        ("grid_code", "text"), ("cluster_label", "integer not null"), ("risk_tier", "text not null"),
        ("tier_rank", "integer not null"), ("risk_score", "numeric(8,4) not null"),
        ("reasons", "text[] not null"), ("reasons_en", "text[] not null"),
    ),
}  # fmt: skip
PRIMARY_KEYS = {"model_run": ("ds",), "model_cluster": ("ds", "cluster_label"), "resident_risk": ("ds", "person_key")}


def _create(name: str) -> sql.Composed:
    return sql.SQL("create table if not exists {} ({}, primary key ({}))").format(
        sql.Identifier("scoring", name),
        sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in COLUMNS[name]),
        sql.SQL(", ").join(map(sql.Identifier, PRIMARY_KEYS[name])),
    )


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create the scoring tables (schema `scoring` comes from the bootstrap); replace a table whose
    columns differ (scoring tables are derived data)."""
    for name, columns in COLUMNS.items():
        existing = [
            row[0]
            for row in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'scoring' "
                "and table_name = %s order by ordinal_position",
                (name,),
            )
        ]
        if existing and existing != [c for c, _ in columns]:
            log.warning("scoring.%s has an older layout: recreating it", name)
            conn.execute(sql.SQL("drop table {} cascade").format(sql.Identifier("scoring", name)))
        conn.execute(_create(name))


def previous_run(conn: psycopg.Connection, ds: dt.date) -> Previous | None:
    """The latest run before `ds`, if any."""
    run = conn.execute(
        "select ds, features, k from scoring.model_run where ds < %s order by ds desc limit 1", (ds,)
    ).fetchone()
    if run is None:
        return None
    clusters = conn.execute(
        "select cluster_label, centroid, risk_tier from scoring.model_cluster where ds = %s order by cluster_label",
        (run[0],),
    ).fetchall()
    features = tuple(f["name"] for f in run[1])
    return Previous(
        ds=run[0],
        features=features,
        k=run[2],
        labels=[c[0] for c in clusters],
        centroids=np.array([[c[1][name] for name in features] for c in clusters], dtype=float),
        tiers=[c[2] for c in clusters],
    )


def _round(values: np.ndarray, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


def write_run(
    conn: psycopg.Connection, ds: dt.date, clustering: Clustering, feature_spec: list[dict], meta: dict
) -> None:
    """Replace the day's model_run and model_cluster rows."""
    names = [f["name"] for f in feature_spec]
    tier_sizes: dict[str, int] = {}
    for tier, size in zip(clustering.tiers, clustering.sizes, strict=True):
        tier_sizes[tier] = tier_sizes.get(tier, 0) + size
    matched = {m["cluster"]: m for m in clustering.matching}
    changes = sum(1 for i, label in enumerate(clustering.labels)
                  if label in matched and matched[label]["previous_tier"] != clustering.tiers[i])  # fmt: skip
    conn.execute("delete from scoring.model_cluster where ds = %s", (ds,))
    conn.execute("delete from scoring.model_run where ds = %s", (ds,))
    conn.execute(
        "insert into scoring.model_run values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            ds, f"risk-{ds.isoformat()}", clustering.algorithm, clustering.init, meta["seed"],
            json.dumps(feature_spec, ensure_ascii=False), json.dumps(meta["awaiting"]),
            json.dumps(meta["parameters"]), clustering.k, json.dumps(clustering.k_selection),
            int(clustering.cluster_of.size), round(clustering.silhouette, 4), clustering.silhouette_sample,
            json.dumps({"mean": dict(zip(names, _round(clustering.mean), strict=True)),
                        "scale": dict(zip(names, _round(clustering.scale), strict=True))}),
            meta["tier_rule"], json.dumps(dict(sorted(tier_sizes.items()))), meta["previous_ds"], changes,
        ),
    )  # fmt: skip
    for i, label in enumerate(clustering.labels):
        match = matched.get(label, {})
        conn.execute(
            "insert into scoring.model_cluster values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                ds, label, clustering.sizes[i],
                json.dumps(dict(zip(names, _round(clustering.centroids[i]), strict=True))),
                json.dumps(dict(zip(names, _round(clustering.centroids_z[i]), strict=True))),
                round(float(clustering.scores[i]), 4), clustering.tiers[i], tier_rank(clustering.tiers[i]),
                match.get("previous_cluster"), match.get("previous_tier"), match.get("distance"),
                meta["profiles"][i],
            ),
        )  # fmt: skip


def write_residents(conn: psycopg.Connection, ds: dt.date, rows: list[tuple]) -> None:
    """Replace the day's resident tiers (rows in scoring.resident_risk column order, without ds)."""
    conn.execute("delete from scoring.resident_risk where ds = %s", (ds,))
    with conn.cursor().copy(
        "copy scoring.resident_risk (ds, person_key, community_code, grid_code, cluster_label, risk_tier, "
        "tier_rank, risk_score, reasons, reasons_en) from stdin"
    ) as copy:
        for row in rows:
            copy.write_row((ds, *row))
