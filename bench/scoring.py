"""Risk scoring against sklearn KMeans alone on the same matrix, measured in one run.

    .venv/bin/python bench/scoring.py --residents 1000000

Generates `--residents` residents with the features of warehouse.fct_resident_risk_features (ages,
pension shortfalls, assistance, attention levels, disability severities, recent incidents and
complaints drawn from a seeded RNG; a few percent vulnerable) into a scratch database on the warehouse server
(WAREHOUSE_DSN, else the embedded one) and scores two days the way the scoring DAG does: day 1
from scratch (k-means++), day 2 from day 1's model with a little churn in the features (churn).
For each day it prints the end-to-end wall time of `score_day` and its stages: fetch
(features.load), model (model.fit: k by silhouette, the KMeans fit, matching, tiers), the writes
(store.write_run, store.write_residents: one COPY of the day into a temporary table, the tier
history's changes and the kept scores and reasons; access.refresh_watchlist) and the rest (tiers and
reasons per resident, in Python). Then the floor: sklearn KMeans alone on the same standardised,
weighted matrix with the parameters the model used on day 1 (same class, k, n_init, seed), and
the ratio scoring / KMeans, and the scoring tables' sizes after each day. Target (issue #18):
scoring ≤ 2× KMeans alone.
The masked-name step reads an empty population registry here, so the watchlist figure is a floor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from grassroots.scoring import access, features, model, run, store  # noqa: E402
from grassroots.warehouse import db  # noqa: E402
from grassroots.warehouse.bootstrap import bootstrap  # noqa: E402

DAYS = (dt.date(2026, 11, 24), dt.date(2026, 11, 25))
# A table in the shape of the dbt view warehouse.fct_resident_risk_features (the features as numbers).
TABLE = "warehouse.fct_resident_risk_features"
TABLE_DDL = f"""create table {TABLE} (
    as_of_date date not null, person_key text not null, community_code text, grid_code text,
    {", ".join(f"{name} float8 not null" for name in features.FEATURES)})"""
COLUMNS = ("as_of_date", "person_key", "community_code", "grid_code", *features.FEATURES)
STAGES = (
    ("fetch", features, "load"),
    ("model", model, "fit"),
    ("write run", store, "write_run"),
    ("write residents", store, "write_residents"),
    ("watchlist", access, "refresh_watchlist"),
)


def residents(n: int, day: dt.date, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One day's resident features (see churn for the next day's)."""
    vulnerable = rng.random(n) < 0.02  # old, alone, on assistance, watched: the top tier's people
    age = np.where(vulnerable, rng.integers(70, 100, n), rng.integers(0, 100, n))
    old = age >= 60
    assistance = vulnerable | (rng.random(n) < 0.04)
    disabled = (vulnerable & (rng.random(n) < 0.5)) | (rng.random(n) < 0.05)
    communities = np.array([f"330106{d:03d}{c:03d}" for d in range(1, 11) for c in range(1, 16)])
    community = communities[rng.integers(0, len(communities), n)]
    grid = np.char.add(community.astype(str), np.char.zfill(rng.integers(1, 5, n).astype(str), 2)).astype(object)
    grid[rng.random(n) < 0.01] = None
    keys = np.array([f"{i:064x}" for i in range(n)])
    pension = np.where(old & ~vulnerable & (rng.random(n) < 0.9), rng.integers(800, 6000, n), 0.0)
    reference = features.PENSION_REFERENCE_YUAN
    return {
        "as_of_date": np.full(n, day.isoformat()),
        "person_key": keys,
        "community_code": community,
        "grid_code": grid,
        "age": age.astype(float),
        "on_assistance": assistance.astype(float),
        "assistance_amount": np.where(assistance, rng.integers(500, 1500, n), 0).astype(float),
        "pension_shortfall": np.where(age >= 65, np.maximum(0, reference - pension), 0.0),
        "attention_level": np.where(vulnerable | (rng.random(n) < 0.08), rng.integers(1, 4, n), 0).astype(float),
        "lives_alone": (vulnerable | (rng.random(n) < np.where(old, 0.2, 0.05))).astype(float),
        "has_chronic_disease": (rng.random(n) < np.where(old, 0.33, 0.05)).astype(float),
        "disability_severity": np.where(disabled, rng.integers(1, 5, n), 0).astype(float),
        "recent_incidents": rng.poisson(0.1, n).astype(float),
        "recent_complaints": rng.poisson(0.05, n).astype(float),
    }


def churn(features: dict[str, np.ndarray], day: dt.date, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The next day's features: the same residents, the recent counts redrawn and 1% of the attention
    levels changed (earlier versions drew every resident anew, which no two real days do)."""
    n = len(features["person_key"])
    changed = rng.random(n) < 0.01
    return {
        **features,
        "as_of_date": np.full(n, day.isoformat()),
        "attention_level": np.where(changed, rng.integers(0, 4, n), features["attention_level"]).astype(float),
        "recent_incidents": rng.poisson(0.1, n).astype(float),
        "recent_complaints": rng.poisson(0.05, n).astype(float),
    }


def fill(dsn: str, n: int, seed: int) -> None:
    """The features table with both days (untimed setup)."""
    import pandas as pd

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(TABLE_DDL)
        day_features = residents(n, DAYS[0], np.random.default_rng(seed))
        for offset, day in enumerate(DAYS):
            if offset:
                day_features = churn(day_features, day, np.random.default_rng(seed + offset))
            frame = pd.DataFrame(day_features)
            buffer = io.StringIO()
            frame.to_csv(buffer, columns=list(COLUMNS), header=False, index=False, na_rep="\\N")
            with conn.cursor().copy(f"copy {TABLE} from stdin (format csv, null '\\N')") as copy:
                copy.write(buffer.getvalue())
        conn.execute(f"analyze {TABLE}")


class StageTimer:
    """Wall seconds spent in the named functions while score_day runs (module attributes wrapped)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._originals: list[tuple[object, str, Callable]] = []

    def __enter__(self) -> StageTimer:
        for label, module, name in STAGES:
            original = getattr(module, name)
            self._originals.append((module, name, original))
            setattr(module, name, self._timed(label, original))
        return self

    def _timed(self, label: str, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start

        return timed

    def __exit__(self, *exc: object) -> None:
        for module, name, original in self._originals:
            setattr(module, name, original)


def sizes(dsn: str) -> str:
    """The scoring schema's tables and their total size (heap, indexes, TOAST) in MB."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select c.relname, pg_total_relation_size(c.oid) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'scoring' and c.relkind = 'r' "
            "order by 2 desc"
        ).fetchall()
    return ", ".join(f"{name} {size / 1e6:.1f}" for name, size in rows)


def time_kmeans_alone(dsn: str, day: dt.date) -> tuple[float, str]:
    """sklearn KMeans on the day's standardised, weighted matrix with the parameters the model used."""
    with psycopg.connect(dsn) as conn:
        table = features.load(conn, day)
        k = conn.execute("select k from scoring.model_run where ds = %s", (day,)).fetchone()[0]
    values = np.asarray(table.values, dtype=float)
    weights = np.array([features.BY_NAME[n].weight for n in table.names])
    scale = values.std(axis=0)
    scale[scale == 0] = 1.0
    x = (values - values.mean(axis=0)) / scale * weights
    estimator = model._kmeans(k, len(x), "k-means++", 10)
    start = time.perf_counter()
    estimator.fit(x)
    return time.perf_counter() - start, f"{type(estimator).__name__}(k={k}, n_init=10, seed={model.SEED})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=369)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("GRASSROOTS_STATE_DIR", str(Path(tempfile.gettempdir()) / "grassroots-bench"))
    server = db.warehouse_dsn()
    scratch = f"grassroots_bench_scoring_{os.getpid()}"
    db.ensure_database(server, scratch)
    dsn = db.with_database(server, scratch)
    try:
        bootstrap(dsn)
        fill(dsn, args.residents, args.seed)
        load_before = os.getloadavg()[0]
        runs = []
        for day in DAYS:
            with StageTimer() as timer:
                start = time.perf_counter()
                summary = run.score_day(dsn, day)
                total = time.perf_counter() - start
            runs.append((day, total, timer.seconds, summary, sizes(dsn)))
        kmeans_s, kmeans_label = time_kmeans_alone(dsn, DAYS[0])
        print(f"residents: {args.residents:,}; load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
        for day, total, seconds, summary, relations in runs:
            rest = total - sum(seconds.values())
            stages = ", ".join(f"{label} {s:.2f}" for label, s in seconds.items())
            print(f"score_day {day}: {total:6.2f} s  ({stages}, tiers and reasons {rest:.2f})")
            print(
                f"  k={summary['k']}, tiers {summary['tier_sizes']}, watchlist {summary['watchlist']:,}, "
                f"tier history rows changed {summary.get('tier_history_changes', 'n/a')}"
            )
            print("  scoring tables after the day (pg_total_relation_size, MB): " + relations)
        print(f"KMeans alone, {kmeans_label}: {kmeans_s:.2f} s")
        for day, total, seconds, *_ in runs:
            print(
                f"scoring / KMeans alone, {day}: {total / kmeans_s:.2f} end to end, "
                f"{(total - seconds.get('fetch', 0.0)) / kmeans_s:.2f} without the fetch"
            )
    finally:
        db.drop_database(server, scratch)


if __name__ == "__main__":
    main()
