"""grassroots.warehouse.schemas is the one list of schemas: dbt (dbt_project.yml, models' configs, sources)
and the grants name no schema it does not know, and dbt writes every schema it says dbt writes."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from grassroots.warehouse import schemas, security
from grassroots.warehouse.dbt_runner import invoke


@pytest.fixture(scope="module")
def dbt_schemas() -> dict[str, set[str]]:
    """Resource type (model, seed, test, source, …) → the schemas dbt's parsed project puts them in."""
    result = invoke("parse", dt.date(2026, 11, 24), dsn="host=localhost dbname=unused")
    assert result.success, result.exception
    manifest = result.result
    found: dict[str, set[str]] = defaultdict(set)
    for node in [*manifest.nodes.values(), *manifest.sources.values()]:
        found[str(node.resource_type)].add(node.schema)
    return found


def test_dbt_writes_exactly_the_schemas_the_registry_gives_it(dbt_schemas: dict[str, set[str]]) -> None:
    models = dbt_schemas["model"] | dbt_schemas["seed"] | dbt_schemas["snapshot"]
    assert models == set(schemas.names(*schemas.DBT_MODELS))
    assert dbt_schemas["test"] == set(schemas.names(schemas.TEST_FAILURES))


def test_dbt_reads_sources_only_from_schemas_it_does_not_write(dbt_schemas: dict[str, set[str]]) -> None:
    assert dbt_schemas["source"]
    assert dbt_schemas["source"] <= set(schemas.except_roles(*schemas.DBT_WRITES))


def test_every_schema_a_grant_names_is_in_the_registry() -> None:
    entries = [
        *(e for grants in (security.READ, security.WRITE, security.APPEND) for es in grants.values() for e in es),
        *security.SCHEMA_OWNERS,
        *(schema for hidden in security.HIDDEN_COLUMNS.values() for schema, _, _ in hidden),
        *(schema for schema, _ in security.AUDITOR_TABLES),
    ]
    assert {entry.partition(".")[0] for entry in entries} <= set(schemas.names())


def test_each_schema_is_named_once_with_a_known_role() -> None:
    assert len(set(schemas.names())) == len(schemas.SCHEMAS)
    roles = {value for name, value in vars(schemas).items() if name.isupper() and isinstance(value, str)}
    assert {schema.role for schema in schemas.SCHEMAS} == roles
