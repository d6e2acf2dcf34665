"""The project's PostgreSQL schemas, each named once with its role: every other list derives from SCHEMAS.

| schema            | role          | written by                                                       |
|-------------------|---------------|------------------------------------------------------------------|
| staging           | loaded        | the loader: one table per feed, a partition per day              |
| quarantine        | loaded        | the loader: rejected rows and files, with the rule               |
| meta              | ledger        | the loader (meta.load_batch), the grants of areas, the summary's |
|                   |               | cache of checksum parts (meta.summary_checksum, local.summary)   |
| stg, int          | built         | dbt: staging and intermediate models                             |
| warehouse         | built         | dbt: dimensions, facts and the reference seeds                   |
| marts_candidate   | candidate     | dbt: the KPI marts of a build, before publication                |
| marts             | published     | publication (grassroots.quality.publish), what BI reads          |
| scoring           | scoring       | the scoring DAG: risk tiers, the grid workers' watchlist         |
| audit             | quality       | the quality checks: append-only history for auditors             |
| dbt_test_failures | test_failures | dbt: failing rows of its data tests, replaced every build        |

dbt_project.yml names the schemas dbt writes (roles built, candidate, test_failures);
tests/unit/test_schemas.py holds it and the dbt sources to this table.
"""

from __future__ import annotations

from dataclasses import dataclass

LOADED = "loaded"
LEDGER = "ledger"
BUILT = "built"
CANDIDATE = "candidate"
PUBLISHED = "published"
SCORING = "scoring"
QUALITY = "quality"
TEST_FAILURES = "test_failures"


@dataclass(frozen=True)
class Schema:
    """One project schema and its role (one of the constants above)."""

    name: str
    role: str


SCHEMAS = (
    Schema("staging", LOADED),
    Schema("quarantine", LOADED),
    Schema("meta", LEDGER),
    Schema("stg", BUILT),
    Schema("int", BUILT),
    Schema("warehouse", BUILT),
    Schema("marts", PUBLISHED),
    Schema("marts_candidate", CANDIDATE),
    Schema("scoring", SCORING),
    Schema("audit", QUALITY),
    Schema("dbt_test_failures", TEST_FAILURES),
)

# What dbt writes: its models and seeds (DBT_MODELS) and the failing rows of its tests.
DBT_MODELS = (BUILT, CANDIDATE)
DBT_WRITES = (*DBT_MODELS, TEST_FAILURES)
# Owned by the transformer (grassroots.warehouse.security), which builds and publishes them.
TRANSFORMER_OWNED = (*DBT_WRITES, PUBLISHED)
# A build's working copies, replaced by the next build: not what a run delivers (grassroots.local.summary).
WORKING = (CANDIDATE, TEST_FAILURES)


def names(*roles: str) -> tuple[str, ...]:
    """The names of the schemas with one of `roles` (all of them without roles), in SCHEMAS' order."""
    return tuple(schema.name for schema in SCHEMAS if not roles or schema.role in roles)


def except_roles(*roles: str) -> tuple[str, ...]:
    """The names of the schemas whose role is none of `roles`, in SCHEMAS' order."""
    return tuple(schema.name for schema in SCHEMAS if schema.role not in roles)


def only(role: str) -> str:
    """The name of the one schema with `role`."""
    (name,) = names(role)
    return name
