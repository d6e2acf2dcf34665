"""One registry of column types: every contract type is in it with every facet, and its facets agree.

For random canonical values of each type: the fast path's shape (RE2, as the fast path runs it)
matches the value's text, the reference parser gives the value back, and the fast path's COPY text
for it (`columnar.copy_cells`), read as the PostgreSQL type's text (psycopg's loader), is the parsed
value: both take the same bytes in psycopg's binary format for the type. A type added to the
registry without a facet, a cast or a strategy here fails these tests.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import Format

from grassroots import settings as grassroots_settings
from grassroots.loading import parsers
from grassroots.loading.column_types import TYPES, ColumnType
from grassroots.loading.columnar import NORMALISE, NULL, FastPath, copy_cells
from grassroots.loading.contracts import all_contracts, parse_contract
from grassroots.loading.identity import EARLIEST_BIRTH, PROVINCES, check_digit

EXAMPLES = settings(max_examples=150, derandomize=True, deadline=None)


def _id_numbers() -> st.SearchStrategy[str]:
    body = st.tuples(st.sampled_from(sorted(PROVINCES)), st.dates(EARLIEST_BIRTH, dt.date(2026, 11, 24)))
    return st.builds(
        lambda parts, serial: (first := f"{parts[0]}0106{parts[1]:%Y%m%d}{serial:03d}") + check_digit(first),
        body,
        st.integers(0, 999),
    )


def _numerics(column_type: ColumnType) -> st.SearchStrategy[str]:
    """Canonical decimals of the type: at most its scale's decimals and its precision's digits."""
    limit = Decimal(10) ** (column_type.precision - column_type.scale) - Decimal(1).scaleb(-column_type.scale)
    values = st.decimals(-limit, limit, places=column_type.scale)
    return st.builds(_numeric_text, values, st.booleans())


def _numeric_text(value: Decimal, trim: bool) -> str:
    """Plain notation, with its trailing zero decimals or without them."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if trim and "." in text else text


# Canonical text of each contract type, as departments send it when they send it well.
CANONICAL = {
    "text": st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
    "id_number": _id_numbers(),
    "phone": st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    "date": st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat),
    "timestamp": st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31)).map(
        lambda value: f"{value:%Y-%m-%d %H:%M:%S}"
    ),
    "int": st.integers(-(10**9) + 1, 10**9 - 1).map(str),
    "bool": st.sampled_from(["1", "true", "是", "0", "false", "否"]),
    "numeric": _numerics(TYPES["numeric"]),
}


def _fast_cell(text: str, column_type: ColumnType, utc_offset: dt.timedelta | None = None) -> bytes | None:
    """The binary bytes of the value the fast path's COPY text for one cell of canonical text reads as."""
    offset = grassroots_settings.fixed_utc_offset() if utc_offset is None else utc_offset
    (cell,) = copy_cells(pa.array([text]), column_type, offset).to_pylist()
    if cell == NULL:
        return _library_cell(None, column_type)
    transformer = Transformer()
    transformer.set_loader_types([psycopg.adapters.types.get_oid(column_type.pg_name)], Format.TEXT)
    (value,) = transformer.load_sequence([cell.encode("utf-8")])
    return _library_cell(value, column_type)


def _library_cell(value: object, column_type: ColumnType) -> bytes | None:
    """psycopg's binary COPY bytes of a value for the type (as `Copy.set_types` makes the loader dump)."""
    if value is None:
        return None
    if isinstance(value, Decimal):  # the server rounds to the column's scale (typmod) as it stores
        value = value.quantize(Decimal(1).scaleb(-column_type.scale))
    transformer = Transformer()
    transformer.set_dumper_types([psycopg.adapters.types.get_oid(column_type.pg_name)], Format.BINARY)
    return bytes(transformer.dump_sequence([value], [PyFormat.BINARY])[0])


def _shaped(text: str, column_type: ColumnType) -> bool:
    return pc.match_substring_regex(pa.array([text]), f"^(?:{column_type.shape})$")[0].as_py()


def test_every_contract_column_type_is_in_the_registry() -> None:
    used = {column.type for contract in all_contracts().values() for column in contract.columns}
    assert used and used <= set(TYPES)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_type_has_every_facet(name: str) -> None:
    """A PostgreSQL type psycopg knows, whose binary format is the type's encoding; a parser; a
    shape RE2 compiles; a strategy of canonical values here."""
    column_type = TYPES[name]
    assert column_type.name == name and callable(column_type.parse) and column_type.shape
    assert psycopg.adapters.types[column_type.pg_name].name == column_type.encoding
    assert column_type.pg_type.startswith(column_type.pg_name)
    assert isinstance(_shaped("", column_type), bool)
    assert name in CANONICAL
    assert (name in NORMALISE) == bool(column_type.forms), "other forms are taken only with a rewrite of them"


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_path_takes_every_type(name: str) -> None:
    """A contract column of the type: staging DDL, binary COPY type and the fast path's tables."""
    contract = parse_contract(
        {
            "feed": "typed",
            "department": "test",
            "description": "One column of each type.",
            "format": "csv",
            "load_mode": "delta",
            "primary_key": ["row_id"],
            "columns": [{"name": "row_id", "type": "text"}, {"name": "value", "type": name}],
        }
    )
    assert dict(contract.staging_columns())["value"] == TYPES[name].pg_type
    assert contract.copy_types()["value"] == TYPES[name].pg_name
    assert FastPath(contract, ["row_id", "value"], b"k", dt.date(2026, 11, 24), 1).pattern


@pytest.mark.parametrize("name", sorted(TYPES))
def test_canonical_cells_load_the_same_value_on_both_paths(name: str) -> None:
    column_type = TYPES[name]

    @EXAMPLES
    @given(text=CANONICAL[name])
    def check(text: str) -> None:
        if name == "text":  # any text: what has the shape and is NFKC-stable (the fast path checks it) is loaded as is
            if not (_shaped(text, column_type) and unicodedata.is_normalized("NFKC", text)):
                return
            assert parsers.loadable(text) and column_type.parse(text) == text, text
        assert _shaped(text, column_type), text
        if column_type.forms:  # the other forms include the canonical one, which their rewrite keeps
            assert pc.match_substring_regex(pa.array([text]), f"^(?:{column_type.forms})$")[0].as_py(), text
            assert NORMALISE[name](pa.array([text])).to_pylist() == [text]
        assert _fast_cell(text, column_type) == _library_cell(column_type.parse(text), column_type), text

    check()


@EXAMPLES
@given(scale=st.integers(0, 9), data=st.data())
def test_fast_numerics_equal_the_library_for_any_scale(scale: int, data: st.DataObject) -> None:
    """Any numeric(18, scale): the fast path's text is the parsed value, rounded to the column's scale alike."""
    column_type = ColumnType("n", "numeric", Decimal, "", "numeric", key=False, precision=18, scale=scale)
    text = data.draw(_numerics(column_type))
    assert _fast_cell(text, column_type) == _library_cell(Decimal(text), column_type)


@EXAMPLES
@given(
    minutes=st.integers(-12 * 60, 14 * 60),
    local=st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 12, 31)),
)
def test_fast_timestamps_equal_the_library_for_any_offset(minutes: int, local: dt.datetime) -> None:
    """The fast path takes the UTC offset as an argument: local time at any fixed offset is the parsed instant."""
    offset = dt.timedelta(minutes=minutes)
    text = f"{local:%Y-%m-%d %H:%M:%S}"
    value = local.replace(microsecond=0, tzinfo=dt.timezone(offset))
    assert _fast_cell(text, TYPES["timestamp"], offset) == _library_cell(value, TYPES["timestamp"])


def test_accepted_values_are_canonical_text() -> None:
    """The fast path writes an accepted value's text into COPY as it is: none may hold what COPY's
    text format escapes (tab, line end, backslash) or what NFKC or the row parser's strip would change."""
    accepted = {v for c in all_contracts().values() for column in c.columns for v in column.accepted or ()}
    assert accepted
    for value in accepted:
        assert _shaped(value, TYPES["text"]) and unicodedata.is_normalized("NFKC", value), value
