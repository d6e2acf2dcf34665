"""The column types a feed contract may declare, each defined once with everything a load path needs.

A contract column's `type` names one entry of `TYPES`. Every path reads the entry: the staging
DDL and COPY's type names (`contracts`), the row parser (`parsers`, via `parse`), the fast path's
canonical shape and its COPY text of canonical cells (`columnar.copy_cells`, by `encoding`); for
types with other spellings, the fast path's column-wise rewrite of them to the canonical text
(`columnar.NORMALISE`). tests/unit/test_column_types.py checks that every type has every facet and
that the value PostgreSQL's type reads from the fast path's text for a canonical cell is the row
parser's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from grassroots.loading import parsers


@dataclass(frozen=True)
class ColumnType:
    """One contract column type.

    `pg_name`: the PostgreSQL type without modifiers (COPY's type name); `precision` and
    `scale` its modifiers, if any. `parse`: the reference parser from a department's text to the
    value loaded (or `parsers.FieldError`). `shape`: an RE2 pattern of the canonical text the fast
    path loads without the row parser (what the parser leaves as it is). `encoding`: psycopg's name
    of the base type, which picks the fast path's COPY text of such a cell (`columnar.copy_cells`).
    `key`: whether the loaded text is canonical, so that the column may be part of a primary key.
    `forms`: an RE2 pattern of every spelling the fast path takes (the canonical shape and other
    spellings the row parser accepts, which `columnar.NORMALISE` rewrites column-wise to the canonical
    text before the fast path's checks); empty when only the shape is taken.
    """

    name: str
    pg_name: str
    parse: Callable[[str], object]
    shape: str
    encoding: str
    key: bool
    precision: int | None = None
    scale: int = 0
    forms: str = ""

    @property
    def pg_type(self) -> str:
        """The staging column's PostgreSQL type, modifiers included (e.g. numeric(14,2))."""
        return f"{self.pg_name}({self.precision},{self.scale})" if self.precision else self.pg_name


def _numeric(name: str, precision: int, scale: int) -> ColumnType:
    """A decimal type numeric(precision, scale): canonically at most precision - scale integer digits
    and at most `scale` decimals (PostgreSQL would round more; the row parser takes those)."""
    fraction = rf"(?:\.\d{{1,{scale}}})?" if scale else ""
    return ColumnType(
        name,
        "numeric",
        parsers.numeric_parser(precision, scale),
        rf"-?(?:[1-9]\d{{0,{precision - scale - 1}}}|0){fraction}",
        "numeric",
        key=False,
        precision=precision,
        scale=scale,
    )


# A canonical text cell: no comma, quote or backslash; no full-width ASCII or ideographic space
# (NFKC changes them); no control character (C0, DEL, C1: the row parser's `control_character`)
# and none of the spaces Python's strip() removes that NFKC keeps (U+1680, U+2028, U+2029);
# no white space at either end.
_INNER = r',"\\\x00-\x1F\x7F-\x9F\x{1680}\x{2028}\x{2029}\x{3000}\x{FF01}-\x{FF5E}'
_END = _INNER + r"\x20"
_TEXT = rf"[^{_END}](?:[^{_INNER}]*[^{_END}])?"

TYPES: dict[str, ColumnType] = {
    t.name: t
    for t in (
        ColumnType("text", "text", parsers.parse_text, _TEXT, "text", key=True),
        # Checked by the loader (check digit, birth date); text costs COPY less than char(18).
        # identity.normalise_id_number's forms without spaces: full-width digits and x, a lower-case x,
        # the legacy 15 digits.
        ColumnType(
            "id_number",
            "text",
            parsers.parse_id_number,
            r"\d{17}[\dX]",
            "text",
            key=True,
            forms=r"[\d０-９]{17}[\dXx０-９Ｘｘ]|[\d０-９]{15}",
        ),
        ColumnType("phone", "text", parsers.parse_phone, r"1[3-9]\d{9}", "text", key=True),
        # parsers.parse_date's forms without spaces or full-width digits: 2026/11/1, 2026.1.01,
        # 2026年11月1日 (separators as the parser takes them, 日 optional), 20261101.
        ColumnType(
            "date",
            "date",
            parsers.parse_date,
            r"\d{4}-\d{2}-\d{2}",
            "date",
            key=True,
            forms=r"\d{4}(?:[-/.年]\d{1,2}[-/.月]\d{1,2}日?|\d{4})",
        ),
        # Local time (settings.TIMEZONE); the fast path takes its UTC offset from the setting.
        ColumnType(
            "timestamp",
            "timestamptz",
            parsers.parse_timestamp,
            r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
            "timestamptz",
            key=True,
        ),
        ColumnType("int", "integer", parsers.parse_int, r"-?[1-9]\d{0,8}|0", "int4", key=True),  # 9 digits fit int4
        # The canonical spellings the fast path maps: 1, true, 是 / 0, false, 否.
        ColumnType("bool", "boolean", parsers.parse_bool, "1|true|是|0|false|否", "bool", key=False),
        _numeric("numeric", 14, 2),
    )
}
