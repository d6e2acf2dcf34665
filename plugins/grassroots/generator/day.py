"""Write one day's deliveries for all twelve feeds, with the truth beside them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from grassroots.generator import writers
from grassroots.generator.dirt import Dirt, RowDirt
from grassroots.generator.events import INCIDENT_SLA_HOURS
from grassroots.generator.feeds import (
    SNAPSHOT_SOURCES,
    SPECS,
    EventSource,
    Record,
    Spec,
    resource_records,
    split_supplement,
)
from grassroots.generator.truth import Tracker, area_day_kpis, day_kpis
from grassroots.generator.world import Resident, by_community, population
from grassroots.loading.contracts import Contract, get_contract

API_PAGE_SIZE = 500
RENAMED = ("health_records", "id_number")  # the header sent as the contract's second alias
DRIFTED = ("grid_incidents", "reported_at", "上报时间(北京时间)")  # a header no contract knows
FILE_RULES = {
    "drifted_column": "unknown_column",
    "truncated_file": "truncated_file",
    "wrong_encoding": "encoding",
    "empty_file": "empty_file",
}


@dataclasses.dataclass
class DayContext:
    """Everything one day's writers share."""

    out_dir: Path
    ds: dt.date
    seed: int
    dirt: Dirt
    tracker: Tracker

    @property
    def stamp(self) -> str:
        return f"{self.ds:%Y%m%d}"

    def feed_dir(self, feed: str) -> Path:
        return self.out_dir / self.ds.isoformat() / feed

    def rng(self, feed: str, part: str) -> random.Random:
        return random.Random(f"{self.seed}|{self.ds.isoformat()}|{feed}|{part}")


def _headers(contract: Contract, spec: Spec, ctx: DayContext, file_defect: str | None) -> list[str]:
    headers = []
    for column in contract.columns:
        header = column.aliases[0] if spec.headers == "alias" and column.aliases else column.name
        if (contract.feed, column.name) == RENAMED and ctx.dirt.renamed_column and file_defect is None:
            header = column.aliases[1]
        if (contract.feed, column.name) == DRIFTED[:2] and file_defect == "drifted_column":
            header = DRIFTED[2]
        headers.append(header)
    return headers


def _note_header_defects(ctx: DayContext, contract: Contract, name: str, headers: list[str]) -> None:
    for column, header in zip(contract.columns, headers, strict=True):
        if header == DRIFTED[2]:
            ctx.tracker.defect(contract.feed, name, 1, column.name, "drifted_column", "unknown_column")
        elif header not in (column.name, column.aliases[0] if column.aliases else None):
            ctx.tracker.defect(contract.feed, name, 1, column.name, "renamed_column", None)


def _rows(
    ctx: DayContext,
    contract: Contract,
    entry: dict,
    records: Iterable[tuple[Record, dt.date | None]],
    first_line: int,
    row_dirt: RowDirt,
) -> Iterator[dict[str, object]]:
    """Cells per record, accounting each one in the truth."""
    feed = contract.feed
    for offset, ((person, key, values), event_day) in enumerate(records):
        line = first_line + offset
        cells, defects = row_dirt.cells(values)
        rule = next((d["rule"] for d in defects if d["rule"]), None)
        if entry["rule"] is None:
            for d in defects:
                ctx.tracker.defect(feed, entry["file"], line, d["column"], d["kind"], d["rule"])
            if event_day is not None and event_day < ctx.ds:
                ctx.tracker.defect(feed, entry["file"], line, None, "late_row", rule, event_date=event_day.isoformat())
        ctx.tracker.row(feed, entry, line, person, key, rule)
        yield cells


def deliver(
    ctx: DayContext, feed: str, name: str, records: list[tuple[Record, dt.date | None]], file_defect: str | None = None
) -> Path:
    """Write one delivered file and account for it; returns its path."""
    contract, spec = get_contract(feed), SPECS[feed]
    dirt = ctx.dirt if file_defect is None else Dirt.none()
    row_dirt = RowDirt(contract, dirt, ctx.rng(feed, name), spec.style, quarantine=spec.quarantine)
    rule = FILE_RULES.get(file_defect or "")
    entry = ctx.tracker.open_file(feed, name, rule, 0 if rule == "empty_file" else 1)
    path = ctx.feed_dir(feed) / name
    headers = _headers(contract, spec, ctx, file_defect)
    if contract.format == "csv":
        _note_header_defects(ctx, contract, name, headers)
    columns = contract.column_names
    if file_defect == "empty_file":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        ctx.tracker.defect(feed, name, 0, None, "empty_file", "empty_file")
    elif contract.format == "xlsx":
        rows = ([c.get(k) for k in columns] for c in _rows(ctx, contract, entry, records, 2, row_dirt))
        writers.write_xlsx(path, headers, rows)
    elif contract.format == "jsonl":
        rows = (
            dict(zip(headers, (c.get(k) for k in columns), strict=True))
            for c in _rows(ctx, contract, entry, records, 1, row_dirt)
        )
        writers.write_jsonl(path, rows)
    else:
        rows = ([c.get(k) for k in columns] for c in _rows(ctx, contract, entry, records, 2, row_dirt))
        _write_csv(ctx, contract, entry, path, headers, rows, file_defect)
    return path


def _write_csv(
    ctx: DayContext,
    contract: Contract,
    entry: dict,
    path: Path,
    headers: list[str],
    rows: Iterator[list[object]],
    file_defect: str | None,
) -> None:
    if file_defect == "truncated_file":
        text = writers.truncate_text(writers.csv_text(headers, rows))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(contract.encoding))
        entry["line"] = text.count("\n") + 1
        ctx.tracker.defect(contract.feed, path.name, entry["line"], None, "truncated_file", "truncated_file")
    elif file_defect == "wrong_encoding":
        data = writers.csv_text(headers, rows).encode("gb18030")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entry["line"] = _first_bad_line(data, contract.encoding)
        ctx.tracker.defect(contract.feed, path.name, entry["line"], None, "wrong_encoding", "encoding")
    else:
        writers.write_csv(path, headers, rows, contract.encoding)


def _first_bad_line(data: bytes, encoding: str) -> int:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return data[: exc.start].count(b"\n") + 1
    raise AssertionError("a re-encoded file that still decodes: nothing was planted")


def deliver_api(ctx: DayContext, feed: str, records: list[tuple[Record, dt.date | None]]) -> None:
    """API feeds: pages under <ds>/_api/<feed>/; the truth names the capture the extract writes."""
    contract, spec = get_contract(feed), SPECS[feed]
    row_dirt = RowDirt(contract, ctx.dirt, ctx.rng(feed, "api"), spec.style, quarantine=spec.quarantine)
    entry = ctx.tracker.open_file(feed, f"{feed}_{ctx.stamp}.jsonl")
    headers = _headers(contract, spec, ctx, None)
    columns = contract.column_names
    rows = (
        dict(zip(headers, (c.get(k) for k in columns), strict=True))
        for c in _rows(ctx, contract, entry, records, 1, row_dirt)
    )
    writers.write_api_pages(ctx.out_dir / ctx.ds.isoformat() / "_api" / feed, rows, API_PAGE_SIZE)


def duplicate(ctx: DayContext, feed: str, original: Path, records: list[tuple[Record, dt.date | None]]) -> None:
    """The same file delivered twice under another name: the copy must be recorded once, as a duplicate."""
    copy = original.with_name(f"{original.stem}_resend{original.suffix}")
    shutil.copyfile(original, copy)
    entry = ctx.tracker.open_file(feed, copy.name, "duplicate_delivery", 0)
    ctx.tracker.defect(feed, copy.name, 0, None, "duplicate_delivery", "duplicate_delivery", copy_of=original.name)
    for offset, ((person, key, _), _) in enumerate(records):
        ctx.tracker.row(feed, entry, offset + 2, person, key, None)


def _undated(records: Iterable[Record]) -> list[tuple[Record, None]]:
    return [(record, None) for record in records]


def _snapshot_records(residents: list[Resident], feed: str, ds: dt.date) -> Iterator[tuple[Record, None]]:
    return ((record, None) for record in SNAPSHOT_SOURCES[feed](residents, ds))


def event_feed(ctx: DayContext, source: EventSource, feed: str) -> None:
    """A delta feed: on-time and late records, maybe a supplementary file carrying a whole-file defect."""
    spec = SPECS[feed]
    contract = get_contract(feed)
    on_time, late = source.delivery(feed, ctx.ds)
    defect = spec.supplement if spec.supplement and getattr(ctx.dirt, spec.supplement) else None
    supplement: list[Record] = []
    if defect and defect != "empty_file":
        on_time, supplement = split_supplement(on_time, ctx.seed, ctx.ds, feed)
    records = [(record, ctx.ds) for record in on_time] + late
    if contract.delivery == "api":
        deliver_api(ctx, feed, records)
        return
    suffix = ".jsonl" if contract.format == "jsonl" else ".csv"
    main = deliver(ctx, feed, f"{feed}_{ctx.stamp}{suffix}", records)
    if feed == "grid_incidents" and ctx.dirt.duplicate_delivery:
        duplicate(ctx, feed, main, records)
    if defect and (supplement or defect == "empty_file"):
        extra = [(record, ctx.ds) for record in supplement]
        deliver(ctx, feed, f"{feed}_{ctx.stamp}_supplement{suffix}", extra, defect)


def generate_day(
    out_dir: Path, ds: dt.date, residents: list[Resident], seed: int, dirt: Dirt, source: EventSource | None = None
) -> dict:
    """Write one day's deliveries under out_dir/<ds>/ and its truth under out_dir/_truth/; return the truth."""
    groups = by_community(residents)
    source = source or EventSource(groups, seed, dirt.late_rows)
    truth_dir = out_dir / "_truth"
    tracker = Tracker(truth_dir / f"{ds.isoformat()}.identity.csv")
    ctx = DayContext(out_dir, ds, seed, dirt, tracker)
    shutil.rmtree(out_dir / ds.isoformat(), ignore_errors=True)
    try:
        for feed in ("population_registry", "social_assistance", "health_records", "disability_registry"):
            deliver(
                ctx,
                feed,
                f"{feed}_{ctx.stamp}{'.xlsx' if feed == 'social_assistance' else '.csv'}",
                _snapshot_records(residents, feed, ds),
            )
        deliver_api(ctx, "pension_insurance", _snapshot_records(residents, "pension_insurance", ds))
        resources = resource_records(groups, seed, ds)
        deliver(ctx, "community_resources", f"community_resources_{ctx.stamp}.csv", _undated(resources))
        for feed, spec in SPECS.items():
            if spec.events:
                event_feed(ctx, source, feed)
    finally:
        tracker.close()
    counts = population(groups)
    resource_rows = [values for _, _, values in resources]
    kpis = day_kpis(source.day(ds), tracker.loaded_keys, counts, resource_rows)
    areas = area_day_kpis(source.day(ds), tracker.loaded_keys, counts, resource_rows)
    totals = tracker.feed_totals()
    truth = {
        "ds": ds.isoformat(),
        "seed": seed,
        "residents": len(residents),
        "rows": {feed: t["loaded"] for feed, t in totals.items()},
        "feeds": totals,
        # The day's KPIs as its own build sees them (its records loaded by then). Later deliveries
        # restate them with the day's late records: scenarios.expected_kpis gives the values then.
        "kpi_proactive_discovery": kpis.pop("proactive_discovery"),
        "kpi": kpis,
        "kpi_areas": areas,  # the same per street and district
        "incident_sla_hours": INCIDENT_SLA_HOURS,
        "population": counts,
        "vulnerable_person_ids": [r.id_number for r in residents if r.vulnerable],
        "dirt": dataclasses.asdict(dirt),
        "identity_file": f"{ds.isoformat()}.identity.csv",
        "defects": tracker.defects,
        # Keys of the event records that loaded from this day's deliveries (late ones included):
        # what a day's KPIs count once its later deliveries are in (grassroots.generator.scenarios).
        "loaded_keys": {feed: sorted(keys) for feed, keys in sorted(tracker.loaded_keys.items())},
    }
    (truth_dir / f"{ds.isoformat()}.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1, default=str))
    return truth
