"""The `scoring` schema: model registry, clusters, resident tiers; reads the previous run back."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from grassroots.scoring.model import Clustering, Previous, tier_rank

log = logging.getLogger(__name__)

COLUMNS = {
    "model_run": (
        ("ds", "date not null"),
        ("run_id", "text not null"),
        ("algorithm", "text not null"),
        ("init", "text not null"),
        ("seed", "integer not null"),
        ("features", "jsonb not null"),
        ("parameters", "jsonb not null"),
        ("k", "integer not null"),
        ("k_selection", "jsonb not null"),
        ("residents", "integer not null"),
        ("silhouette", "numeric(6,4) not null"),
        ("silhouette_sample", "integer not null"),
        ("scaler", "jsonb not null"),
        ("tier_rule", "text not null"),
        ("tier_sizes", "jsonb not null"),
        ("previous_ds", "date"),
        ("tier_changes", "integer not null"),
    ),
    "model_cluster": (
        ("ds", "date not null"),
        ("cluster_label", "integer not null"),
        ("size", "integer not null"),
        ("centroid", "jsonb not null"),
        ("centroid_z", "jsonb not null"),
        ("risk_score", "numeric(8,4) not null"),
        ("risk_tier", "text not null"),
        ("tier_rank", "integer not null"),
        ("previous_cluster_label", "integer"),
        ("previous_tier", "text"),
        ("match_distance", "numeric(10,4)"),
        ("profile", "text not null"),
    ),
    "resident_risk": (
        ("ds", "date not null"),
        ("person_key", "char(64) not null"),
        ("community_code", "text not null"),
        ("grid_code", "text"),
        ("cluster_label", "integer not null"),
        ("risk_tier", "text not null"),
        ("tier_rank", "integer not null"),
        ("risk_score", "numeric(8,4) not null"),
        ("reasons", "text[] not null"),
        ("reasons_en", "text[] not null"),
    ),
}
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
    changes = sum(
        1
        for i, label in enumerate(clustering.labels)
        if label in matched and matched[label]["previous_tier"] != clustering.tiers[i]
    )
    conn.execute("delete from scoring.model_cluster where ds = %s", (ds,))
    conn.execute("delete from scoring.model_run where ds = %s", (ds,))
    conn.execute(
        "insert into scoring.model_run values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            ds,
            f"risk-{ds.isoformat()}",
            clustering.algorithm,
            clustering.init,
            meta["seed"],
            json.dumps(feature_spec, ensure_ascii=False),
            json.dumps(meta["parameters"]),
            clustering.k,
            json.dumps(clustering.k_selection),
            int(clustering.cluster_of.size),
            round(clustering.silhouette, 4),
            clustering.silhouette_sample,
            json.dumps(
                {
                    "mean": dict(zip(names, _round(clustering.mean), strict=True)),
                    "scale": dict(zip(names, _round(clustering.scale), strict=True)),
                }
            ),
            meta["tier_rule"],
            json.dumps(dict(sorted(tier_sizes.items()))),
            meta["previous_ds"],
            changes,
        ),
    )
    for i, label in enumerate(clustering.labels):
        match = matched.get(label, {})
        conn.execute(
            "insert into scoring.model_cluster values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                ds,
                label,
                clustering.sizes[i],
                json.dumps(dict(zip(names, _round(clustering.centroids[i]), strict=True))),
                json.dumps(dict(zip(names, _round(clustering.centroids_z[i]), strict=True))),
                round(float(clustering.scores[i]), 4),
                clustering.tiers[i],
                tier_rank(clustering.tiers[i]),
                match.get("previous_cluster"),
                match.get("previous_tier"),
                match.get("distance"),
                meta["profiles"][i],
            ),
        )


@dataclass
class ResidentTiers:
    """The day's residents column by column, as scoring.resident_risk stores them (without ds).

    Per-cluster values (label, tier) are lists indexed by `cluster_of`; a resident's reasons are
    `reasons[reason_set[i]]`, the (Chinese, English) lists that many residents share."""

    person_keys: np.ndarray
    communities: np.ndarray
    grids: np.ndarray  # None where a resident has no grid
    cluster_of: np.ndarray
    cluster_labels: list[int]
    tiers: list[str]
    scores: np.ndarray
    reason_set: np.ndarray
    reasons: list[tuple[list[str], list[str]]]


# The resident's own columns first, then those shared by many residents (see resident_lines).
_RESIDENT_COPY = (
    "copy scoring.resident_risk (person_key, risk_score, ds, community_code, grid_code, cluster_label, "
    "risk_tier, tier_rank, reasons, reasons_en) from stdin"
)
RESIDENT_COPY_CHUNK = 100_000  # residents per COPY buffer: bounds the memory of the text at ~30 MB
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = ("\\", "\t", "\n", "\r")


def copy_field(value: str | None) -> str:
    """A value in COPY's text format: NULL as \\N; backslash, tab, newline and carriage return escaped."""
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def array_literal(items: list[str]) -> str:
    """A text[] literal with every element quoted (reasons hold spaces, commas and brackets)."""
    quoted = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(quoted) + "}"


def resident_lines(ds: dt.date, residents: ResidentTiers) -> Iterator[str]:
    """scoring.resident_risk rows as COPY text, in chunks, for the column order of _RESIDENT_COPY.

    Only the person key and the score are the resident's own; the rest of a line repeats the
    text of a (community, grid) pair, a cluster or a reason set, which is written once each and
    joined to the keys as arrays. psycopg's row-by-row adaptation cost seconds per million rows."""
    import pandas as pd

    keys = residents.person_keys
    joined = "".join(keys)
    if any(special in joined for special in _COPY_SPECIAL):  # person keys are hex digests; escape anything else
        keys = np.array([copy_field(key) for key in keys], dtype=object)
    community, communities = _factorize(residents.communities)
    grid, grids = _factorize(residents.grids)
    place, first = distinct_rows([(community, len(communities)), (grid, len(grids))])
    place_text = _texts(
        "\t".join(("", ds.isoformat(), copy_field(communities[community[i]]), copy_field(grids[grid[i]])))
        for i in first
    )
    cluster_text = _texts(
        "\t".join(("", str(label), copy_field(tier), str(tier_rank(tier))))
        for label, tier in zip(residents.cluster_labels, residents.tiers, strict=True)
    )
    reason_text = _texts(
        "\t".join(("", copy_field(array_literal(zh)), copy_field(array_literal(en)))) + "\n"
        for zh, en in residents.reasons
    )
    # Residents with the same features have the same score. f"{:.4f}" rounds the exact binary value
    # as round(score, 4) does, so numeric(8,4) gets the same number.
    score, scores = pd.factorize(residents.scores)
    score_text = _texts(f"\t{value:.4f}" for value in scores.tolist())
    for start in range(0, len(keys), RESIDENT_COPY_CHUNK):
        chunk = slice(start, start + RESIDENT_COPY_CHUNK)
        own = keys[chunk] + score_text[score[chunk]]
        tails = place_text[place[chunk]] + cluster_text[residents.cluster_of[chunk]]
        yield "".join(own + tails + reason_text[residents.reason_set[chunk]])


def _texts(strings: Iterable[str]) -> np.ndarray:
    """Strings as an object array, which numpy joins element by element with `+`."""
    return np.array(list(strings), dtype=object)


def distinct_rows(columns: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct rows of integer columns, each given with its number of values (0 … size - 1).

    Returns each row's number and the first row of each number. The columns are folded in one at a
    time and renumbered after each (by hashing, not sorting), so the codes never exceed rows × size."""
    import pandas as pd

    code = np.zeros(len(columns[0][0]), dtype=np.int64)
    for column, size in columns:
        code = pd.factorize(code * size + column)[0]
    first = np.empty(code.max() + 1, dtype=np.int64)
    first[code[::-1]] = np.arange(len(code) - 1, -1, -1)  # the last write of each number is its first row
    return code, first


def _factorize(values: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Codes of the values and the distinct values, None kept as None (pandas returns it as NaN)."""
    import pandas as pd

    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return codes, [value if isinstance(value, str) else None for value in distinct]


def write_residents(conn: psycopg.Connection, ds: dt.date, residents: ResidentTiers) -> None:
    """Replace the day's resident tiers, in the transaction that replaced the day's model_run row
    (write_run): grassroots.local.summary reuses a day's checksum while that row is unchanged."""
    conn.execute("delete from scoring.resident_risk where ds = %s", (ds,))
    with conn.cursor().copy(_RESIDENT_COPY) as copy:
        for lines in resident_lines(ds, residents):
            copy.write(lines)
