"""Planted dirt: which defects to plant, how cells are written, and what the loader must do with them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass

from grassroots.loading.contracts import Contract
from grassroots.loading.identity import CHECK_CHARS

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
DATE_STYLES = ("iso", "slash", "compact", "chinese")


@dataclass(frozen=True)
class Dirt:
    """Which defects to plant: rates are per cell (IDs, dates) or per row; booleans switch whole-file defects."""

    id_lower_x: float = 0.5  # share of IDs ending in X written with a lower-case x (loads)
    id_full_width: float = 0.01  # full-width digits (loads)
    id_legacy_15: float = 0.01  # 15-digit legacy form, people born 1900-1999 only (loads)
    id_bad_check: float = 0.004  # wrong check digit, never in population_registry (quarantined: id_check_digit)
    date_formats: float = 0.05  # a date written in another of the four formats (loads)
    invalid_values: float = 0.004  # impossible date, bad phone, value not accepted, required blank (quarantined)
    late_rows: float = 0.03  # events delivered 1-3 days after their day (delta feeds)
    renamed_column: bool = True  # a header renamed to a known alias (loads)
    # Whole-file defects that lose records are operational faults, off on an ordinary day: each one
    # makes its feed's delivery unusable, so the KPIs it feeds are held (grassroots.quality.delivery).
    drifted_column: bool = False  # a supplementary file whose header drifted (file quarantined: unknown_column)
    duplicate_delivery: bool = True  # a second copy of a file under another name (duplicate_delivery)
    truncated_file: bool = False  # a supplementary file cut mid-line (truncated_file)
    wrong_encoding: bool = False  # a GBK supplementary file in a UTF-8 feed (encoding)
    empty_file: bool = True  # a 0-byte supplementary file (empty_file)

    @classmethod
    def every(cls) -> Dirt:
        """Every defect the generator can plant, the lossy whole-file ones included (loader tests); bad
        check digits more often, so a city of a few hundred residents gets some whatever its layout."""
        return cls(drifted_column=True, truncated_file=True, wrong_encoding=True, id_bad_check=0.01)

    @classmethod
    def none(cls) -> Dirt:
        """Clean deliveries: every rate 0, every whole-file defect off."""
        return cls(**{f.name: False if f.type == "bool" else 0.0 for f in dataclasses.fields(cls)})

    @classmethod
    def parse(cls, pairs: list[str], base: Dirt | None = None) -> Dirt:
        """Override fields from `name=value` strings (CLI)."""
        dirt = base or cls()
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        changes: dict[str, object] = {}
        for pair in pairs:
            name, _, value = pair.partition("=")
            if name not in types:
                raise ValueError(f"unknown dirt {name!r}; known: {', '.join(types)}")
            changes[name] = value.lower() in ("1", "true", "yes", "on") if types[name] == "bool" else float(value)
        return dataclasses.replace(dirt, **changes)


def format_date(day: dt.date, style: str) -> str:
    """One of the four date forms departments use."""
    if style == "slash":
        return f"{day.year}/{day.month}/{day.day}"
    if style == "compact":
        return f"{day:%Y%m%d}"
    if style == "chinese":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def format_timestamp(moment: dt.datetime, style: str) -> str:
    """A local (Asia/Shanghai) time: ISO with offset for JSON APIs, date form + HH:MM:SS otherwise."""
    if style == "json":
        return f"{moment:%Y-%m-%dT%H:%M:%S}+08:00"
    return f"{format_date(moment.date(), style)} {moment:%H:%M:%S}"


def wrong_check_digit(id_number: str, rng: random.Random) -> str:
    """The same ID with another check character."""
    return id_number[:17] + rng.choice([c for c in CHECK_CHARS if c != id_number[17]])


def legacy_15(id_number: str) -> str:
    """The pre-1999 15-digit form: no century, no check digit."""
    return id_number[:6] + id_number[8:17]


class RowDirt:
    """Formats one feed's typed values as text, planting row-level dirt and recording each defect."""

    def __init__(self, contract: Contract, dirt: Dirt, rng: random.Random, style: str, *, quarantine: bool) -> None:
        self.contract = contract
        self.dirt = dirt
        self.rng = rng
        self.style = style  # the department's date habit, or "json"
        self.quarantine = quarantine  # may rows of this feed be planted so they are quarantined?
        self.types = {c.name: c.type for c in contract.columns}
        self.accepted = {c.name: c.accepted for c in contract.columns if c.accepted}
        self.required = {c.name for c in contract.columns if c.required}

    def cells(self, values: dict[str, object]) -> tuple[dict[str, object], list[dict]]:
        """Text (or JSON number) per column and the defects planted in the row (column, kind, rule or None)."""
        defects: list[dict] = []
        broken = self._break(values, defects) if self.quarantine else None
        out: dict[str, object] = {}
        for column, value in values.items():
            if column == broken:
                out[column] = value
            else:
                out[column] = self._cell(column, value, defects if broken is None else None)
        return out, defects

    def _break(self, values: dict[str, object], defects: list[dict]) -> str | None:
        """At most one quarantining defect per row, so the loader's rule and column are known."""
        rng = self.rng
        ids = [c for c, v in values.items() if self.types.get(c) == "id_number" and v]
        if ids and rng.random() < self.dirt.id_bad_check:
            column = rng.choice(ids)
            values[column] = wrong_check_digit(str(values[column]), rng)
            defects.append({"column": column, "kind": "id_bad_check_digit", "rule": "id_check_digit"})
            return column
        if rng.random() >= self.dirt.invalid_values:
            return None
        options = []
        for column, value in values.items():
            kind = self.types.get(column)
            if kind in ("date", "timestamp") and value:
                options.append((column, "impossible_date", "date_format", "2026-02-30"))
            elif kind == "phone" and value:
                options.append((column, "bad_phone", "phone_format", "1234-56"))
            if column in self.accepted and value:
                options.append((column, "not_accepted", "accepted_values", "未知"))
            if column in self.required and self.types.get(column) != "id_number":
                options.append((column, "required_blank", "required", ""))
        if not options:
            return None
        column, kind, rule, text = rng.choice(options)
        values[column] = text
        defects.append({"column": column, "kind": kind, "rule": rule})
        return column

    def _cell(self, column: str, value: object, defects: list[dict] | None) -> object:
        kind = self.types.get(column)
        if value is None:
            return None
        if kind == "id_number":
            return self._id(column, str(value), defects)
        if isinstance(value, dt.datetime):
            return format_timestamp(value, self._date_style(column, defects))
        if isinstance(value, dt.date):
            return format_date(value, self._date_style(column, defects))
        if isinstance(value, bool):
            return value if self.style == "json" else ("是" if value else "否")
        if isinstance(value, (int, float)) and self.style == "json":
            return value
        return str(value)

    def _date_style(self, column: str, defects: list[dict] | None) -> str:
        if defects is None or self.rng.random() >= self.dirt.date_formats:
            return self.style
        base = "iso" if self.style == "json" else self.style
        style = self.rng.choice([s for s in DATE_STYLES if s != base])
        defects.append({"column": column, "kind": f"date_{style}", "rule": None})
        return style

    def _id(self, column: str, id_number: str, defects: list[dict] | None) -> str:
        if defects is None:
            return id_number
        rng, dirt = self.rng, self.dirt
        if id_number.endswith("X") and rng.random() < dirt.id_lower_x:
            defects.append({"column": column, "kind": "id_lower_x", "rule": None})
            return id_number[:17] + "x"
        if rng.random() < dirt.id_full_width:
            defects.append({"column": column, "kind": "id_full_width", "rule": None})
            return id_number.translate(FULL_WIDTH)
        if id_number[6:8] == "19" and rng.random() < dirt.id_legacy_15:
            defects.append({"column": column, "kind": "id_legacy_15", "rule": None})
            return legacy_15(id_number)
        return id_number
