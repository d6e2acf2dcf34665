"""Scoring's bulk reads and writes give what psycopg's row-by-row fetch and COPY rows give (the reference)."""

import datetime as dt

import numpy as np
import psycopg
import pytest
from psycopg import sql

from grassroots.scoring import features, store

DAY = dt.date(2026, 11, 24)
# Identity columns with NULL, an empty string, the NULL marker as text and COPY's special characters;
# features in the columns' order (features.FEATURES), amounts in cents among them.
RESIDENTS = (
    ("a" * 64, "330106001001", "33010600100101", 81, 1, 1234.56, 0.0, 3, 1, 1, 4, 2, 0),
    ("b" * 64, "330106001001", None, 66, 0, 0, 0.01, 0, 0, 0, 0, 0, 1),
    ("c" * 64, "\\N", "", 0, 0, 0.1, 2999.99, 0, 0, 0, 1, 0, 0),
    ("d\\" + "d" * 62, "comm\tunity\\", "grid\nline", 40, 0, 0.1, 0, 1, 1, 0, 3, 7, 3),
)


@pytest.fixture
def conn(warehouse_dsn: str):
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        conn.execute("create schema warehouse")
        conn.execute("create schema scoring")
        # The shape of the dbt view warehouse.fct_resident_risk_features.
        conn.execute(
            sql.SQL(
                "create table {} (as_of_date date, person_key text, community_code text, grid_code text, {})"
            ).format(
                sql.Identifier(*features.RESIDENTS),
                sql.SQL(", ").join(sql.SQL("{} float8").format(sql.Identifier(n)) for n in features.FEATURES),
            )
        )
        with conn.cursor().copy(sql.SQL("copy {} from stdin").format(sql.Identifier(*features.RESIDENTS))) as copy:
            for row in RESIDENTS:
                copy.write_row((DAY, *row))
        # Many amounts in cents, where a float parser that is not correctly rounded would differ in the last bit.
        conn.execute(
            sql.SQL(
                "insert into {} select %s, md5(i::text) || md5(i::text), 'c', 'g', 60 + i %% 40, 1, "
                "(i * 7919 %% 400000) / 100.0, (i * 104729 %% 300000) / 100.0, i %% 4, 0, 0, 0, i %% 3, i %% 5 "
                "from generate_series(1, 5000) as i"
            ).format(sql.Identifier(*features.RESIDENTS)),
            (DAY,),
        )
        store.ensure_schema(conn)
        yield conn


def test_features_load_as_a_row_by_row_fetch_gives_them(conn: psycopg.Connection) -> None:
    table = features.load(conn, DAY)
    rows = conn.execute(features.feature_query(features.FEATURES, sql.Literal(DAY))).fetchall()
    assert list(table.person_keys) == [r[0] for r in rows]
    assert list(table.communities) == [r[1] for r in rows]
    assert list(table.grids) == [r[2] for r in rows] and None in table.grids and "" in table.grids
    assert len(rows) == len(RESIDENTS) + 5000
    reference = np.array([[float(v) for v in r[3:]] for r in rows])
    assert table.values.tobytes() == reference.tobytes()  # the same doubles, bit for bit
    assert table.values.flags.c_contiguous


def test_resident_tiers_are_written_as_psycopg_copies_rows(conn: psycopg.Connection) -> None:
    reasons = [(["养老金偏低（2,999元/月）", 'a "quoted" {braced}, \\ back\tslash'], ["low pension", "NULL"]), ([], [])]
    residents = store.ResidentTiers(
        person_keys=np.array([r[0] for r in RESIDENTS], dtype=object),
        communities=np.array([r[1] for r in RESIDENTS], dtype=object),
        grids=np.array([r[2] for r in RESIDENTS], dtype=object),
        cluster_of=np.array([0, 1, 1, 0]),
        cluster_labels=[7, 2],
        tiers=["high", "low"],
        scores=np.array([1.23455, -0.00005, 0.30000000000000004, 2.4404999999999997]),
        reason_set=np.array([0, 1, 0, 1]),
        reasons=reasons,
    )
    store.write_residents(conn, DAY, residents)
    conn.execute("create table reference (like scoring.resident_risk)")
    with conn.cursor().copy("copy reference from stdin") as copy:
        for i, key in enumerate(residents.person_keys):
            c, (zh, en) = residents.cluster_of[i], reasons[residents.reason_set[i]]
            tier, score = residents.tiers[c], round(float(residents.scores[i]), 4)
            row = (key, residents.communities[i], residents.grids[i], residents.cluster_labels[c], tier)
            copy.write_row((DAY, *row, 1 if tier == "high" else 4, score, zh, en))
    written = conn.execute("select * from scoring.resident_risk order by person_key").fetchall()
    assert written == conn.execute("select * from reference order by person_key").fetchall()
    assert len(written) == len(RESIDENTS)
