"""Load one feed's files for one day into staging, quarantining what breaks the contract.

One transaction per (feed, day) under an advisory lock: the day's staging partition
(emptied, then filled by COPY) and its ledger entries (the earlier ones superseded) are
replaced together, so a rerun or a killed load never leaves a half-loaded day; readers of the
day wait for the load to commit. A day whose files were all loaded before (same names,
same sha256) is left untouched.

Within a day, a file with the same bytes as an earlier file of the day is a
`duplicate_delivery`, and a record whose primary key (the contract's `primary_key`, compared
on the loaded values) was already loaded from an earlier file or line of the day is
quarantined as `duplicate_row`: the first record of each key is kept, in delivery order
then line order. The ledger row of every batch lists the contract columns its file carried
(`columns_present`). A day with no file, or whose load failed, gets a ledger row of its own
(`record_outcome`): the latest rows of a (feed, day) that are not `superseded` tell what
happened to it: loaded, rejected, duplicate, missing or failed.

The loader only inserts (rows, quarantine, ledger); superseding, finishing a batch, creating
or emptying a partition and dropping repeated rows go through load_owner's narrow functions
(grassroots.loading.owner_functions), so a loader login cannot rewrite another load's evidence.
A batch's quarantine rows and file are written only by the load that writes its ledger row: the
end-of-run summary (grassroots.local.summary) reuses their checksum while that row is unchanged.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import queue
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from grassroots.loading import owner_functions
from grassroots.loading.column_types import TYPES
from grassroots.loading.columnar import LOADER_COLUMNS, Block, FastPath, copy_columns, key_hashes, key_text
from grassroots.loading.contracts import Contract
from grassroots.loading.identity import person_key
from grassroots.loading.parsers import FieldError, check_field, loadable, parse_id_number
from grassroots.loading.readers import (
    UNCOUNTED_RULES,
    CsvChunk,
    FileRejected,
    Record,
    check_terminated,
    count_records,
    csv_record,
    db_text,
    decode_chunk,
    opened_delivery,
    printable,
    raw_text,
    read_csv_chunks,
    read_file,
    span_records,
)
from grassroots.warehouse import locks

log = logging.getLogger(__name__)
SAMPLE_ERRORS = 20
DUPLICATE_ROW = "duplicate_row"
FAST_THREADS = 2  # blocks in flight: memory stays a few blocks whatever the file size


@dataclass
class FileResult:
    """What happened to one delivered file."""

    file_name: str
    sha256: str
    status: str  # loaded | rejected | duplicate
    rows_received: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rule: str | None = None
    rules: Counter = field(default_factory=Counter)
    batch_id: int = 0
    columns_present: list[str] | None = None  # contract columns the file carried


@dataclass
class DayResult:
    """What happened to one feed's day: per-file results, or unchanged."""

    feed: str
    ds: dt.date
    files: list[FileResult]
    unchanged: bool = False

    @property
    def rows_received(self) -> int:
        return sum(f.rows_received for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def summary(self) -> dict[str, object]:
        """Counts only (no personal data): safe for logs and XCom."""
        return {
            "feed": self.feed,
            "ds": self.ds.isoformat(),
            "unchanged": self.unchanged,
            "files": len(self.files),
            "rows_received": self.rows_received,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "rules": dict(sum((f.rules for f in self.files), Counter())),
        }


def sha256_of(path: Path) -> str:
    """Streamed sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_key(name: str) -> str | None:
    """An unknown JSON key as quarantine.rows.column_name may show it (auditors see it in
    audit.quarantine_reason): an identifier-like ASCII name, else nothing."""
    return name if _IDENTIFIER.fullmatch(name) else None


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class _FileLoader:
    """Validates one file's records and streams the good ones into COPY."""

    def __init__(self, contract: Contract, secret: bytes, ds: dt.date, fastpath: bool = True) -> None:
        self.contract = contract
        self.fastpath = fastpath
        self.secret = secret
        self.ds = ds
        self.header_map = contract.header_map()
        self.columns = contract.columns
        self.key_index = [(i, c.key_column) for i, c in enumerate(self.columns) if c.key_column]
        self.max_chars = contract.limits.max_field_chars
        self.parsers = [
            functools.partial(parse_id_number, latest_birth=ds) if c.type == "id_number" else TYPES[c.type].parse
            for c in self.columns
        ]
        names = contract.column_names
        self.primary_key = [names.index(name) for name in contract.primary_key]
        self.raw_holds_fields = contract.format in ("csv", "xlsx")

    def check_header(self, header: list[str]) -> list[str]:
        """The contract columns of a header, in the contract's order. Every header must map to a
        contract column, once; required columns must be present. Rejections name positions and
        contract columns, never the header's text (a file without its header has data there)."""
        mapped = {self.header_map[h] for h in header if h in self.header_map}
        present = [c.name for c in self.columns if c.name in mapped]
        try:
            self._check_header(header, mapped)
        except FileRejected as error:
            error.columns_present = present  # the ledger keeps them for a rejected file too
            raise
        return present

    def _check_header(self, header: list[str], mapped: set[str]) -> None:
        if not mapped:
            raise FileRejected("missing_header", 1, "the first line names no contract column")
        seen: set[str] = set()
        for position, name in enumerate(header, start=1):
            column = self.header_map.get(name)
            if column is None:
                absent = ", ".join(c.name for c in self.columns if c.name not in mapped) or "none"
                detail = f"header {position} is not in the contract (contract columns not in the header: {absent})"
                raise FileRejected("unknown_column", 1, detail)
            if column in seen:
                raise FileRejected("duplicate_column", 1, f"header {position} maps to {column} twice")
            seen.add(column)
        missing = [c.name for c in self.columns if c.required and c.name not in seen]
        if missing:
            raise FileRejected("missing_column", 1, f"required columns missing: {', '.join(missing)}")

    def _fields(self, record: Record) -> tuple[dict[str, str] | None, str | None, str | None]:
        """The record's values by contract column, or (None, column, rule)."""
        values: dict[str, str] = {}
        for header, text in record.fields.items():
            column = self.header_map.get(header.strip())
            if column is None:
                return None, _safe_key(header), "unknown_column"
            if column in values:
                return None, column, "duplicate_column"
            values[column] = text
        return values, None, None

    def parse(self, record: Record) -> tuple[tuple | None, str | None, str | None]:
        """(row values, None, None) or (None, column, rule)."""
        if record.fields is None or record.error:
            return None, None, record.error
        values, column, rule = self._fields(record)
        if values is None:
            return None, column, rule
        # A CSV line or xlsx row holds its fields' text as it is (JSON may escape a NUL): when the
        # whole record passes check_field, each field does.
        checked = self.raw_holds_fields and loadable(record.raw, self.max_chars)
        row: list[object] = []
        for column, parser in zip(self.columns, self.parsers, strict=True):
            text = values.get(column.name, "")
            try:
                if not checked:
                    check_field(text, self.max_chars)
                text = text.strip()
                if not text:
                    if column.required:
                        return None, column.name, "required"
                    row.append(None)
                    continue
                value = parser(text)
            except FieldError as exc:
                return None, column.name, exc.rule
            if column.accepted and value not in column.accepted:
                return None, column.name, "accepted_values"
            row.append(value)
        keys = [person_key(self.secret, row[i]) if row[i] is not None else None for i, _ in self.key_index]
        return (*row, *keys), None, None

    def key_of(self, row: tuple) -> str:
        """The row's primary key (fastpath.key_text)."""
        return key_text([row[i] for i in self.primary_key])


def _day_files(files: list[Path]) -> list[tuple[Path, str]]:
    """(file, sha256) in delivery order: modification time, then name; a later copy is the duplicate."""
    ordered = sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [(path, sha256_of(path)) for path in ordered]


def _already_loaded(
    conn: psycopg.Connection, feed: str, ds: dt.date, files: list[tuple[Path, str]], key_version: int
) -> bool:
    """The same files (names and sha256) were loaded for the day under the same person-key version,
    and that load is the day's latest outcome (no missing or failed row since)."""
    rows = conn.execute(
        "select coalesce(file_name, ''), coalesce(sha256, ''), status, key_version from meta.load_batch "
        "where feed = %s and ds = %s and status <> 'superseded'",
        (feed, ds),
    ).fetchall()
    if not rows or any(status in ("missing", "failed") or version != key_version for _, _, status, version in rows):
        return False
    return sorted((name, sha) for name, sha, _, _ in rows) == sorted((db_text(p.name), sha) for p, sha in files)


def load_day(
    dsn: str,
    contract: Contract,
    ds: dt.date,
    files: list[Path],
    secret: bytes,
    *,
    force: bool = False,
    fastpath: bool = True,
    key_version: int = 1,
    rejections: dict[str, FileRejected] | None = None,
) -> DayResult:
    """Load a feed's files for one day (see module docstring); `fastpath=False` parses every row in Python.

    `rejections`: files known to be unusable before they are read (by name), e.g. an API
    capture whose pull stopped at a broken page; they are recorded as rejected with that rule.
    """
    feed = contract.feed
    rejections = rejections or {}
    day_files = _day_files(files)
    with psycopg.connect(dsn) as conn:
        locks.xact(conn, locks.feed_day(feed, ds.isoformat()))
        if not force and not rejections and _already_loaded(conn, feed, ds, day_files, key_version):
            log.info("feed %s day %s: %d file(s) already loaded, nothing to do", feed, ds, len(day_files))
            conn.rollback()
            return DayResult(feed, ds, [], unchanged=True)
        locks.xact(conn, locks.WAREHOUSE, shared=True)  # staging does not change under a running build
        loaded_at = conn.execute("select now()").fetchone()[0]
        _clear_day(conn, contract, ds)
        seen: dict[str, str] = {}  # sha256 → file name, this day only: the same bytes on another day are new
        day_keys = _DayKeys()
        results = []
        loader = _FileLoader(contract, secret, ds, fastpath)
        for path, sha in day_files:
            batch = _Batch(path, sha, _new_batch(conn, feed, ds, path, sha, loaded_at, key_version))
            result = _load_file(conn, loader, batch, seen, rejections.get(path.name), day_keys)
            results.append(result)
            if result.status == "loaded":
                seen.setdefault(sha, path.name)
        _quarantine_duplicates(conn, contract, ds, day_keys, results)
        conn.commit()
    day = DayResult(feed, ds, results)
    log.info("feed %s day %s loaded: %s", feed, ds, day.summary())
    return day


def _clear_day(conn: psycopg.Connection, contract: Contract, ds: dt.date) -> None:
    """Empty the day's staging partition (if the day was loaded before) and supersede its ledger rows.

    The loader cannot do either itself: load_owner's function does (grassroots.loading.owner_functions). The
    superseded batches' quarantine rows and files stay as evidence."""
    owner_functions.replace_day(conn, contract.feed, ds)


OUTCOMES = ("missing", "failed")


def record_outcome(dsn: str, contract: Contract, ds: dt.date, status: str, rule: str, reason: str) -> None:
    """Record a feed-day that loaded nothing: `missing` (no file delivered) or `failed` (the load
    raised; its transaction was rolled back). Like a reload, it replaces the day: staging
    partition emptied, earlier ledger rows superseded (their quarantine rows stay, as evidence), so the day's latest
    ledger row tells its outcome. `reason` must hold no field value (feed, file, rule, class).
    The row has no file: `file_name` and `sha256` are null, counts 0."""
    if status not in OUTCOMES:
        raise ValueError(f"status must be one of {OUTCOMES}")
    with psycopg.connect(dsn) as conn:
        locks.xact(conn, locks.feed_day(contract.feed, ds.isoformat()))
        locks.xact(conn, locks.WAREHOUSE, shared=True)
        _clear_day(conn, contract, ds)
        conn.execute(
            "insert into meta.load_batch (feed, ds, file_name, sha256, bytes, rows_received, rows_loaded, "
            "rows_quarantined, status, rule, reason, loaded_at) "
            "values (%s, %s, null, null, 0, 0, 0, 0, %s, %s, %s, now())",
            (contract.feed, ds, status, rule, reason),
        )
        conn.commit()
    log.warning("feed %s day %s: %s (%s)", contract.feed, ds, status, printable(reason))


@dataclass
class _Batch:
    """One delivered file and its ledger row."""

    path: Path
    sha: str
    batch_id: int

    @property
    def name(self) -> str:
        return db_text(self.path.name)


def _new_batch(
    conn: psycopg.Connection, feed: str, ds: dt.date, path: Path, sha: str, loaded_at: dt.datetime, key_version: int
) -> int:
    return conn.execute(
        "insert into meta.load_batch (feed, ds, file_name, sha256, bytes, rows_received, rows_loaded, "
        "rows_quarantined, status, loaded_at, key_version) values (%s, %s, %s, %s, %s, 0, 0, 0, 'loaded', %s, %s) "
        "returning batch_id",
        (feed, ds, db_text(path.name), sha, path.stat().st_size, loaded_at, key_version),
    ).fetchone()[0]


def _finish_batch(conn: psycopg.Connection, batch_id: int, result: FileResult) -> None:
    counts = (result.rows_received, result.rows_loaded, result.rows_quarantined)
    owner_functions.finish_batch(conn, batch_id, counts, result.status, result.rule, result.columns_present)


def _reject_file(
    conn: psycopg.Connection, loader: _FileLoader, batch: _Batch, readable: Path | None, error: FileRejected
) -> FileResult:
    """Quarantine a whole file; its records (counted by the format's rules unless it could not be read) with it."""
    contract = loader.contract
    received = 0
    if readable is not None and error.rule not in UNCOUNTED_RULES:
        try:
            received = count_records(readable, contract.format, contract.encoding, contract.limits)
        except FileRejected:  # a line too long to count records by
            received = 0
    status = "duplicate" if error.rule == "duplicate_delivery" else "rejected"
    result = FileResult(batch.name, batch.sha, status, received, 0, received, error.rule)
    result.rules[error.rule] = received
    result.batch_id = batch.batch_id
    result.columns_present = error.columns_present
    conn.execute(
        "insert into quarantine.files (feed, ds, batch_id, file_name, sha256, line_no, rule, detail) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s)",
        (contract.feed, loader.ds, batch.batch_id, batch.name, batch.sha, error.line, error.rule, error.detail),
    )
    log.warning(
        "feed %s file %s line %d: rule %s: %s; file quarantined (%d rows)",
        contract.feed,
        printable(batch.path.name),
        error.line,
        error.rule,
        error.detail,
        received,
    )
    return result


def _load_file(
    conn: psycopg.Connection,
    loader: _FileLoader,
    batch: _Batch,
    seen: dict[str, str],
    rejection: FileRejected | None,
    day_keys: _DayKeys,
) -> FileResult:
    contract = loader.contract
    try:
        with opened_delivery(batch.path, contract.format, contract.limits) as readable:
            try:
                if rejection is not None:
                    raise rejection
                if batch.sha in seen:
                    earlier = db_text(seen[batch.sha])
                    raise FileRejected("duplicate_delivery", 0, f"same bytes (sha256) as {earlier}, the same day")
                with conn.transaction():  # savepoint: a file rejected half-way leaves nothing behind
                    result, keys = _copy_file(conn, loader, batch, readable)
                day_keys.add(batch, keys)
            except FileRejected as error:
                result = _reject_file(conn, loader, batch, readable, error)
    except FileRejected as error:  # the delivery could not be opened: too large, a bomb, an unsupported archive
        result = _reject_file(conn, loader, batch, None, error)
    _finish_batch(conn, batch.batch_id, result)
    return result


class _QueuedWriter(QueuedLibpqWriter):
    """Sends COPY data from its own thread, so the server parses one block while Python validates the next.

    psycopg queues up to 1,024 buffers of at most 128 KiB; 32 (4 MiB) keep memory small and
    are enough to keep the server busy.
    """

    def __init__(self, cursor: psycopg.Cursor) -> None:
        super().__init__(cursor)
        self._queue = queue.Queue(maxsize=32)


@dataclass
class _FileKeys:
    """The primary keys of the rows one file wrote, their hashes (fastpath.key_hashes) and line numbers."""

    arrays: list[pa.Array] = field(default_factory=list)
    hashes: list[np.ndarray] = field(default_factory=list)
    lines: list[np.ndarray] = field(default_factory=list)
    slow_keys: list[str] = field(default_factory=list)
    slow_lines: list[int] = field(default_factory=list)

    def add_block(self, block: Block) -> None:
        if block.keys is not None and len(block.keys):
            self.arrays.append(block.keys)
            self.hashes.append(block.key_hashes)
            self.lines.append(block.key_lines)

    def collected(self) -> tuple[list[pa.Array], np.ndarray, np.ndarray]:
        """(key arrays, hashes, line numbers), the row parser's rows last."""
        arrays, hashes = list(self.arrays), list(self.hashes)
        if self.slow_keys:
            slow = pa.array(self.slow_keys, pa.string())
            arrays.append(slow)
            hashes.append(key_hashes(slow))
        lines = [*self.lines, np.array(self.slow_lines, np.int64)]
        return arrays, np.concatenate([*hashes, np.zeros(0, np.uint64)]), np.concatenate(lines).astype(np.int64)


@dataclass
class _DayKeys:
    """Primary keys of every row the day's loaded files wrote, file by file in delivery order."""

    files: list[tuple[_Batch, _FileKeys]] = field(default_factory=list)

    def add(self, batch: _Batch, keys: _FileKeys) -> None:
        self.files.append((batch, keys))

    def duplicates(self) -> list[tuple[int, int, int, int]]:
        """(batch id, line, batch id, line) of each later row whose key an earlier row of the day has,
        with the first row of that key (by delivery order, then line).

        The day's key hashes are sorted once (tens of milliseconds for a million rows); only rows
        whose hash repeats are compared by their key text.
        """
        parts = [keys.collected() for _, keys in self.files]
        hashes = np.concatenate([np.zeros(0, np.uint64), *(p[1] for p in parts)])
        ordered = np.sort(hashes)
        repeats = ordered[1:][ordered[1:] == ordered[:-1]]
        if not len(repeats):
            return []
        candidates = np.flatnonzero(np.isin(hashes, repeats))
        texts = pa.chunked_array([a.cast(pa.large_string()) for p in parts for a in p[0]], pa.large_string())
        lines = np.concatenate([p[2] for p in parts])
        order = np.concatenate([np.full(len(p[2]), n, np.int64) for n, p in enumerate(parts)])
        groups: dict[str, list[tuple[int, int]]] = {}
        for position, text in zip(candidates.tolist(), texts.take(candidates).to_pylist(), strict=True):
            groups.setdefault(text, []).append((int(order[position]), int(lines[position])))
        batches = [batch.batch_id for batch, _ in self.files]
        found = []
        for rows in groups.values():
            rows.sort()
            (kept_file, kept_line), *later = rows
            found += [(batches[f], line, batches[kept_file], kept_line) for f, line in later]
        return sorted(found)


def _quarantine_duplicates(
    conn: psycopg.Connection, contract: Contract, ds: dt.date, day_keys: _DayKeys, results: list[FileResult]
) -> None:
    """Move every later row of a primary key from the day's partition to quarantine as `duplicate_row`.

    raw_line names the row that was kept ("same primary key as <file> line <n>"): the staging
    row's values are not copied anywhere else.
    """
    duplicates = day_keys.duplicates()
    if not duplicates:
        return
    by_batch = {r.batch_id: r for r in results}
    owner_functions.drop_duplicate_rows(conn, contract.feed, ds, [d[0] for d in duplicates], [d[1] for d in duplicates])
    with (
        conn.cursor() as cur,
        cur.copy(
            "copy quarantine.rows (feed, ds, batch_id, file_name, line_no, column_name, rule, raw_line) from stdin"
        ) as copy,
    ):
        for batch_id, line, kept_batch, kept_line in duplicates:
            kept = f"same primary key as {by_batch[kept_batch].file_name} line {kept_line}"
            copy.write_row((contract.feed, ds, batch_id, by_batch[batch_id].file_name, line, None, DUPLICATE_ROW, kept))
    for batch_id, count in Counter(d[0] for d in duplicates).items():
        result = by_batch[batch_id]
        result.rows_loaded -= count
        result.rows_quarantined += count
        result.rules[DUPLICATE_ROW] += count
        _finish_batch(conn, batch_id, result)
    log.warning("feed %s day %s: %d rows quarantined as %s", contract.feed, ds, len(duplicates), DUPLICATE_ROW)


@dataclass
class _Target:
    """Where one file's rows go: the COPY stream, its ledger result, the rejects, the loader columns."""

    out: psycopg.Copy  # COPY in text format: the fast path's lines, the row parser's rows
    result: FileResult
    rejects: list[tuple]
    meta: tuple  # (_ds, _batch_id, file name); staging gets _ds and _batch_id, _loaded_at is its default now()
    order: Callable[[tuple], tuple]  # a parsed row (contract columns, keys) in the COPY's column order
    keys: _FileKeys
    columns: set[str]  # contract columns seen (JSON keys; a CSV or xlsx file's are its header's)


def _copy_sql(table: sql.Composable, columns: list[str]) -> sql.Composed:
    """COPY in text format: the fast path sends its blocks' lines as Arrow made them (columnar.copy_cells),
    psycopg's `write_row` the row parser's values (its text dumpers, for the staging types)."""
    return sql.SQL("copy {} ({}) from stdin (format text)").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def _reorder(contract: Contract, columns: list[str]) -> Callable[[tuple], tuple]:
    """Maps the row parser's value order (contract columns, then keys) to `columns` less the loader columns."""
    parsed = [c.name for c in contract.columns] + [key for _, key in contract.key_columns]
    positions = [parsed.index(name) for name in columns[: -len(LOADER_COLUMNS)]]
    if positions == list(range(len(parsed))):
        return lambda row: row
    return itemgetter(*positions)


def _copy_file(
    conn: psycopg.Connection, loader: _FileLoader, batch: _Batch, readable: Path
) -> tuple[FileResult, _FileKeys]:
    contract = loader.contract
    result = FileResult(batch.name, batch.sha, "loaded", batch_id=batch.batch_id)
    rejects: list[tuple] = []
    if contract.format == "csv":
        header, chunks = read_csv_chunks(readable, contract.encoding, contract.limits)
        records = None
    else:
        header, records = read_file(readable, contract.format, contract.encoding, contract.limits)
    present = set(loader.check_header(header)) if header is not None else set()
    fast = None
    if contract.format == "csv" and loader.fastpath:  # else every row takes the row parser
        fast = FastPath(contract, [loader.header_map[h] for h in header], loader.secret, loader.ds, batch.batch_id)
        columns = fast.copy_columns
    else:
        columns = copy_columns(contract, contract.column_names)
    # COPY straight into the day's partition: no routing per row (load_owner creates it, the loader inserts)
    partition = sql.Identifier("staging", owner_functions.day_partition(conn, contract.feed, loader.ds))
    keys = _FileKeys()
    with conn.cursor() as cur, cur.copy(_copy_sql(partition, columns), writer=_QueuedWriter(cur)) as copy:
        types = contract.copy_types()  # the row parser's values are dumped as these types' text
        copy.set_types([types[name] for name in columns])
        target = _Target(
            copy, result, rejects, (loader.ds, batch.batch_id, batch.name), _reorder(contract, columns), keys, present
        )
        if records is None:
            _copy_csv(loader, header, chunks, fast, target)
        else:
            _copy_records(loader, records, target)
    if contract.format in ("csv", "xlsx") and result.rows_received == 0 and contract.load_mode == "snapshot":
        raise FileRejected("empty_file", 1, "a snapshot with a header and no rows")
    result.columns_present = [c for c in contract.column_names if c in target.columns]
    _write_rejects(conn, loader, batch, rejects, result)
    return result, keys


def _copy_csv(
    loader: _FileLoader, header: list[str], chunks: Iterator[CsvChunk], fast: FastPath | None, target: _Target
) -> None:
    """CSV in chunks of whole records: canonical rows through the fast path, every other record through
    the row parser.

    Chunks are decoded and validated by two threads (Arrow's kernels, the codec and OpenSSL's HMAC
    run in C, Arrow's without the GIL) and written in file order, so errors surface in file order too.
    """
    encoding = loader.contract.encoding
    if fast is None:
        for chunk in chunks:
            check_terminated(chunk.first, chunk.data, encoding)
            text = decode_chunk(chunk.data, encoding, chunk.first)
            _copy_slow(loader, header, list(span_records(text, chunk.first, chunk.spans)), target)
        return
    with ThreadPoolExecutor(max_workers=FAST_THREADS, thread_name_prefix="fastpath") as pool:
        pending: deque[Future[Block]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(fast.process_bytes, chunk.data, chunk.first, encoding, chunk.spans))
            if len(pending) > FAST_THREADS:
                _copy_block(loader, header, pending.popleft().result(), target)
        while pending:
            _copy_block(loader, header, pending.popleft().result(), target)


def _copy_block(loader: _FileLoader, header: list[str], block: Block, target: _Target) -> None:
    if block.copy_text:
        target.out.write(block.copy_text)
    target.result.rows_received += block.rows
    target.result.rows_loaded += block.rows
    target.keys.add_block(block)
    _copy_slow(loader, header, block.slow, target)


def _copy_slow(loader: _FileLoader, header: list[str], records: list[tuple[int, str, bool]], target: _Target) -> None:
    parsed = (
        record for line_no, text, open_ in records if (record := csv_record(line_no, text, header, open_)) is not None
    )
    _copy_records(loader, parsed, target)


def _copy_records(loader: _FileLoader, records: Iterator[Record], target: _Target) -> None:
    """Row parser: validate each record, write it to COPY or set it aside for quarantine."""
    ds, batch_id, _ = target.meta
    header_map, columns = loader.header_map, target.columns
    keyed = loader.contract.format in ("jsonl", "api_json")  # a CSV or xlsx file's columns are its header's
    for record in records:
        target.result.rows_received += 1
        if keyed and record.fields is not None:
            columns.update(c for k in record.fields if (c := header_map.get(k.strip())) is not None)
        row, column, rule = loader.parse(record)
        if row is None:
            target.rejects.append((record.line_no, column, rule, record.raw))
            continue
        target.out.write_row((*target.order(row), ds, batch_id, record.line_no))
        target.keys.slow_keys.append(loader.key_of(row))
        target.keys.slow_lines.append(record.line_no)
        target.result.rows_loaded += 1


def _write_rejects(
    conn: psycopg.Connection,
    loader: _FileLoader,
    batch: _Batch,
    rejects: list[tuple],
    result: FileResult,
) -> None:
    contract = loader.contract
    with (
        conn.cursor() as cur,
        cur.copy(
            "copy quarantine.rows (feed, ds, batch_id, file_name, line_no, column_name, rule, raw_line) from stdin"
        ) as copy,
    ):
        for line_no, column, rule, raw in rejects:
            copy.write_row((contract.feed, loader.ds, batch.batch_id, batch.name, line_no, column, rule, raw_text(raw)))
            result.rules[rule] += 1
    result.rows_quarantined = len(rejects)
    shown = printable(batch.path.name)
    for line_no, column, rule, _ in rejects[:SAMPLE_ERRORS]:
        log.warning(
            "feed %s file %s line %d column %s: rule %s; row quarantined",
            contract.feed,
            shown,
            line_no,
            column if column in loader.header_map.values() else "-",
            rule,
        )
    if len(rejects) > SAMPLE_ERRORS:
        log.warning("feed %s file %s: %d more rows quarantined", contract.feed, shown, len(rejects) - SAMPLE_ERRORS)
