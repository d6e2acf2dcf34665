"""The feeds' dbt sources say what the feed contracts say: columns, freshness, owner, description, PII."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from grassroots import settings
from grassroots.loading.contracts import (
    FRESHNESS_WARN_HOURS,
    Contract,
    all_contracts,
    dbt_sources_path,
    dbt_sources_yml,
    main,
    write_dbt_sources,
)


def disagreements(contract: Contract, source: dict) -> list[str]:
    """Where a dbt source (a `sources:` entry as parsed from YAML) says something its contract does not."""
    found = []
    tables = source.get("tables", [])
    if source.get("name") != contract.feed or [t.get("name") for t in tables] != [contract.feed]:
        return [f"{contract.feed}: no source table {contract.feed}.{contract.feed}"]
    table, config = tables[0], source.get("config", {})
    columns = {c["name"]: c for c in table.get("columns", [])}
    # One rule for every column: the source table is what the loader writes, the contract's
    # columns, their person keys and the loader's own columns (Contract.staging_columns).
    expected = [name for name, _ in contract.staging_columns()]
    if list(columns) != expected:
        found.append(f"{contract.feed}: columns {list(columns)} are not the staging columns {expected}")
    pii = {c.name: c.pii for c in contract.columns}
    for name, column in columns.items():
        declared = column.get("config", {}).get("meta", {}).get("pii")
        if declared != pii.get(name):
            found.append(f"{contract.feed}.{name}: meta pii {declared!r}, contract {pii.get(name)!r}")
    freshness = {"warn_after": FRESHNESS_WARN_HOURS, "error_after": contract.freshness_hours}
    if config.get("freshness") != {key: {"count": hours, "period": "hour"} for key, hours in freshness.items()}:
        found.append(f"{contract.feed}: freshness {config.get('freshness')} is not the contract's {freshness}")
    if config.get("meta", {}).get("owner") != contract.department:
        found.append(f"{contract.feed}: owner {config.get('meta', {}).get('owner')!r} is not {contract.department!r}")
    if table.get("description") != contract.description:
        found.append(f"{contract.feed}: the table's description is not the contract's")
    return found


def _declared_source(contract: Contract) -> dict:
    document = yaml.safe_load(dbt_sources_path(contract.feed).read_text(encoding="utf-8"))
    (source,) = document["sources"]
    return source


@pytest.mark.parametrize("contract", list(all_contracts().values()), ids=lambda contract: contract.feed)
def test_each_feeds_dbt_source_agrees_with_its_contract(contract: Contract) -> None:
    assert disagreements(contract, _declared_source(contract)) == []


def test_the_sources_files_are_the_ones_the_contracts_generate() -> None:
    stale = write_dbt_sources(check=True)
    assert stale == [], f"run `python -m grassroots.loading.contracts --write-dbt-sources`: {stale}"
    staging = settings.dbt_project_dir() / "models" / "staging"
    # Not feeds: the loader's and the quality checks' tables (meta), the scoring DAG's (scoring).
    declared = {path.parent.name for path in staging.glob("*/_*__sources.yml")} - {"meta", "scoring"}
    assert declared == set(all_contracts()), "a feed source without a contract, or a contract without a source"


def test_the_command_writes_the_sources_and_checks_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRASSROOTS_DBT_DIR", str(tmp_path))
    assert main(["--check-dbt-sources"]) == 1 and not any(tmp_path.iterdir()), "a check writes nothing"
    assert main(["--write-dbt-sources"]) == 0
    assert main(["--check-dbt-sources"]) == 0
    path = dbt_sources_path("grid_incidents")
    path.write_text(path.read_text(encoding="utf-8").replace("count: 36", "count: 48"), encoding="utf-8")
    assert write_dbt_sources(check=True) == [path]


def test_the_agreement_check_sees_each_kind_of_disagreement() -> None:
    population = all_contracts()["population_registry"]
    source = _declared_source(population)
    renamed = dataclasses.replace(population.columns[1], name="full_name")
    other = dataclasses.replace(population, columns=(population.columns[0], renamed, *population.columns[2:]))
    assert any("columns" in text for text in disagreements(other, source))
    unmarked = dataclasses.replace(population.columns[1], pii=None)
    other = dataclasses.replace(population, columns=(population.columns[0], unmarked, *population.columns[2:]))
    assert disagreements(other, source) == ["population_registry.name: meta pii 'name', contract None"]
    assert "freshness" in disagreements(dataclasses.replace(population, freshness_hours=60), source)[0]
    assert "owner" in disagreements(dataclasses.replace(population, department="民政 civil affairs"), source)[0]
    assert "description" in disagreements(dataclasses.replace(population, description="Other."), source)[0]
    assert disagreements(population, {**source, "tables": []}) != []
    # what the generator writes for a contract is what the check accepts for it
    (generated,) = yaml.safe_load(dbt_sources_yml(other))["sources"]
    assert disagreements(other, generated) == []
