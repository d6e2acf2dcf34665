"""Field parsers accept what departments send and name the rule for what they cannot parse."""

import datetime as dt
from decimal import Decimal

import pytest

from grassroots.validate import FieldError, parse_bool, parse_date, parse_numeric, parse_timestamp


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
