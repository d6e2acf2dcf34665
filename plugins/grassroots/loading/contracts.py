"""Feed contracts: one YAML per department feed, read into typed objects.

They are the single source of what a feed is: the loader, the staging DDL, the ingest DAG and the
feed suites read them, and the feeds' dbt sources (dbt/models/staging/<feed>/_<feed>__sources.yml)
are generated from them: `python -m grassroots.loading.contracts --write-dbt-sources` after editing a
contract (tests/unit/test_contracts_match_dbt.py fails while a source and its contract disagree).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from psycopg import sql

from grassroots import settings
from grassroots.loading.column_types import TYPES

FORMATS = {"csv", "jsonl", "xlsx", "api_json"}
# Encodings a contract may declare: each keeps the bytes of `,` `"` CR and LF for those
# characters alone (never inside a multi-byte character), which the loader's line and
# record splitting relies on.
ENCODINGS = {"utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312"}
# Personal data a column may hold (SECURITY.md): what never leaves stg/int for warehouse or marts.
PII_CLASSES = {"id", "name", "phone", "address"}
LOAD_MODES = {"snapshot", "delta"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_FEED_NAME = 53  # its day partitions (<feed>__YYYYMMDD) stay within PostgreSQL's 63-character names
# Columns the loader adds to every staging table: (name, PostgreSQL type, constraints, description).
# `_loaded_at` is the load transaction's start (now()), filled by its default: COPY need not send
# and parse it on every row.
META_COLUMNS = (
    ("_ds", "date", "not null", "Delivery day of the row: the table's partition key (a partition per day)."),
    ("_batch_id", "bigint", "not null", "Load batch of the row: meta.load_batch, which holds the file name."),
    ("_row_no", "integer", "not null", "Line of the row in its delivered file."),
    ("_loaded_at", "timestamptz", "not null default now()", "Start of the load transaction that wrote the row."),
)
PERSON_KEY_TYPE = TYPES["text"]  # a person key: 64 hex characters
# `dbt source freshness` measures a feed's age in whole days behind the partition day
# (dbt/macros/feed_day_freshness.sql): anything under a day warns on the first day without a
# delivery; the contract's `freshness_hours` is the error threshold.
FRESHNESS_WARN_HOURS = 12


DEFAULT_DELIVER_BY = dt.timedelta(hours=10)  # 10:00 the next morning
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class ContractError(ValueError):
    """A contract file that does not describe a loadable feed."""


@dataclass(frozen=True)
class Column:
    """One contract column: its name in the warehouse, type, rules and source headers."""

    name: str
    type: str
    required: bool = False
    pii: str | None = None
    accepted: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    key_column: str | None = None

    @property
    def pg_type(self) -> str:
        """PostgreSQL type of the staging column."""
        return TYPES[self.type].pg_type


@dataclass(frozen=True)
class Limits:
    """Bounds on what one delivery may cost to read; each breach is a named rule (README: limits)."""

    max_file_bytes: int = 4 << 30  # a delivered file (compressed as delivered): file_too_large
    max_expanded_bytes: int = 4 << 30  # a decompressed delivery or the parts of an xlsx: decompression_bomb
    max_expansion_ratio: int = 200  # expanded / compressed size, same rule
    max_record_bytes: int = 64 << 20  # one CSV record or JSON line: record_too_long (file rejected)
    max_field_chars: int = 4096  # one field: field_too_long (row quarantined)
    max_xlsx_rows: int = 2_000_000  # rows of a worksheet, empty ones included: row_limit
    api_max_pages: int = 10_000  # pages of one pull: api_page_cap (capture rejected)
    api_max_page_bytes: int = 64 << 20  # one page: api_page_too_large (capture rejected)
    api_deadline_seconds: float = 900  # one whole pull: api_deadline (feed-day failed)
    api_timeout_seconds: float = 30  # one request's connect or read

    @classmethod
    def parse(cls, raw: object, source: str) -> Limits:
        """Limits from a contract's `limits:` mapping (absent keys keep their defaults)."""
        if raw is None:
            return cls()
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        if not isinstance(raw, dict) or set(raw) - set(fields):
            raise ContractError(f"{source}: limits must be a mapping of {', '.join(fields)}")
        values = {name: (float if fields[name] == "float" else int)(value) for name, value in raw.items()}
        if any(value <= 0 for value in values.values()):
            raise ContractError(f"{source}: limits must be positive")
        return cls(**values)


@dataclass(frozen=True)
class Contract:
    """A department feed as the loader, the DAGs and dbt see it."""

    feed: str
    department: str  # the owning department, e.g. `公安 public security`: the dbt source's meta.owner
    description: str  # what a row is and what a delivery holds: the dbt source table's description
    delivery: str
    format: str
    encoding: str
    load_mode: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    freshness_hours: int = 36  # `dbt source freshness` errors once the feed is older than this
    api_path: str | None = None
    limits: Limits = field(default_factory=Limits)
    # How long after the end of the delivery day (Asia/Shanghai) the department's files may
    # still arrive; the ingest DAG waits for them until then (grassroots.orchestration.arrival).
    deliver_by: dt.timedelta = DEFAULT_DELIVER_BY
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        """Contract column names in order."""
        return [c.name for c in self.columns]

    @property
    def key_columns(self) -> list[tuple[str, str]]:
        """(id column, person-key column) pairs the loader derives."""
        return [(c.name, c.key_column) for c in self.columns if c.key_column]

    def header_map(self) -> dict[str, str]:
        """Every accepted source header (contract name or alias) → contract column name."""
        mapping: dict[str, str] = {}
        for column in self.columns:
            for header in (column.name, *column.aliases):
                mapping[header.strip()] = column.name
        return mapping

    def staging_columns(self) -> list[tuple[str, str]]:
        """(name, PostgreSQL type and constraints) of the staging table, data columns then loader columns."""
        cols = [(c.name, c.pg_type) for c in self.columns]
        cols += [(key, PERSON_KEY_TYPE.pg_type) for _, key in self.key_columns]
        return cols + [(name, f"{pg_type} {constraints}") for name, pg_type, constraints, _ in META_COLUMNS]

    def copy_types(self) -> dict[str, str]:
        """Each staging column's PostgreSQL type without modifiers: the types COPY's rows are dumped as."""
        types = {c.name: TYPES[c.type].pg_name for c in self.columns}
        types |= {key: PERSON_KEY_TYPE.pg_name for _, key in self.key_columns}
        return types | {name: pg_type for name, pg_type, _, _ in META_COLUMNS}

    def staging_ddl(self) -> sql.Composed:
        """`create table if not exists staging.<feed>` from the contract, one partition per load day
        (`day_partition`; the loader creates them)."""
        cols = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type)) for name, pg_type in self.staging_columns()
        )
        return sql.SQL("create table if not exists {}.{} ({}) partition by list (_ds)").format(
            sql.Identifier("staging"), sql.Identifier(self.feed), cols
        )

    def day_partition(self, ds: dt.date) -> str:
        """The name of staging.<feed>'s partition for load day `ds`: <feed>__YYYYMMDD."""
        return f"{self.feed}__{ds:%Y%m%d}"


def parse_duration(text: object) -> dt.timedelta:
    """A duration such as `10h`, `1d6h`, `90m` or `30s` (days, hours, minutes, seconds, in that order)."""
    match = _DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration such as 10h, 1d6h, 90m or 30s")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _column(raw: dict) -> Column:
    name = str(raw["name"])
    if not _NAME.match(name) or raw.get("type") not in TYPES:
        raise ContractError(f"column {name!r}: bad name or type {raw.get('type')!r}")
    if raw.get("pii") not in (None, *PII_CLASSES):
        raise ContractError(f"column {name!r}: pii must be one of {sorted(PII_CLASSES)}")
    key = raw.get("key_column")
    if key is not None and (raw["type"] != "id_number" or not _NAME.match(str(key))):
        raise ContractError(f"column {name!r}: key_column only on id_number columns")
    return Column(
        name=name,
        type=str(raw["type"]),
        required=bool(raw.get("required", False)),
        pii=raw.get("pii"),
        accepted=tuple(str(v) for v in raw.get("accepted", ())),
        aliases=tuple(str(v) for v in raw.get("aliases", ())),
        key_column=key,
    )


def parse_contract(data: dict, source: str = "<contract>") -> Contract:
    """Validate a contract mapping and build the Contract."""
    known = {
        "feed",
        "department",
        "description",
        "delivery",
        "format",
        "encoding",
        "load_mode",
        "columns",
        "primary_key",
        "freshness_hours",
        "api_path",
        "limits",
        "deliver_by",
    }
    try:
        feed = str(data["feed"])
        columns = tuple(_column(c) for c in data["columns"])
    except (KeyError, TypeError) as exc:
        raise ContractError(f"{source}: missing {exc}") from exc
    if not _NAME.match(feed) or len(feed) > MAX_FEED_NAME:
        raise ContractError(
            f"{source}: feed name {feed!r} is not a lowercase identifier of at most {MAX_FEED_NAME} characters"
        )
    if data.get("format") not in FORMATS or data.get("load_mode") not in LOAD_MODES:
        raise ContractError(f"{source}: format must be one of {FORMATS}, load_mode of {LOAD_MODES}")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ContractError(f"{source}: duplicate column names")
    encoding = str(data.get("encoding", "utf-8")).lower()
    if encoding not in ENCODINGS:
        raise ContractError(f"{source}: encoding must be one of {sorted(ENCODINGS)}")
    primary_key = tuple(str(name) for name in data.get("primary_key", ()))
    types = {c.name: c.type for c in columns}
    key_types = sorted(name for name, column_type in TYPES.items() if column_type.key)
    if not primary_key or any(types.get(name) not in key_types for name in primary_key):
        raise ContractError(f"{source}: primary_key must name columns of types {key_types}")
    department, description = (str(data.get(key) or "").strip() for key in ("department", "description"))
    if not department or not description:
        raise ContractError(f"{source}: a contract names its owning department and describes the feed")
    freshness_hours = int(data.get("freshness_hours", 36))
    if freshness_hours <= FRESHNESS_WARN_HOURS:
        raise ContractError(f"{source}: freshness_hours must exceed the {FRESHNESS_WARN_HOURS} h warning")
    try:
        deliver_by = parse_duration(data["deliver_by"]) if "deliver_by" in data else DEFAULT_DELIVER_BY
    except ValueError as exc:
        raise ContractError(f"{source}: deliver_by: {exc}") from exc
    return Contract(
        feed=feed,
        department=department,
        description=description,
        delivery=str(data.get("delivery", "file")),
        format=str(data["format"]),
        encoding=encoding,
        load_mode=str(data["load_mode"]),
        columns=columns,
        primary_key=primary_key,
        freshness_hours=freshness_hours,
        api_path=data.get("api_path"),
        limits=Limits.parse(data.get("limits"), source),
        deliver_by=deliver_by,
        extra={k: v for k, v in data.items() if k not in known},
    )


def load_contract(path: Path) -> Contract:
    """Read one contract file."""
    with path.open(encoding="utf-8") as fh:
        return parse_contract(yaml.safe_load(fh), source=path.name)


def contracts_dirs() -> list[Path]:
    """The packaged contracts plus any in GRASSROOTS_EXTRA_CONTRACTS (os.pathsep-separated)."""
    import os

    extra = [Path(p) for p in os.environ.get("GRASSROOTS_EXTRA_CONTRACTS", "").split(os.pathsep) if p]
    return [settings.CONTRACTS_DIR, *extra]


@cache
def _load_all(dirs: tuple[Path, ...]) -> dict[str, Contract]:
    found: dict[str, Contract] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.yml")):
            contract = load_contract(path)
            if contract.feed in found:
                raise ContractError(f"{path}: feed {contract.feed!r} defined twice")
            found[contract.feed] = contract
    return found


def all_contracts() -> dict[str, Contract]:
    """Every feed contract by feed name, sorted by name."""
    return dict(sorted(_load_all(tuple(contracts_dirs())).items()))


def get_contract(feed: str) -> Contract:
    """One feed's contract."""
    try:
        return all_contracts()[feed]
    except KeyError as exc:
        raise ContractError(f"no contract for feed {feed!r}") from exc


def dbt_sources_path(feed: str) -> Path:
    """Where a feed's dbt source is declared: dbt/models/staging/<feed>/_<feed>__sources.yml."""
    return settings.dbt_project_dir() / "models" / "staging" / feed / f"_{feed}__sources.yml"


def _column_doc(column: Column) -> dict:
    """A contract column as a dbt source column: what it is, the headers or keys it arrives as, its PII class."""
    traits = [column.type]
    if column.required:
        traits.append("required")
    if column.pii:
        traits.append(f"PII {column.pii}")
    headers = " or ".join(column.aliases or (column.name,))
    text = f"Contract column ({', '.join(traits)}), delivered as {headers}."
    if column.accepted:
        text += f" One of {', '.join(column.accepted)}."
    doc: dict = {"name": column.name, "description": text}
    if column.pii:
        doc["config"] = {"meta": {"pii": column.pii}}
    return doc


def dbt_source(contract: Contract) -> dict:
    """The feed's dbt source: staging.<feed> with the columns the loader writes (`staging_columns`),
    owner, description and freshness from the contract, PII classes in the columns' meta.

    The row's identity is tested not null: the required primary-key columns and required ID
    numbers, as the person keys the warehouse joins on (the loader quarantines rows without them).
    """
    keys = dict(contract.key_columns)
    required = {c.name for c in contract.columns if c.required}
    identity = [name for name in contract.primary_key if name in required]
    identity += [name for name, _ in contract.key_columns if name in required]
    not_null = {keys.get(name, name) for name in identity}
    columns = [_column_doc(column) for column in contract.columns]
    columns += [
        {"name": key, "description": f"Person key of {name}: HMAC-SHA256 of the normalised ID number (the loader)."}
        for name, key in contract.key_columns
    ]
    columns += [{"name": name, "description": description} for name, _, _, description in META_COLUMNS]
    table: dict = {"name": contract.feed, "description": contract.description}
    tested = [column["name"] for column in columns if column["name"] in not_null]
    if tested:  # one test for all of them (dbt/tests/generic/not_null_columns.sql)
        table["data_tests"] = [{"not_null_columns": {"arguments": {"columns": tested}}}]
    table["columns"] = columns
    hours = {"warn_after": FRESHNESS_WARN_HOURS, "error_after": contract.freshness_hours}
    return {
        "name": contract.feed,
        "description": f"The {contract.feed} feed of {contract.department}, as the loader wrote it.",
        "schema": "staging",
        "config": {
            "meta": {"owner": contract.department},
            "loaded_at_query": "{{ feed_day_freshness() }}",
            "freshness": {name: {"count": count, "period": "hour"} for name, count in hours.items()},
        },
        "tables": [table],
    }


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as the project's hand-written YAML does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002 (PyYAML's signature)
        super().increase_indent(flow, False)


def dbt_sources_yml(contract: Contract) -> str:
    """The text of the feed's dbt sources file."""
    header = (
        f"# Generated from the feed contract {contract.feed} (plugins/grassroots/loading/contracts/) by\n"
        "# `python -m grassroots.loading.contracts --write-dbt-sources`: edit the contract, not this file.\n"
        "# Freshness is judged against the partition day, not the clock: loaded_at_query gives how many\n"
        "# days the feed's last delivery (meta.load_batch) lags the partition day (run_day()), so a\n"
        "# backfilled or historical day is judged as of itself.\n"
    )
    body = {"version": 2, "sources": [dbt_source(contract)]}
    return header + yaml.dump(body, Dumper=_IndentedDumper, allow_unicode=True, sort_keys=False, width=120)


def write_dbt_sources(check: bool = False) -> list[Path]:
    """Write every contract's dbt sources file (or with `check`, only compare); return the files that differed."""
    differed = []
    for contract in all_contracts().values():
        path, text = dbt_sources_path(contract.feed), dbt_sources_yml(contract)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        differed.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return differed


def main(argv: list[str] | None = None) -> int:
    """`python -m grassroots.loading.contracts --write-dbt-sources | --check-dbt-sources`."""
    parser = argparse.ArgumentParser(prog="python -m grassroots.loading.contracts", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write-dbt-sources", action="store_true", help="regenerate the feeds' dbt sources files")
    action.add_argument("--check-dbt-sources", action="store_true", help="exit 1 if a sources file is out of date")
    args = parser.parse_args(argv)
    differed = write_dbt_sources(check=args.check_dbt_sources)
    verb = "out of date" if args.check_dbt_sources else "written"
    for path in differed:
        print(f"{verb}: {path}")
    return 1 if differed and args.check_dbt_sources else 0


if __name__ == "__main__":
    sys.exit(main())
