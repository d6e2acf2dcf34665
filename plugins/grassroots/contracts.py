"""Feed contracts: one YAML per department feed, read into typed objects."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from psycopg import sql

from grassroots import settings

PG_TYPES = {
    "text": "text",
    "int": "integer",
    "numeric": "numeric(14,2)",
    "date": "date",
    "timestamp": "timestamptz",
    "bool": "boolean",
    "id_number": "text",  # checked by the loader; text costs COPY less than char(18)
    "phone": "text",
}
FORMATS = {"csv", "jsonl", "xlsx", "api_json"}
# Encodings a contract may declare: each keeps the bytes of `,` `"` CR and LF for those
# characters alone (never inside a multi-byte character), which the loader's line and
# record splitting relies on.
ENCODINGS = {"utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312"}
# Primary-key columns are compared by their loaded text: types whose text is canonical.
KEY_TYPES = {"text", "id_number", "date", "timestamp", "int", "phone"}
LOAD_MODES = {"snapshot", "delta"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_FEED_NAME = 53  # its day partitions (<feed>__YYYYMMDD) stay within PostgreSQL's 63-character names
# Columns the loader adds to every staging table. `_loaded_at` is the load transaction's
# start (now()), filled by its default: COPY need not send and parse it on every row.
META_COLUMNS = (
    ("_ds", "date not null"),
    ("_batch_id", "bigint not null"),
    ("_row_no", "integer not null"),
    ("_loaded_at", "timestamptz not null default now()"),
)


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
        return PG_TYPES[self.type]


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
    department: str
    description: str
    delivery: str
    format: str
    encoding: str
    load_mode: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    freshness_hours: int = 36
    api_path: str | None = None
    limits: Limits = field(default_factory=Limits)
    # How long after the end of the delivery day (Asia/Shanghai) the department's files may
    # still arrive; the ingest DAG waits for them until then (grassroots.arrival).
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
        """(name, PostgreSQL type) of the staging table, data columns then loader columns."""
        cols = [(c.name, c.pg_type) for c in self.columns]
        cols += [(key, "text") for _, key in self.key_columns]  # 64 hex characters
        return cols + list(META_COLUMNS)

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
    if not _NAME.match(name) or raw.get("type") not in PG_TYPES:
        raise ContractError(f"column {name!r}: bad name or type {raw.get('type')!r}")
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
        "feed", "department", "description", "delivery", "format", "encoding",
        "load_mode", "columns", "primary_key", "freshness_hours", "api_path", "limits", "deliver_by",
    }  # fmt: skip
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
    if not primary_key or any(types.get(name) not in KEY_TYPES for name in primary_key):
        raise ContractError(f"{source}: primary_key must name columns of types {sorted(KEY_TYPES)}")
    try:
        deliver_by = parse_duration(data["deliver_by"]) if "deliver_by" in data else DEFAULT_DELIVER_BY
    except ValueError as exc:
        raise ContractError(f"{source}: deliver_by: {exc}") from exc
    return Contract(
        feed=feed,
        department=str(data.get("department", "")),
        description=str(data.get("description", "")).strip(),
        delivery=str(data.get("delivery", "file")),
        format=str(data["format"]),
        encoding=encoding,
        load_mode=str(data["load_mode"]),
        columns=columns,
        primary_key=primary_key,
        freshness_hours=int(data.get("freshness_hours", 36)),
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
