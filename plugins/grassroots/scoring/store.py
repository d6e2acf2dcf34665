"""The `scoring` schema: model registry, clusters, resident tiers; reads the previous run back."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from grassroots.scoring.model import Clustering, Previous, tier_rank

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
    # A resident's tier as changes: one row per resident and run of scored days over which what the
    # day's readers need (community, grid, tier) stayed the same; see write_residents.
    "resident_tier_history": (
        ("person_key", "char(64) not null"),
        ("valid_from", "date not null"),
        ("valid_to", "date"),
        ("community_code", "text not null"),
        ("grid_code", "text"),
        ("risk_tier", "text not null"),
        ("tier_rank", "integer not null"),
    ),
    # Scores and reasons, which move every day, for the scored days of the last DETAIL_DAYS only.
    "resident_detail": (
        ("ds", "date not null"),
        ("person_key", "char(64) not null"),
        ("cluster_label", "integer not null"),
        ("risk_score", "numeric(8,4) not null"),
        ("reason_set", "integer not null"),
    ),
    "reason_set": (
        ("ds", "date not null"),
        ("reason_set", "integer not null"),
        ("reasons", "text[] not null"),
        ("reasons_en", "text[] not null"),
    ),
}
PRIMARY_KEYS = {
    "model_run": ("ds",),
    "model_cluster": ("ds", "cluster_label"),
    "resident_tier_history": ("person_key", "valid_from"),
    "reason_set": ("ds", "reason_set"),
}
# A day's detail is replaced whole and its person keys are unique (write_residents checks them): an
# index on the day alone (deduplicated by PostgreSQL) costs a fraction of a key on (ds, person_key).
INDEXES = {"resident_detail": ("ds",)}
DETAIL_DAYS = 7  # scores and reasons are kept for the scored days in the 7 days up to the latest one
# Readers see days, not intervals: the tiers of every scored day (a day is scored once it has a
# model_run row), and the full rows of the days whose detail is kept, as scoring.resident_risk was.
VIEWS = {
    "resident_tiers": """
        select r.ds, h.person_key, h.community_code, h.grid_code, h.risk_tier, h.tier_rank
        from scoring.model_run as r
        inner join scoring.resident_tier_history as h
            on h.valid_from <= r.ds and (h.valid_to is null or h.valid_to > r.ds)""",
    "resident_risk": """
        select d.ds, d.person_key, h.community_code, h.grid_code, d.cluster_label, h.risk_tier, h.tier_rank,
            d.risk_score, s.reasons, s.reasons_en
        from scoring.resident_detail as d
        inner join scoring.resident_tier_history as h
            on h.person_key = d.person_key and h.valid_from <= d.ds and (h.valid_to is null or h.valid_to > d.ds)
        inner join scoring.reason_set as s on s.ds = d.ds and s.reason_set = d.reason_set""",
}


def _create(name: str) -> sql.Composed:
    columns = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in COLUMNS[name]]
    if name in PRIMARY_KEYS:
        key = sql.SQL(", ").join(map(sql.Identifier, PRIMARY_KEYS[name]))
        columns.append(sql.SQL("primary key ({})").format(key))
    return sql.SQL("create table if not exists {} ({})").format(
        sql.Identifier("scoring", name), sql.SQL(", ").join(columns)
    )


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create the scoring tables, their indexes and the reader views (schema `scoring` comes from the
    bootstrap). Created in their current shape, never migrated: see README, Commands."""
    for name in COLUMNS:
        conn.execute(_create(name))
    for name, columns in INDEXES.items():
        conn.execute(
            sql.SQL("create index if not exists {} on {} ({})").format(
                sql.Identifier(f"{name}__{'_'.join(columns)}"),
                sql.Identifier("scoring", name),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
            )
        )
    for name, query in VIEWS.items():
        conn.execute(sql.SQL("create or replace view {} as " + query).format(sql.Identifier("scoring", name)))


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
    """The day's residents column by column, as scoring.resident_risk shows them (without ds).

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


# The session's copy of the day's results, which write_residents compares with the history and
# access.refresh_watchlist reads (temporary tables of the session, replaced by its next day).
_DAY_DDL = (
    "drop table if exists pg_temp.resident_day, pg_temp.reason_day, pg_temp.tier_change, pg_temp.tier_new",
    "create temp table resident_day (person_key char(64) not null, risk_score numeric(8,4) not null, "
    "community_code text not null, grid_code text, cluster_label integer not null, risk_tier text not null, "
    "tier_rank integer not null, reason_set integer not null)",
    "create temp table reason_day (reason_set integer not null, reasons text[] not null, reasons_en text[] not null)",
)
# The resident's own columns first, then those shared by many residents (see resident_lines).
_RESIDENT_COPY = (
    "copy pg_temp.resident_day (person_key, risk_score, community_code, grid_code, cluster_label, "
    "risk_tier, tier_rank, reason_set) from stdin"
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


def resident_lines(residents: ResidentTiers) -> Iterator[str]:
    """The day's residents as COPY text, in chunks, for the column order of _RESIDENT_COPY.

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
        "\t".join(("", copy_field(communities[community[i]]), copy_field(grids[grid[i]]))) for i in first
    )
    cluster_text = _texts(
        "\t".join(("", str(label), copy_field(tier), str(tier_rank(tier))))
        for label, tier in zip(residents.cluster_labels, residents.tiers, strict=True)
    )
    reason_text = _texts(f"\t{i}\n" for i in range(len(residents.reasons)))
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


WORK_MEM = "256MB"
# What a reader of a day needs from the history; a change of any of it starts a new interval.
_STATE = ("community_code", "grid_code", "risk_tier", "tier_rank")


def _state_differs(left: str, right: str) -> sql.Composable:
    return sql.SQL("({}) is distinct from ({})").format(
        sql.SQL(", ").join(sql.Identifier(left, c) for c in _STATE),
        sql.SQL(", ").join(sql.Identifier(right, c) for c in _STATE),
    )


# The history's intervals cover scored days: [valid_from, valid_to) runs from the first scored day
# of a run of scored days with the same state to the next scored day after the run (the day the
# state changed or the resident was not scored), NULL while the run reaches the latest scored day.
# Intervals are maximal, so the history is a function of the days' results, whatever order the days
# were scored in. Writing day D (%(ds)s; %(next)s is the next scored day after it, if any) touches
# only the residents whose state on D differs from the interval that covers D (or who have none):
_CHANGED = """
    create temp table tier_change as
    select coalesce(n.person_key, o.person_key) as person_key, o.valid_from as old_from,
        n.person_key is not null as is_scored, n.community_code, n.grid_code, n.risk_tier, n.tier_rank
    from pg_temp.resident_day as n
    full outer join (
        select * from scoring.resident_tier_history
        where valid_from <= %(ds)s and (valid_to is null or valid_to > %(ds)s)
    ) as o on o.person_key = n.person_key
    where n.person_key is null or o.person_key is null or {differs}"""
_SPLIT = (
    # the covering interval continues after D, from the next scored day, if it reached past it
    """insert into scoring.resident_tier_history
    select h.person_key, %(next)s::date, h.valid_to, h.community_code, h.grid_code, h.risk_tier, h.tier_rank
    from scoring.resident_tier_history as h
    inner join pg_temp.tier_change as c on c.person_key = h.person_key and c.old_from = h.valid_from
    where %(next)s::date is not null and (h.valid_to is null or h.valid_to > %(next)s::date)""",
    # and ends at D if it began before it
    """update scoring.resident_tier_history as h set valid_to = %(ds)s
    from pg_temp.tier_change as c
    where c.person_key = h.person_key and c.old_from = h.valid_from and h.valid_from < %(ds)s""",
    "delete from scoring.resident_tier_history as h using pg_temp.tier_change as c "
    "where c.person_key = h.person_key and h.valid_from = %(ds)s",
)
# D's state, joined with the interval that ends at D or begins at the next scored day when it is the same.
_NEW = """
    create temp table tier_new as
    select n.person_key, coalesce(b.valid_from, %(ds)s) as valid_from,
        case when a.person_key is null then %(next)s::date else a.valid_to end as valid_to,
        n.community_code, n.grid_code, n.risk_tier, n.tier_rank,
        b.person_key is not null as joins_before, a.person_key is not null as joins_after
    from pg_temp.tier_change as n
    left join scoring.resident_tier_history as b
        on b.person_key = n.person_key and b.valid_to = %(ds)s and not {differs_before}
    left join scoring.resident_tier_history as a
        on a.person_key = n.person_key and a.valid_from = %(next)s::date and not {differs_after}
    where n.is_scored"""
# Two deletes, not one with OR: each is a lookup by person key (a row cannot both end at D and begin
# after it). The statement with the OR once ran for minutes (CPU-bound) on a bench city's second day
# at a million residents; not reproduced on synthetic days (1M residents, 1% or 90% changed: 5-26 s).
_MERGE = (
    "delete from scoring.resident_tier_history as h using pg_temp.tier_new as t "
    "where t.joins_before and t.person_key = h.person_key and h.valid_to = %(ds)s",
    "delete from scoring.resident_tier_history as h using pg_temp.tier_new as t "
    "where t.joins_after and t.person_key = h.person_key and h.valid_from = %(next)s::date",
    "insert into scoring.resident_tier_history select person_key, valid_from, valid_to, community_code, grid_code, "
    "risk_tier, tier_rank from pg_temp.tier_new",
)
_DETAIL = (
    "delete from scoring.resident_detail where ds = %(ds)s",
    "delete from scoring.reason_set where ds = %(ds)s",
    "insert into scoring.resident_detail select %(ds)s, person_key, cluster_label, risk_score, reason_set "
    "from pg_temp.resident_day",
    "insert into scoring.reason_set select %(ds)s, reason_set, reasons, reasons_en from pg_temp.reason_day",
)
_PRUNE = (
    "delete from scoring.resident_detail where ds <= %(latest)s::date - %(days)s",
    "delete from scoring.reason_set where ds <= %(latest)s::date - %(days)s",
)


def write_residents(conn: psycopg.Connection, ds: dt.date, residents: ResidentTiers) -> dict[str, int]:
    """Replace the day's resident tiers: one COPY of the day's results into a temporary table, then the
    history's intervals changed where the day's state differs, and the day's scores and reasons kept
    if it is among the DETAIL_DAYS up to the latest scored day. Returns the rows changed in the history.

    Run after write_run, in its transaction (the day is then a scored day, and
    grassroots.local.summary reuses a day's checksum of resident_detail and reason_set while the day's
    model_run row is unchanged); the day's rows stay in the session's temporary
    tables pg_temp.resident_day and pg_temp.reason_day for access.refresh_watchlist."""
    import pandas as pd

    if len(pd.unique(residents.person_keys)) != len(residents.person_keys):
        raise ValueError(f"scoring {ds}: a person key appears more than once among the day's residents")
    # The day's joins hash a million keys: in memory, not in the batches on disk of the default 4 MB.
    conn.execute("select set_config('work_mem', %s, true)", (WORK_MEM,))
    for statement in _DAY_DDL:
        conn.execute(statement)
    with conn.cursor().copy(_RESIDENT_COPY) as copy:
        for lines in resident_lines(residents):
            copy.write(lines)
    with conn.cursor().copy("copy pg_temp.reason_day from stdin") as copy:
        copy.write(
            "".join(
                f"{i}\t{copy_field(array_literal(zh))}\t{copy_field(array_literal(en))}\n"
                for i, (zh, en) in enumerate(residents.reasons)
            )
        )
    days = conn.execute(
        "select min(ds) filter (where ds > %(ds)s), greatest(max(ds), %(ds)s) from scoring.model_run", {"ds": ds}
    ).fetchone()
    params = {"ds": ds, "next": days[0], "latest": days[1], "days": DETAIL_DAYS}
    conn.execute(sql.SQL(_CHANGED).format(differs=_state_differs("n", "o")), params)
    conn.execute("analyze pg_temp.tier_change")  # a few rows on most days: index lookups into the history
    changed = conn.execute("select count(*) from pg_temp.tier_change").fetchone()[0]
    for statement in _SPLIT:
        conn.execute(statement, params)
    new = sql.SQL(_NEW).format(differs_before=_state_differs("b", "n"), differs_after=_state_differs("a", "n"))
    conn.execute(new, params)
    conn.execute("analyze pg_temp.tier_new")  # as tier_change: the planner must know its size
    for statement in _MERGE:
        conn.execute(statement, params)
    if ds > days[1] - dt.timedelta(days=DETAIL_DAYS):
        for statement in _DETAIL:
            conn.execute(statement, params)
    for statement in _PRUNE:
        conn.execute(statement, params)
    return {"changed": changed}
