"""After a real run, each role sees what it needs and nothing with raw personal data."""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from grassroots import settings
from grassroots.loading.contracts import all_contracts
from grassroots.local import embedded
from grassroots.quality.audit import HISTORY
from grassroots.quality.publish import PUBLISHED_SCHEMA
from grassroots.scoring import access
from grassroots.warehouse import db, dbt_runner, security
from tests.conftest import DemoRun

DAGS = Path(__file__).resolve().parents[2] / "dags"
# `<expression> as <alias>` on a line of its own, as staging models list their columns
SELECT_AS = re.compile(r"^[ \t]*(.+?)\s+as\s+(\w+),?[ \t]*$", re.IGNORECASE | re.MULTILINE)
ID_OR_MOBILE = r"(^|[^0-9A-Za-z])(\d{17}[\dXx]|\d{15}|1[3-9]\d{9})([^0-9A-Za-z]|$)"


@pytest.fixture(scope="module")
def built(demo_run: DemoRun) -> str:
    """The session's demo day through the three DAGs (tests/conftest.py)."""
    return demo_run.dsn


def _as(dsn: str, role: str, query: sql.Composable | str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        return conn.execute(query).fetchall()


def _relations(dsn: str, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = any(%s) order by 1, 2",
            (list(schemas),),
        ).fetchall()


def test_bi_reader_is_denied_every_schema_with_raw_fields(built: str) -> None:
    denied = _relations(
        built, ("staging", "quarantine", "stg", "int", "warehouse", "audit", "marts_candidate", "dbt_test_failures")
    )
    assert len(denied) > 30
    for schema, table in denied:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as(built, security.BI_READER, sql.SQL("select 1 from {} limit 1").format(sql.Identifier(schema, table)))


def test_nothing_a_bi_reader_can_read_looks_like_an_id_or_mobile_number(built: str) -> None:
    with psycopg.connect(built) as conn:
        columns = conn.execute(
            "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
            "where c.table_schema not in ('pg_catalog', 'information_schema') "
            "and has_table_privilege(%s, format('%%I.%%I', c.table_schema, c.table_name), 'select') "
            "order by 1, 2, 3",
            (security.BI_READER,),
        ).fetchall()
    readable = {schema for schema, _, _ in columns}
    assert readable == {"marts"} and len(columns) > 50
    for schema, table, column in columns:
        query = sql.SQL("select count(*) from {} where {}::text ~ {}").format(
            sql.Identifier(schema, table), sql.Identifier(column), sql.Literal(ID_OR_MOBILE)
        )
        assert _as(built, security.BI_READER, query) == [(0,)], f"{schema}.{table}.{column}"


def pii_names(manifest: dict) -> dict[str, str]:
    """Every name a contract's PII column goes by → its PII class: the contract's name, and the alias its
    feed's staging model gives any expression of it (`name as resident_name`)."""
    names = {}
    for contract in all_contracts().values():
        pii = {column.name: column.pii for column in contract.columns if column.pii}
        names.update(pii)
        source = f"source.grassroots.{contract.feed}.{contract.feed}"
        for node in manifest["nodes"].values():
            if node["resource_type"] != "model" or source not in node["depends_on"]["nodes"]:
                continue
            for expression, alias in SELECT_AS.findall(node["raw_code"]):
                for name, cls in pii.items():
                    if re.search(rf"\b{name}\b", expression):
                        names[alias] = cls
    return names


def pii_leaks(columns: list[tuple[str, str, str]], pii: dict[str, str]) -> list[str]:
    """The (schema, relation, column) triples named like a PII column, with the class."""
    return [f"{schema}.{table}.{column} ({pii[column]})" for schema, table, column in columns if column in pii]


def test_no_column_of_a_contracts_pii_classes_reaches_warehouse_or_marts(built: str) -> None:
    """The contracts' `pii` classes (SECURITY.md: never in warehouse or marts), checked column by column on
    every relation dbt builds from models/marts and on what publication copied into `marts`."""
    manifest = json.loads(dbt_runner.manifest_path().read_text(encoding="utf-8"))
    schemas = {
        n["schema"] for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["fqn"][1] == "marts"
    }
    schemas.add(PUBLISHED_SCHEMA)
    with psycopg.connect(built) as conn:
        columns = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema = any(%s) order by 1, 2, 3",
            (sorted(schemas),),
        ).fetchall()
    pii = pii_names(manifest)
    assert {"id_number", "caller_phone", "address"} <= set(pii), "the contracts' PII columns"
    assert {"resident_name", "participant_name"} <= set(pii), "their names in staging"
    assert schemas >= {"warehouse", "marts_candidate", "marts"} and len(columns) > 300
    assert pii_leaks(columns, pii) == []
    # the check sees a PII column, under its contract name or its staging name, wherever it lands
    leaked = [*columns, ("marts", "kpi_x", "caller_phone"), ("warehouse", "dim_residents", "resident_name")]
    assert pii_leaks(leaked, pii) == [
        "marts.kpi_x.caller_phone (phone)",
        "warehouse.dim_residents.resident_name (name)",
    ]


def test_a_community_user_sees_no_row_of_another_community_through_any_marts_relation(built: str) -> None:
    with psycopg.connect(built) as conn:
        community, other = (r[0] for r in conn.execute("select community_code from warehouse.dim_geography limit 2"))
    role = f"gr_test_area_{uuid.uuid4().hex[:6]}"
    security.grant_area(built, role, "community", community)
    relations = _relations(built, ("marts",))
    seen_own = 0
    for schema, table in relations:
        with psycopg.connect(built) as conn:
            columns = {
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                    (schema, table),
                )
            }
        target = sql.Identifier(schema, table)
        if table in security.AREA_NAME_TABLES:
            # Area names are reference data, not an area's figures: every area's name is readable (SECURITY.md).
            rows = _as(built, role, sql.SQL("select area_level, area_code from {}").format(target))
            assert ("community", other) in set(rows) and len(rows) == len(set(rows)) >= 18, table
            continue
        if "area_code" in columns:
            rows = _as(built, role, sql.SQL("select area_level, area_code from {}").format(target))
            assert {row for row in rows} <= {("community", community)}, table
        elif "community_code" in columns:
            rows = _as(built, role, sql.SQL("select community_code from {}").format(target))
            assert {row[0] for row in rows} <= {community}, table
        elif table == "kpi_period_status":
            # Which periods are published or held, and why (feeds, days, checks): the same for every
            # area and without data, so every BI role reads it whole (SECURITY.md).
            rows = _as(built, role, sql.SQL("select relation, period_start, status from {}").format(target))
            assert rows and {r[2] for r in rows} <= {"published", "held"}, rows
            assert not {c for c in columns if c.endswith("_code")}, columns
            continue
        else:
            rows = _as(built, role, sql.SQL("select * from {}").format(target))
            assert rows == [], f"{table} has no area column, so an area user sees nothing"
        seen_own += len(rows)
        with psycopg.connect(built) as conn:
            total = conn.execute(sql.SQL("select count(*) from {}").format(target)).fetchone()[0]
        assert total >= len(rows)
    assert seen_own > 0, "the community user does see its own rows"
    assert other != community


def _owners(dsn: str, schema: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select c.relname, pg_get_userbyid(c.relowner) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm')",
            (schema,),
        ).fetchall()
    return dict(rows)


def test_each_task_worked_as_its_role(built: str) -> None:
    """Loads were made by `loader`; what dbt and publication built belongs to `transformer`; scoring's tables
    to `scorer`. The run succeeded, so each role's grants were enough for its tasks."""
    with psycopg.connect(built) as conn:
        loaded_by = {r[0] for r in conn.execute("select distinct loaded_by from meta.load_batch")}
        login = conn.execute("select current_user").fetchone()[0]
    assert loaded_by == {security.LOADER}
    for schema in security.BUILD_SCHEMAS:
        owners = _owners(built, schema)
        assert owners and set(owners.values()) == {security.TRANSFORMER}, schema
    scoring = _owners(built, "scoring")
    tables = ("model_run", "model_cluster", "resident_tier_history", "resident_detail", "reason_set")
    assert {scoring[t] for t in (*tables, "resident_tiers", "resident_risk")} == {security.SCORER}
    assert {scoring[t] for t in access.LOGIN_RELATIONS} == {login}
    audit = _owners(built, "audit")
    assert {audit[t] for t in HISTORY} == {login}
    assert security.TRANSFORMER not in set(audit.values()), "dbt's stored test failures are not in audit"


def test_dbt_failure_tables_are_in_a_schema_no_bi_role_or_auditor_sees(built: str) -> None:
    """dbt keeps a table of failing rows per data test: in dbt_test_failures, not among the auditors' `audit`
    tables, and neither BI roles nor the auditor may use the schema (a schema browser does not list it)."""
    failures = _owners(built, security.FAILURES_SCHEMA)
    with psycopg.connect(built) as conn:
        stored = {
            r[0]
            for r in conn.execute(
                "select distinct stored_failures from audit.dbt_result where stored_failures is not null"
            )
        }
        extra = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'audit' and c.relkind in ('r', 'p') and not (c.relname = any(%s))",
            (list(HISTORY),),
        ).fetchall()
        usage = {
            role: conn.execute(
                "select has_schema_privilege(%s, %s, 'USAGE')", (role, security.FAILURES_SCHEMA)
            ).fetchone()[0]
            for role in (security.BI_READER, security.AUDITOR, security.AREA_USER, security.SCORER, security.BI_LOGIN)
        }
    assert len(failures) > 100 and set(failures.values()) == {security.TRANSFORMER}
    # database.schema.table, as dbt's run_results name the relation
    assert stored and {name.split(".")[-2] for name in stored} == {security.FAILURES_SCHEMA}
    assert {name.split(".")[-1] for name in stored} <= set(failures), "the report names tables that exist"
    assert extra == [], "audit holds the quality history only"
    assert usage == dict.fromkeys(usage, False)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        table = sql.Identifier(security.FAILURES_SCHEMA, sorted(failures)[0])
        _as(built, security.AUDITOR, sql.SQL("select 1 from {} limit 1").format(table))


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        (security.LOADER, "select 1 from warehouse.dim_residents limit 1"),
        (security.LOADER, "select 1 from marts_candidate.kpi_proactive_discovery_daily limit 1"),
        (security.LOADER, "insert into meta.area_access values ('loader', 'community', 'x')"),
        (security.LOADER, "create schema loader_own"),
        (security.TRANSFORMER, "delete from audit.validation_run"),
        (security.TRANSFORMER, "update audit.publication set status = 'published'"),
        (security.TRANSFORMER, "create table audit.made_by_transformer (a int)"),
        (security.TRANSFORMER, "delete from meta.load_batch"),
        (security.TRANSFORMER, "delete from scoring.resident_tier_history"),
        (security.TRANSFORMER, "create schema transformer_own"),
        (security.SCORER, "select name from staging.population_registry limit 1"),
        (security.SCORER, "select 1 from int.int_identity_links_unioned limit 1"),
        (security.SCORER, "delete from warehouse.dim_residents"),
        (security.AUDITOR, "select raw_line from quarantine.rows limit 1"),
    ],
)
def test_pipeline_roles_are_refused_beyond_their_tasks(built: str, role: str, statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(built, role, statement)


def test_role_dsn_starts_the_session_as_the_role(built: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(db.role_dsn(security.LOADER, built)) as conn:
        current, session = conn.execute("select current_user, session_user").fetchone()
    assert current == security.LOADER and session != security.LOADER
    monkeypatch.setenv("WAREHOUSE_DSN_SCORER", built)  # a login of its own, in production
    assert db.role_dsn(security.SCORER, "host=elsewhere") == built


def test_every_marts_table_and_column_describes_itself_and_kpi_tables_have_their_grain_as_key(built: str) -> None:
    """What a BI tool's schema browser shows: COMMENT ON from the dbt YAML (persist_docs, copied by
    publication) on every marts table and column, and each KPI table's grain as its primary key."""
    with psycopg.connect(built) as conn:
        tables = conn.execute(
            "select c.oid, c.relname, obj_description(c.oid, 'pg_class') from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'marts' and c.relkind in ('r', 'p')"
        ).fetchall()
        assert len([t for t in tables if t[1].startswith("kpi_")]) >= 14
        for oid, name, comment in tables:
            assert comment, f"marts.{name} has no comment"
            undocumented = conn.execute(
                "select attname from pg_attribute where attrelid = %s and attnum > 0 and not attisdropped "
                "and col_description(attrelid, attnum) is null",
                (oid,),
            ).fetchall()
            assert undocumented == [], f"marts.{name}: columns without a comment {undocumented}"
            key = conn.execute(
                "select array_agg(a.attname::text order by a.attname) from pg_constraint k "
                "join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any(k.conkey) "
                "where k.conrelid = %s and k.contype = 'p'",
                (oid,),
            ).fetchone()[0]
            assert key, f"marts.{name} has no primary key"
            if name.startswith("kpi_") and name != "kpi_period_status":
                assert {"area_level", "area_code"} <= set(key) and ({"kpi_date", "kpi_month"} & set(key)), (name, key)


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_bi_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## BI tools")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _bi_tool_dsn(session_dsn: str) -> str:
    """The README's connection string, on this session's server: the embedded one's TCP listener
    (a port of its own in tests), or WAREHOUSE_DSN's host and port."""
    documented = re.search(r"postgresql://bi_login:<GRASSROOTS_BI_PASSWORD>@[^\s`]+", _readme_bi_section())
    assert documented, "README shows the BI connection string"
    readme = conninfo_to_dict(documented.group(0))
    assert (readme["user"], readme["host"], readme["port"]) == (
        security.BI_LOGIN,
        embedded.TCP_HOST,
        str(embedded.DEFAULT_PORT),
    )
    session = conninfo_to_dict(session_dsn)
    host, port = str(session.get("host") or "127.0.0.1"), str(session.get("port") or 5432)
    if host.startswith("/"):  # the embedded server: its Unix socket for the project, TCP for BI
        address = embedded.tcp_address(embedded.pgdata_dir(settings.state_dir()))
        assert address is not None, "the embedded server listens on TCP"
        host, port = address[0], str(address[1])
    return make_conninfo(
        host=host,
        port=port,
        dbname=session["dbname"],
        user=readme["user"],
        password=os.environ["GRASSROOTS_BI_PASSWORD"],
        connect_timeout=10,
    )


def test_a_bi_tool_logs_in_over_tcp_with_its_password_and_runs_the_readme_queries(built: str) -> None:
    queries = re.findall(r"```sql\n(.*?)```", _readme_bi_section(), flags=re.S)
    assert len(queries) == 3
    with psycopg.connect(_bi_tool_dsn(built)) as conn:
        who = conn.execute("select current_user, session_user, inet_server_addr() is not null").fetchone()
        assert who == (security.BI_LOGIN, security.BI_LOGIN, True), "a TCP session of the BI login"
        for query in queries:
            rows = conn.execute(query).fetchall()
            assert rows, query
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select 1 from warehouse.dim_geography limit 1")
    with psycopg.connect(_bi_tool_dsn(built)) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create temporary table bi_scratch (x int)")


def test_bi_reader_labels_every_kpi_row_with_the_chinese_name_of_its_area(built: str) -> None:
    """marts.dim_areas names every (area_level, area_code) of every KPI table, at each level."""
    with psycopg.connect(built) as conn:
        kpi_tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.columns where table_schema = 'marts' "
                "and column_name = 'area_code' and table_name like 'kpi\\_%' order by 1"
            )
        ]
    assert len(kpi_tables) >= 14
    labelled = 0
    for table in kpi_tables:
        rows = _as(
            built,
            security.BI_READER,
            sql.SQL(
                "select k.area_level, k.area_code, a.area_name, a.district_name from {} as k "
                "left join marts.dim_areas as a using (area_level, area_code)"
            ).format(sql.Identifier("marts", table)),
        )
        unnamed = {(level, code) for level, code, name, _ in rows if not name}
        assert unnamed == set(), f"{table}: areas without a name {sorted(unnamed)[:5]}"
        assert all(re.search(r"[\u4e00-\u9fff]", name) and district.endswith("区") for _, _, name, district in rows)
        labelled += len(rows)
        if table == "kpi_proactive_discovery_daily":
            levels = {level: name for level, _, name, _ in rows}
            assert levels["district"].endswith("区") and levels["street"].endswith("街道"), levels
            assert levels["community"].endswith("社区"), levels
    assert labelled > 100
