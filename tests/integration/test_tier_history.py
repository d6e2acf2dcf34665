"""The tier history written as changes gives every scored day what a table of full days gave, whatever
the order the days were scored (and scored again) in."""

import datetime as dt
import json

import numpy as np
import psycopg
import pytest

from grassroots.scoring import store
from grassroots.scoring.model import WATCHLIST_TIERS

DAY = dt.date(2026, 11, 24)
KEYS = np.array([f"{i:064x}" for i in range(400)], dtype=object)
TIERS = ["high", "elevated", "moderate", "low", "low"]
TABLES = ("resident_tier_history", "resident_detail", "reason_set")


def _results(day: int, seed: int) -> store.ResidentTiers:
    """A day's results: most residents keep their place and cluster from day to day, some change,
    some are not scored that day; the seed gives another result for the same day."""
    base = np.random.default_rng(0)
    community = base.integers(0, 3, len(KEYS))
    cluster = base.integers(0, len(TIERS), len(KEYS))
    rng = np.random.default_rng(day * 100 + seed)
    moved = rng.random(len(KEYS)) < 0.1
    cluster = np.where(rng.random(len(KEYS)) < 0.15, rng.integers(0, len(TIERS), len(KEYS)), cluster)
    scored = rng.random(len(KEYS)) < 0.9
    communities = np.array([f"33010600100{c}" for c in np.where(moved, (community + 1) % 3, community)], dtype=object)
    grids = np.array([None if c == "330106001002" else c + "01" for c in communities], dtype=object)
    reasons = [([f"原因 {i}"], [f"reason {i}"]) for i in range(day + 2)]
    return store.ResidentTiers(
        person_keys=KEYS[scored],
        communities=communities[scored],
        grids=grids[scored],
        cluster_of=cluster[scored],
        cluster_labels=[10, 11, 12, 13, 14],
        tiers=TIERS,
        scores=rng.normal(size=len(KEYS))[scored],
        reason_set=rng.integers(0, len(reasons), len(KEYS))[scored],
        reasons=reasons,
    )


def _score(conn: psycopg.Connection, day: int, seed: int = 0) -> None:
    """What score_day writes of a day: its model_run row (the day is scored), then its residents."""
    ds = DAY + dt.timedelta(days=day)
    conn.execute("delete from scoring.model_run where ds = %s", (ds,))
    conn.execute(
        "insert into scoring.model_run values (%s, 'r', 'KMeans', 'k-means++', 1, '[]', '{}', 5, '{}', 1, 0, 0, "
        "'{}', 'rule', '{}', null, 0)",
        (ds,),
    )
    store.write_residents(conn, ds, _results(day, seed))


def _tables(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {t: conn.execute(f"select * from scoring.{t} order by 1, 2").fetchall() for t in TABLES}  # noqa: S608


@pytest.fixture
def conn(warehouse_dsn: str):
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        conn.execute("create schema scoring")
        store.ensure_schema(conn)
        yield conn


def _run(conn: psycopg.Connection, runs: list[tuple[int, int]]) -> dict[str, list[tuple]]:
    for table in (*TABLES, "model_run"):
        conn.execute(f"truncate scoring.{table}")
    for day, seed in runs:
        _score(conn, day, seed)
    return _tables(conn)


def _expected(day: int) -> tuple[list[tuple], list[tuple]]:
    """The day's rows as the former table of full days held them: (tiers, full rows with reasons)."""
    r = _results(day, 0)
    ds = DAY + dt.timedelta(days=day)
    full = []
    for i, key in enumerate(r.person_keys):
        tier = r.tiers[r.cluster_of[i]]
        zh, en = r.reasons[r.reason_set[i]]
        place = (ds, key, r.communities[i], r.grids[i])
        full.append((*place, r.cluster_labels[r.cluster_of[i]], tier, TIERS.index(tier) + 1, r.scores[i], zh, en))
    return [(*row[:4], *row[5:7]) for row in full], full


@pytest.mark.parametrize(
    "runs",
    [
        [(1, 0), (2, 1), (3, 0), (2, 0), (1, 0)],  # days 1, 2, 3, then 2 again (another result before), then 1
        [(3, 0), (1, 0), (2, 0)],  # a day scored between two scored days
        [(2, 1), (3, 0), (1, 0), (2, 0)],
        [(3, 1), (2, 1), (1, 1), (3, 0), (1, 0), (2, 0), (3, 0)],
    ],
)
def test_days_in_any_order_leave_the_in_order_tables(conn: psycopg.Connection, runs: list[tuple[int, int]]) -> None:
    in_order = _run(conn, [(1, 0), (2, 0), (3, 0)])
    assert _run(conn, runs) == in_order
    history = in_order["resident_tier_history"]
    assert len(history) < 3 * 360, "unchanged residents keep one row"
    assert all(to is None or to > start for _, start, to, *_ in history)


@pytest.mark.parametrize("runs", [[(1, 0), (2, 0), (3, 0), (5, 0), (12, 0)], [(12, 0), (3, 0), (5, 0), (1, 0), (2, 0)]])
def test_every_scored_day_reads_as_before(conn: psycopg.Connection, runs: list[tuple[int, int]]) -> None:
    """Tiers for every scored day (none for a day not scored); scores and reasons for the kept days."""
    _run(conn, runs)
    for day in range(1, 13):
        ds = DAY + dt.timedelta(days=day)
        tiers = conn.execute("select * from scoring.resident_tiers where ds = %s order by 2", (ds,)).fetchall()
        full = conn.execute("select * from scoring.resident_risk where ds = %s order by 2", (ds,)).fetchall()
        if day not in dict(runs):
            assert tiers == full == []
            continue
        expected_tiers, expected_full = _expected(day)
        assert tiers == expected_tiers
        kept = day > 12 - store.DETAIL_DAYS
        rounded = [(*row[:7], round(float(row[7]), 4), *row[8:]) for row in full]
        assert rounded == ([(*row[:7], round(float(row[7]), 4), *row[8:]) for row in expected_full] if kept else [])
    sizes = json.dumps(_tables(conn), default=str)
    assert "2026-11-25" not in sizes.split("resident_detail")[1], "detail beyond DETAIL_DAYS is pruned"


@pytest.fixture
def bootstrapped(warehouse_dsn: str):
    """The whole warehouse layout (the watchlist needs the grid workers' access and the masked names)."""
    from grassroots.warehouse.bootstrap import bootstrap

    bootstrap(warehouse_dsn)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        store.ensure_schema(conn)
        yield conn


@pytest.mark.parametrize("runs", [[(1, 0), (2, 0), (3, 0), (5, 0), (12, 0)], [(12, 0), (3, 0), (5, 0), (1, 0), (2, 0)]])
def test_the_watchlist_keeps_the_latest_detail_days_whatever_the_order(
    bootstrapped: psycopg.Connection, runs: list[tuple[int, int]]
) -> None:
    """The grid workers' list of a scored day is kept while the day's scores and reasons are."""
    from grassroots.scoring import access

    conn = bootstrapped
    for day, seed in runs:
        _score(conn, day, seed)
        access.refresh_watchlist(conn, DAY + dt.timedelta(days=day))
    kept = conn.execute("select distinct ds from scoring.watchlist order by 1").fetchall()
    detail = conn.execute("select distinct ds from scoring.resident_detail order by 1").fetchall()
    assert kept == detail == [(DAY + dt.timedelta(days=d),) for d in sorted(dict(runs)) if d > 12 - store.DETAIL_DAYS]
    listed = conn.execute("select count(*) from scoring.watchlist where ds = %s", (DAY + dt.timedelta(days=12),))
    assert listed.fetchone()[0] == sum(tier in WATCHLIST_TIERS for _, _, _, _, tier, _ in _expected(12)[0]) > 0
