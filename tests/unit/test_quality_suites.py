"""Suites: one per feed contract, generated from the contract, overridden by expectations/ files."""

from pathlib import Path

import pytest
import yaml

from grassroots import settings
from grassroots.loading.contracts import all_contracts, parse_contract
from grassroots.quality import suites

EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"


def test_every_contract_has_a_suite_with_its_schema_required_columns_and_key() -> None:
    found = suites.feed_suites(EXPECTATIONS)
    assert set(found) == set(all_contracts())
    for feed, contract in all_contracts().items():
        checks = {c.id: c for c in found[feed].checks}
        assert checks["schema"].kwargs["column_set"] == [name for name, _ in contract.staging_columns()]
        for column in contract.columns:
            if column.required:
                assert checks[f"not_null.{column.name}"].severity == "fail", (feed, column.name)
            if column.accepted:
                assert checks[f"accepted_values.{column.name}"].kwargs["value_set"] == list(column.accepted)
        assert all(c.severity in ("fail", "warn") for c in checks.values())


def test_suite_files_name_real_feeds_and_real_expectation_types() -> None:
    from great_expectations.expectations.registry import get_expectation_impl

    assert {p.stem for p in (EXPECTATIONS / "feeds").glob("*.yml")} <= set(all_contracts())
    every = [*suites.feed_suites(EXPECTATIONS).values(), *suites.mart_suites(EXPECTATIONS).values()]
    assert "kpi_proactive_discovery_daily" in suites.mart_suites(EXPECTATIONS)
    for suite in every:
        for check in suite.by_engine("gx"):
            assert get_expectation_impl(check.type), (suite.name, check.id)


def test_a_new_contract_gets_a_default_suite_and_files_override_by_id(tmp_path: Path) -> None:
    contract = parse_contract(
        {
            "feed": "canteen_meals",
            "department": "民政 civil affairs",
            "description": "Meals.",
            "format": "csv",
            "load_mode": "delta",
            "primary_key": ["meal_id", "id_number"],
            "columns": [
                {"name": "meal_id", "type": "text", "required": True},
                {"name": "id_number", "type": "id_number", "required": True, "key_column": "person_key"},
                {"name": "dish", "type": "text", "accepted": ["面", "饭"]},
            ],
        }
    )
    default = {c.id: c for c in suites.feed_suite(contract, tmp_path).checks}
    assert default["unique.meal_id+person_key"].kwargs == {"column_list": ["meal_id", "person_key"]}
    assert default["id_validity.id_number"].severity == "warn"
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "canteen_meals.yml").write_text(
        "expectations:\n"
        "  - {id: accepted_values.dish, severity: warn}\n"
        "  - {id: quarantine_share, disabled: true}\n"
        "  - {id: range.x, type: expect_column_values_to_be_between, kwargs: {column: dish}, severity: warn}\n",
        encoding="utf-8",
    )
    merged = {c.id: c for c in suites.feed_suite(contract, tmp_path).checks}
    assert merged["accepted_values.dish"].severity == "warn"
    assert merged["accepted_values.dish"].kwargs == default["accepted_values.dish"].kwargs
    assert "quarantine_share" not in merged and "range.x" in merged


def test_a_check_without_a_valid_severity_is_refused(tmp_path: Path) -> None:
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "kpi_x.yml").write_text(
        "expectations:\n  - {id: a, type: expect_table_row_count_to_be_between, severity: maybe}\n", encoding="utf-8"
    )
    with pytest.raises(suites.SuiteError):
        suites.mart_suites(tmp_path)


def test_gx_reaches_the_warehouse_over_tcp_and_over_the_embedded_servers_socket() -> None:
    from sqlalchemy.engine import make_url

    from grassroots.quality.gx_runner import sqlalchemy_url

    socket = make_url(sqlalchemy_url("host=/tmp/pg/socket port=5433 user=postgres dbname=grassroots"))
    assert (socket.host, socket.database, socket.query["host"], socket.query["port"]) == (
        None,
        "grassroots",
        "/tmp/pg/socket",
        "5433",
    )
    tcp = make_url(sqlalchemy_url("postgresql://auditor:p%40ss@db.example:6432/grassroots"))
    assert (tcp.host, tcp.port, tcp.password, tcp.drivername) == ("db.example", 6432, "p@ss", "postgresql+psycopg2")


def test_suite_files_read_the_same_with_libyaml_as_with_the_pure_python_loader() -> None:
    import yaml

    files = sorted(suites.expectations_dir().rglob("*.yml"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=suites.YAML_LOADER) == yaml.safe_load(text), path.name


def test_dbt_owns_the_marts_keys_and_gx_does_not_repeat_them() -> None:
    """A published mart's grain (unique, not null) and accepted values are dbt tests on the same unpublished
    build; the mart suites check what dbt does not (columns, volume, ranges, a part within its whole)."""
    dbt_owned = {
        "expect_column_values_to_not_be_null",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_be_in_set",
    }
    marts = suites.mart_suites()
    repeated = [(model, c.id) for model, suite in marts.items() for c in suite.checks if c.type in dbt_owned]
    assert not repeated, repeated
    grains = {}
    for path in (settings.project_root() / "dbt" / "models" / "marts").rglob("_*__models.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            tests = [next(iter(t)) if isinstance(t, dict) else t for t in model.get("data_tests", [])]
            grains[model["name"]] = tests
    for model in marts:
        assert {"not_null_columns", "unique_combination_of_columns"} <= set(grains.get(model, [])), model
