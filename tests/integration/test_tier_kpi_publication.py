"""The tier KPIs' write-audit-publish: marts changes only when every model and test of their build passed.

dbt's result is stood in for (the build itself runs in test_scoring, against the truth); the
candidate and published tables are real PostgreSQL tables, copied by scoring.tier_kpis.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import psycopg
import pytest
from psycopg import sql

from grassroots.quality import publish
from grassroots.scoring import tier_kpis
from grassroots.warehouse import dbt_runner
from grassroots.warehouse.bootstrap import bootstrap

pytestmark = pytest.mark.integration
DAY, EARLIER = dt.date(2026, 11, 24), dt.date(2026, 11, 23)
TABLE = "kpi_tier_demo"


def _node(unique_id: str, kind: str, status: str) -> SimpleNamespace:
    node = SimpleNamespace(unique_id=unique_id, resource_type=kind, alias=TABLE, schema=publish.CANDIDATE_SCHEMA)
    return SimpleNamespace(node=node, status=status)


def _built(test_status: str):
    nodes = [_node(f"model.grassroots.{TABLE}", "model", "success"), _node("test.grassroots.t", "test", test_status)]

    def invoke(*_args: object, **_kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(result=SimpleNamespace(results=nodes), exception=None, success=test_status == "pass")

    return invoke


def _rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select * from marts.kpi_tier_demo order by kpi_date, area_code").fetchall()


@pytest.fixture
def candidate(warehouse_dsn: str) -> str:
    """A built candidate (two areas of DAY) beside a published table that holds EARLIER and an old DAY."""
    bootstrap(warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        for schema in ("marts_candidate", "marts"):
            conn.execute(
                sql.SQL(
                    "create table {} (area_level text, area_code text, kpi_date date, share numeric, "
                    "primary key (area_level, area_code, kpi_date))"
                ).format(sql.Identifier(schema, TABLE))
            )
        conn.execute("comment on table marts_candidate.kpi_tier_demo is 'demo'")
        conn.execute(
            "insert into marts_candidate.kpi_tier_demo values ('community', 'c1', %s, 0.5), ('community', 'c2', %s, 1)",
            (DAY, DAY),
        )
        conn.execute(
            "insert into marts.kpi_tier_demo values ('community', 'c1', %s, 0.1), ('community', 'c9', %s, 0.9)",
            (EARLIER, DAY),
        )
    return warehouse_dsn


def test_a_failed_test_publishes_nothing(candidate: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _rows(candidate)
    monkeypatch.setattr(dbt_runner, "invoke", _built("fail"))
    with pytest.raises(dbt_runner.DbtFailed, match="test.grassroots.t"):
        tier_kpis.build(candidate, DAY)
    assert _rows(candidate) == before


def test_a_passed_build_replaces_only_its_day(candidate: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbt_runner, "invoke", _built("pass"))
    assert tier_kpis.build(candidate, DAY)["tables"] == [TABLE]
    assert [(code, day, float(share)) for _, code, day, share in _rows(candidate)] == [
        ("c1", EARLIER, 0.1),
        ("c1", DAY, 0.5),
        ("c2", DAY, 1.0),
    ]


def test_the_first_publication_makes_the_table_like_the_candidate(
    candidate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(candidate) as conn:
        conn.execute("drop table marts.kpi_tier_demo")
    monkeypatch.setattr(dbt_runner, "invoke", _built("pass"))
    tier_kpis.build(candidate, DAY)
    with psycopg.connect(candidate) as conn:
        relation = f"marts.{TABLE}"
        comment = conn.execute("select obj_description(%s::regclass, 'pg_class')", (relation,)).fetchone()
        key = conn.execute(
            "select count(*) from pg_constraint where conrelid = %s::regclass and contype = 'p'", (relation,)
        ).fetchone()
    assert (comment[0], key[0]) == ("demo", 1)
    assert len(_rows(candidate)) == 2
