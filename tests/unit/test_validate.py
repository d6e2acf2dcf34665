"""Field parsers accept what departments send and name the rule for what they cannot parse."""

import datetime as dt
from decimal import Decimal

import pytest

from grassroots.loading.column_types import TYPES
from grassroots.loading.parsers import FieldError, parse_bool, parse_date, parse_int, parse_timestamp

parse_numeric = TYPES["numeric"].parse  # numeric(14,2)


@pytest.mark.parametrize("text", ["2026-11-01", "2026/11/1", "20261101", "2026年11月1日", "２０２６-１１-０１"])
def test_four_date_formats(text: str) -> None:
    assert parse_date(text) == dt.date(2026, 11, 1)


@pytest.mark.parametrize("text", ["2026-13-01", "01/11/2026", "yesterday", "2026-02-30"])
def test_bad_dates_are_date_format(text: str) -> None:
    with pytest.raises(FieldError) as info:
        parse_date(text)
    assert info.value.rule == "date_format"


def test_timestamps_are_shanghai_time() -> None:
    value = parse_timestamp("2026/11/1 08:05")
    assert value.utcoffset() == dt.timedelta(hours=8)
    assert (value.hour, value.minute) == (8, 5)


def test_amounts_and_flags() -> None:
    assert parse_numeric("¥1,234.50") == Decimal("1234.50")
    assert parse_bool("是") is True and parse_bool("否") is False
    with pytest.raises(FieldError):
        parse_bool("maybe")


@pytest.mark.parametrize(
    ("parse", "text", "rule"),
    [
        (parse_int, "2147483648", "int_range"),
        (parse_int, "-2147483649", "int_range"),
        (parse_numeric, "1e12", "numeric_range"),
        (parse_numeric, "999999999999.995", "numeric_range"),
        (parse_numeric, "1e999999", "numeric_range"),
    ],
)
def test_values_that_do_not_fit_their_staging_column_are_a_rule_not_a_failed_load(parse, text: str, rule: str) -> None:
    with pytest.raises(FieldError) as info:
        parse(text)
    assert info.value.rule == rule


def test_the_largest_values_that_fit_are_kept() -> None:
    assert parse_int("2147483647") == 2**31 - 1 and parse_int("-2147483648") == -(2**31)
    assert parse_numeric("999999999999.994") == Decimal("999999999999.994")
