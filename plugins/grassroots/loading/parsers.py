"""Field parsers: turn a department's text into a typed value or name the rule it breaks (column_types
says which parser reads each contract type)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from grassroots import settings
from grassroots.loading.identity import IdNumberError, normalise_id_number

# Local time (settings.TIMEZONE, a fixed offset from UTC), and that offset as a timestamp may carry it.
LOCAL_TIME = dt.timezone(settings.fixed_utc_offset(), settings.TIMEZONE)
_LOCAL_SUFFIX = dt.datetime(2000, 1, 1, tzinfo=LOCAL_TIME).isoformat()[-6:]  # e.g. +08:00

# ASCII digits only: other scripts' digits are not a date, a time or a phone number.
_DATE = re.compile(r"^(\d{4})(?:[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{2})(\d{2}))$", re.ASCII)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$", re.ASCII)
_PHONE = re.compile(r"^(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$", re.ASCII)
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # lone surrogates: only a JSON escape makes them
# C0 controls but tab and line ends (a quoted CSV field may hold those), DEL, C1 controls, surrogates.
_UNLOADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_FIELD_CHARS = 4096  # default of a contract's limits.max_field_chars
_TRUE = {"1", "true", "t", "yes", "y", "是", "Y", "TRUE"}
_FALSE = {"0", "false", "f", "no", "n", "否", "N", "FALSE"}


class FieldError(ValueError):
    """A value that breaks a contract rule; carries the rule's name, never the value."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def parse_date(text: str) -> dt.date:
    """2026-11-01, 2026/11/1, 2026.11.01, 20261101 and 2026年11月1日 → date."""
    match = _DATE.match(_ascii(text))
    if not match:
        raise FieldError("date_format")
    year, month, day, month8, day8 = match.groups()
    try:
        return dt.date(int(year), int(month or month8), int(day or day8))
    except ValueError as exc:
        raise FieldError("date_format") from exc


def parse_timestamp(text: str) -> dt.datetime:
    """A date in any accepted form, optionally 'T' or space and HH:MM[:SS], optionally the local offset
    (e.g. +08:00); local time is settings.TIMEZONE's."""
    value = _ascii(text)
    if value.endswith(_LOCAL_SUFFIX):
        value = value[:-6]
    date_part, _, time_part = value.replace("T", " ").partition(" ")
    day = parse_date(date_part)
    if not time_part:
        return dt.datetime.combine(day, dt.time(), LOCAL_TIME)
    match = _TIME.match(time_part.strip())
    if not match:
        raise FieldError("timestamp_format")
    hour, minute, second = (int(g or 0) for g in match.groups())
    try:
        return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=LOCAL_TIME)
    except ValueError as exc:
        raise FieldError("timestamp_format") from exc


def parse_int(text: str) -> int:
    """An integer, full-width digits allowed, that fits the staging column (integer)."""
    try:
        value = int(_ascii(text))
    except ValueError as exc:
        raise FieldError("int_format") from exc
    if not -(2**31) <= value < 2**31:
        raise FieldError("int_range")
    return value


def numeric_parser(precision: int, scale: int) -> Callable[[str], Decimal]:
    """The parser of a numeric(precision, scale) column (column_types): a decimal amount that fits it;
    thousands separators and a ¥ sign are dropped."""
    unit, limit = Decimal(1).scaleb(-scale), Decimal(10) ** (precision - scale)

    def parse_numeric(text: str) -> Decimal:
        try:
            value = Decimal(_ascii(text).replace(",", "").replace("¥", ""))
        except InvalidOperation as exc:
            raise FieldError("numeric_format") from exc
        if not value.is_finite():
            raise FieldError("numeric_format")
        try:  # PostgreSQL rounds half away from zero to the column's scale, then checks its precision
            rounded = value.quantize(unit, rounding=ROUND_HALF_UP)
        except InvalidOperation as exc:
            raise FieldError("numeric_range") from exc
        if abs(rounded) >= limit:
            raise FieldError("numeric_range")
        return value

    return parse_numeric


def parse_bool(text: str) -> bool:
    """1/0, true/false, 是/否."""
    value = _ascii(text)
    if value in _TRUE or value.lower() in _TRUE:
        return True
    if value in _FALSE or value.lower() in _FALSE:
        return False
    raise FieldError("bool_format")


def parse_phone(text: str) -> str:
    """Mainland mobile (11 digits) or landline with area code; +86 and separators dropped."""
    value = re.sub(r"[\s()]", "", _ascii(text))
    if value.startswith("+86"):
        value = value[3:]
    if not _PHONE.match(value):
        raise FieldError("phone_format")
    return value.replace("-", "") if value.startswith("1") else value


def check_field(text: str, max_chars: int = MAX_FIELD_CHARS) -> None:
    """Rules for any field before its type is parsed: `field_too_long` (more than `max_chars`
    characters), `control_character` (C0 other than tab and line ends, DEL, C1) and
    `invalid_unicode` (a lone surrogate, which no database text can hold)."""
    if len(text) > max_chars:
        raise FieldError("field_too_long")
    if _UNLOADABLE.search(text):  # one pass for both rules; which one only when there is a hit
        raise FieldError("invalid_unicode" if _SURROGATE.search(text) else "control_character")


def loadable(text: str, max_chars: int = MAX_FIELD_CHARS) -> bool:
    """Whether `check_field` passes every part of `text`: a record's raw text that passes needs no
    per-field check (its fields are pieces of it)."""
    return len(text) <= max_chars and not _UNLOADABLE.search(text)


def parse_id_number(text: str, latest_birth: dt.date | None = None) -> str:
    """A normalised 18-character ID number born no later than `latest_birth` (see identity.normalise_id_number)."""
    try:
        return normalise_id_number(text, latest_birth)
    except IdNumberError as exc:
        raise FieldError(exc.rule) from exc


def parse_text(text: str) -> str:
    """Text, trimmed, NFKC-normalised (full-width ASCII to half-width)."""
    return _ascii(text)
