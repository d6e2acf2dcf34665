"""Operational faults on generated days, and the truth of what BI must then see.

A fault changes one feed's delivery of one day in a generated landing folder the way a
department or an operator does (a file not sent, a column dropped or renamed, amounts with a
unit, a snapshot cut short, a file sent again in other bytes, a late record) and says which
check must then refuse the delivery (`rule`: a feed-suite check id such as `drift.columns`), or
None when the delivery stays usable. `expected_kpis` gives, per day and community, the KPI
values computed from the records of the usable deliveries only; a KPI period whose feeds are not
all usable must be held, never published (grassroots.quality.publish).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from grassroots.generator.events import resources
from grassroots.generator.feeds import SPECS, EventSource
from grassroots.generator.truth import area_day_kpis, day_kpis
from grassroots.generator.world import build_world, by_community, population
from grassroots.loading.contracts import get_contract


@dataclass(frozen=True)
class Fault:
    """One fault planted in a feed's delivery of a day, and the check that must refuse it (or None)."""

    kind: str
    feed: str
    day: dt.date
    rule: str | None


def _feed_folder(landing: Path, feed: str, day: dt.date) -> Path:
    return landing / day.isoformat() / feed


def _api_folder(landing: Path, feed: str, day: dt.date) -> Path:
    return landing / day.isoformat() / "_api" / feed


def main_file(landing: Path, feed: str, day: dt.date) -> Path:
    """The day's main delivered file of a file feed (not a supplement or a re-send)."""
    contract = get_contract(feed)
    suffix = {"csv": ".csv", "jsonl": ".jsonl", "xlsx": ".xlsx"}[contract.format]
    return _feed_folder(landing, feed, day) / f"{feed}_{day:%Y%m%d}{suffix}"


def _read_csv(path: Path, encoding: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))
    return rows[0], rows[1:]


def _write_csv(path: Path, header: list[str], rows: Iterable[list[str]], encoding: str, **dialect: object) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(
        buffer,
        lineterminator=str(dialect.get("lineterminator", "\n")),
        quoting=int(dialect.get("quoting", csv.QUOTE_MINIMAL)),
    )
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def _header_of(feed: str, column: str, header: list[str]) -> int:
    contract = get_contract(feed)
    names = {column, *next(c.aliases for c in contract.columns if c.name == column)}
    return next(i for i, name in enumerate(header) if name in names)


def _edit_records(landing: Path, feed: str, day: dt.date, edit: Callable[[dict], dict]) -> None:
    """Apply `edit` to every record of a JSON-lines feed's main file or an API feed's pages."""
    contract = get_contract(feed)
    if contract.delivery == "api":
        for page in sorted(_api_folder(landing, feed, day).glob("page-*.json")):
            body = json.loads(page.read_text(encoding="utf-8"))
            body["data"] = [edit(record) for record in body["data"]]
            page.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        return
    path = main_file(landing, feed, day)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    path.write_text("".join(json.dumps(edit(r), ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")


def missing(landing: Path, feed: str, day: dt.date) -> Fault:
    """The department sends nothing for the day."""
    shutil.rmtree(_feed_folder(landing, feed, day), ignore_errors=True)
    shutil.rmtree(_api_folder(landing, feed, day), ignore_errors=True)
    return Fault("missing", feed, day, "delivery.loaded")


def drop_column(landing: Path, feed: str, day: dt.date, column: str) -> Fault:
    """An optional column disappears from the file (CSV header and cells, or JSON key)."""
    contract = get_contract(feed)
    if contract.format == "csv":
        path = main_file(landing, feed, day)
        header, rows = _read_csv(path, contract.encoding)
        index = _header_of(feed, column, header)
        _write_csv(
            path, header[:index] + header[index + 1 :], (r[:index] + r[index + 1 :] for r in rows), contract.encoding
        )
    else:
        names = {column, *next(c.aliases for c in contract.columns if c.name == column)}
        _edit_records(landing, feed, day, lambda r: {k: v for k, v in r.items() if k not in names})
    return Fault("drop_column", feed, day, "drift.columns")


def empty_column(landing: Path, feed: str, day: dt.date, column: str) -> Fault:
    """The column is still there, but every cell of it is empty."""
    contract = get_contract(feed)
    path = main_file(landing, feed, day)
    header, rows = _read_csv(path, contract.encoding)
    index = _header_of(feed, column, header)
    _write_csv(path, header, ([*r[:index], "", *r[index + 1 :]] for r in rows), contract.encoding)
    return Fault("empty_column", feed, day, "drift.emptied")


def extra_column(landing: Path, feed: str, day: dt.date) -> Fault:
    """A column the contract does not know appears (the file is refused whole: unknown_column)."""
    contract = get_contract(feed)
    path = main_file(landing, feed, day)
    header, rows = _read_csv(path, contract.encoding)
    _write_csv(path, [*header, "备注"], ([*r, ""] for r in rows), contract.encoding)
    return Fault("extra_column", feed, day, "delivery.files_complete")


def drop_required_column(landing: Path, feed: str, day: dt.date, column: str) -> Fault:
    """A required column disappears (the file is refused whole: missing_column)."""
    drop_column(landing, feed, day, column)
    return Fault("drop_required_column", feed, day, "delivery.files_complete")


def rename_key(landing: Path, feed: str, day: dt.date, column: str, new_key: str) -> Fault:
    """A JSON key is renamed to one the contract does not know."""
    contract = get_contract(feed)
    names = {column, *next(c.aliases for c in contract.columns if c.name == column)}
    _edit_records(landing, feed, day, lambda r: {(new_key if k in names else k): v for k, v in r.items()})
    return Fault("rename_key", feed, day, "drift.columns")


def unit_suffix(landing: Path, feed: str, day: dt.date, column: str, unit: str = "元") -> Fault:
    """Amounts arrive with a unit (3834000元): the column stops parsing in bulk."""
    contract = get_contract(feed)
    path = main_file(landing, feed, day)
    header, rows = _read_csv(path, contract.encoding)
    index = _header_of(feed, column, header)
    _write_csv(
        path,
        header,
        ([*r[:index], f"{r[index]}{unit}" if r[index] else "", *r[index + 1 :]] for r in rows),
        contract.encoding,
    )
    return Fault("unit_suffix", feed, day, "quarantine_share")


def rescale(landing: Path, feed: str, day: dt.date, column: str, factor: int = 100) -> Fault:
    """Amounts arrive in another unit without saying so (元 sent as 分: every value × 100)."""
    contract = get_contract(feed)
    path = main_file(landing, feed, day)
    header, rows = _read_csv(path, contract.encoding)
    index = _header_of(feed, column, header)

    def scaled(value: str) -> str:
        return f"{Decimal(value) * factor:f}" if value else ""

    _write_csv(path, header, ([*r[:index], scaled(r[index]), *r[index + 1 :]] for r in rows), contract.encoding)
    return Fault("rescale", feed, day, "drift.scale")


def truncate_snapshot(landing: Path, feed: str, day: dt.date, keep: float = 0.5) -> Fault:
    """A full snapshot arrives with only the first `keep` share of its rows (well-formed, just short)."""
    contract = get_contract(feed)
    path = main_file(landing, feed, day)
    header, rows = _read_csv(path, contract.encoding)
    _write_csv(path, header, rows[: int(len(rows) * keep)], contract.encoding)
    return Fault("truncate_snapshot", feed, day, "row_count.drop")


def resend(landing: Path, feed: str, day: dt.date, variant: str) -> Fault:
    """The day's main file sent again under another name, the same records in other bytes.

    variant: crlf (CSV line ends), quoting (every CSV cell quoted), bom (UTF-8 CSV with the byte
    order mark toggled: added where the original has none, dropped where it has one), key_order
    (JSON keys reversed).
    """
    contract = get_contract(feed)
    source = main_file(landing, feed, day)
    copy = source.with_name(f"{source.stem}_resent_{variant}{source.suffix}")
    if variant == "key_order":
        lines = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
        copy.write_text(
            "".join(json.dumps(dict(reversed(r.items())), ensure_ascii=False) + "\n" for r in lines), encoding="utf-8"
        )
    else:
        header, rows = _read_csv(source, contract.encoding)
        dialect = {"crlf": {"lineterminator": "\r\n"}, "quoting": {"quoting": csv.QUOTE_ALL}}.get(variant, {})
        encoding = contract.encoding
        if variant == "bom":
            encoding = "utf-8" if source.read_bytes().startswith(b"\xef\xbb\xbf") else "utf-8-sig"
        _write_csv(copy, header, rows, encoding, **dialect)
    return Fault(f"resend_{variant}", feed, day, None)


def move_late(landing: Path, feed: str, from_day: dt.date, to_day: dt.date, count: int = 1) -> Fault:
    """Take `count` records out of one day's delivery and deliver them with a later day (late rows)."""
    contract = get_contract(feed)
    source, target = main_file(landing, feed, from_day), main_file(landing, feed, to_day)
    if contract.format == "csv":
        header, rows = _read_csv(source, contract.encoding)
        target_header, target_rows = _read_csv(target, contract.encoding)
        order = [header.index(name) for name in target_header]
        _write_csv(source, header, rows[count:], contract.encoding)
        _write_csv(
            target, target_header, target_rows + [[r[i] for i in order] for r in rows[:count]], contract.encoding
        )
    else:
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        source.write_text("".join(lines[count:]), encoding="utf-8")
        with target.open("a", encoding="utf-8") as fh:
            fh.write("".join(lines[:count]))
    return Fault("late_rows", feed, to_day, None)


def expected_kpis(
    truths: list[dict], usable: Callable[[str, dt.date], bool], residents: int, seed: int, late_rate: float
) -> dict[dt.date, dict]:
    """Per generated day, the true KPIs over the event records loaded by any usable delivery.

    `truths` are the generator's truths of the days (their `loaded_keys`); `usable(feed, day)` says
    whether the warehouse may use that delivery. A record delivered late counts on its own day.
    """
    loaded: dict[str, set[str]] = {}
    for truth in truths:
        day = dt.date.fromisoformat(truth["ds"])
        for feed, keys in truth["loaded_keys"].items():
            if usable(feed, day):
                loaded.setdefault(feed, set()).update(keys)
    groups = by_community(build_world(residents, seed))
    source = EventSource(groups, seed, late_rate)
    residents_by_community = population(groups)
    out = {}
    for truth in truths:
        day = dt.date.fromisoformat(truth["ds"])
        rows = [{**row, "extract_date": day} for row in resources(groups, seed, day)]
        kpis = day_kpis(source.day(day), loaded, residents_by_community, rows)
        areas = area_day_kpis(source.day(day), loaded, residents_by_community, rows)
        out[day] = {"kpi_proactive_discovery": kpis.pop("proactive_discovery"), "kpi": kpis, "kpi_areas": areas}
    return out


EVENT_FEEDS = tuple(feed for feed, spec in SPECS.items() if spec.events)
