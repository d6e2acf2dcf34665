"""Contracts are the single definition of a feed."""

import datetime as dt

import pytest

from grassroots.loading.contracts import FRESHNESS_WARN_HOURS, ContractError, all_contracts, parse_contract

VALID = {
    "feed": "x",
    "department": "民政 civil affairs",
    "description": "Rows.",
    "format": "csv",
    "load_mode": "delta",
    "primary_key": ["a"],
    "columns": [{"name": "a", "type": "text"}],
}


def test_packaged_contracts_parse_and_map_chinese_headers() -> None:
    contracts = all_contracts()
    assert "population_registry" in contracts
    population = contracts["population_registry"]
    assert population.header_map()["公民身份号码"] == "id_number"
    assert ("id_number", "person_key") in population.key_columns
    staging = dict(population.staging_columns())
    assert staging["person_key"] == "text" and staging["_row_no"].startswith("integer")


@pytest.mark.parametrize(
    "columns",
    [[{"name": "Robert'); drop table x;--", "type": "text"}], [{"name": "a", "type": "blob"}]],
)
def test_hostile_or_unknown_columns_are_refused(columns: list[dict]) -> None:
    with pytest.raises(ContractError):
        parse_contract({**VALID, "columns": columns})


def test_a_feed_name_leaves_room_for_its_day_partitions() -> None:
    longest = parse_contract({**VALID, "feed": "f" * 53})
    assert len(longest.day_partition(dt.date(2026, 11, 24))) == 63
    with pytest.raises(ContractError, match="at most 53"):
        parse_contract({**VALID, "feed": "f" * 54})


def test_a_contract_names_its_department_and_describes_the_feed() -> None:
    assert parse_contract(VALID).department == "民政 civil affairs"
    for missing in ("department", "description"):
        with pytest.raises(ContractError, match="owning department"):
            parse_contract({key: value for key, value in VALID.items() if key != missing})
    with pytest.raises(ContractError, match="owning department"):
        parse_contract({**VALID, "department": "  "})


def test_pii_classes_and_freshness_are_checked() -> None:
    assert parse_contract({**VALID, "columns": [{"name": "a", "type": "text", "pii": "name"}]}).columns[0].pii == "name"
    with pytest.raises(ContractError, match="pii"):
        parse_contract({**VALID, "columns": [{"name": "a", "type": "text", "pii": "secret"}]})
    with pytest.raises(ContractError, match="freshness_hours"):
        parse_contract({**VALID, "freshness_hours": FRESHNESS_WARN_HOURS})
