"""Contracts are the single definition of a feed."""

import datetime as dt

import pytest

from grassroots.contracts import ContractError, all_contracts, parse_contract


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
        parse_contract({"feed": "x", "format": "csv", "load_mode": "delta", "columns": columns})


def test_a_feed_name_leaves_room_for_its_day_partitions() -> None:
    contract = {"format": "csv", "load_mode": "delta", "primary_key": ["a"], "columns": [{"name": "a", "type": "text"}]}
    longest = parse_contract({**contract, "feed": "f" * 53})
    assert len(longest.day_partition(dt.date(2026, 11, 24))) == 63
    with pytest.raises(ContractError, match="at most 53"):
        parse_contract({**contract, "feed": "f" * 54})
