"""Load one feed's files for one day into staging, quarantining what breaks the contract.

One transaction per (feed, day) under an advisory lock: the day's staging partition
(truncated, then filled by COPY), quarantine rows and ledger entries are replaced
together, so a rerun or a killed load never leaves a half-loaded day; readers of the
day wait for the load to commit. A day whose files were all loaded before (same names,
same sha256) is left untouched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import queue
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from grassroots.bootstrap import create_day_partition
from grassroots.contracts import Contract
from grassroots.fastpath import LOADER_COLUMNS, Block, FastPath, copy_columns
from grassroots.identity import person_key
from grassroots.kernels import COPY_SIGNATURE, COPY_TRAILER
from grassroots.readers import (
    FileRejected,
    Record,
    check_terminated,
    csv_record,
    decode_chunk,
    read_csv_chunks,
    read_file,
    text_lines,
)
from grassroots.validate import PARSERS, FieldError

log = logging.getLogger(__name__)
LOCK_CLASS = 36901
SAMPLE_ERRORS = 20
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


def count_data_lines(path: Path, has_header: bool) -> int:
    """Non-blank lines of a file, less the header: what a rejected file counted as received."""
    lines = 0
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                lines += 1
    return max(lines - (1 if has_header else 0), 0)


def _lock_id(feed: str, ds: dt.date) -> int:
    value = zlib.crc32(f"{feed}|{ds.isoformat()}".encode())
    return value - (1 << 32) if value >= 1 << 31 else value


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

    def check_header(self, header: list[str], file_name: str) -> None:
        """Every header must map to a contract column, once; required columns must be present."""
        seen: set[str] = set()
        for position, name in enumerate(header, start=1):
            column = self.header_map.get(name)
            if column is None:
                raise FileRejected("unknown_column", 1, f"header {position} {name[:40]!r} is not in the contract")
            if column in seen:
                raise FileRejected("duplicate_column", 1, f"header {position} maps to {column} twice")
            seen.add(column)
        missing = [c.name for c in self.columns if c.required and c.name not in seen]
        if missing:
            raise FileRejected("missing_column", 1, f"required columns missing: {', '.join(missing)}")

    def parse(self, record: Record) -> tuple[tuple | None, str | None, str | None]:
        """(row values, None, None) or (None, column, rule)."""
        if record.fields is None:
            return None, None, record.error
        values: dict[str, str] = {}
        for header, text in record.fields.items():
            column = self.header_map.get(header.strip())
            if column is None:
                return None, header[:63], "unknown_column"
            values[column] = text
        row: list[object] = []
        for column in self.columns:
            text = values.get(column.name, "").strip()
            if not text:
                if column.required:
                    return None, column.name, "required"
                row.append(None)
                continue
            try:
                value = PARSERS[column.type](text)
            except FieldError as exc:
                return None, column.name, exc.rule
            if column.accepted and value not in column.accepted:
                return None, column.name, "accepted_values"
            row.append(value)
        keys = [person_key(self.secret, row[i]) if row[i] is not None else None for i, _ in self.key_index]
        return (*row, *keys), None, None


def _day_files(files: list[Path]) -> list[tuple[Path, str]]:
    """(file, sha256) in delivery order: modification time, then name; a later copy is the duplicate."""
    ordered = sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [(path, sha256_of(path)) for path in ordered]


def _already_loaded(
    conn: psycopg.Connection, feed: str, ds: dt.date, files: list[tuple[Path, str]], key_version: int
) -> bool:
    """The same files (names and sha256) were loaded for the day under the same person-key version."""
    rows = conn.execute(
        "select file_name, sha256 from meta.load_batch "
        "where feed = %s and ds = %s and status <> 'superseded' and key_version = %s order by file_name",
        (feed, ds, key_version),
    ).fetchall()
    return bool(rows) and sorted(rows) == sorted((p.name, sha) for p, sha in files)


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
) -> DayResult:
    """Load a feed's files for one day (see module docstring); `fastpath=False` parses every row in Python."""
    feed = contract.feed
    day_files = _day_files(files)
    with psycopg.connect(dsn) as conn:
        conn.execute("select pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, _lock_id(feed, ds)))
        if not force and _already_loaded(conn, feed, ds, day_files, key_version):
            log.info("feed %s day %s: %d file(s) already loaded, nothing to do", feed, ds, len(day_files))
            conn.rollback()
            return DayResult(feed, ds, [], unchanged=True)
        loaded_at = conn.execute("select now()").fetchone()[0]
        _clear_day(conn, contract, ds)
        seen: dict[str, str] = dict(
            conn.execute(
                "select sha256, file_name from meta.load_batch where feed = %s and status = 'loaded' and ds <> %s",
                (feed, ds),
            ).fetchall()
        )
        results = []
        loader = _FileLoader(contract, secret, ds, fastpath)
        for path, sha in day_files:
            results.append(_load_file(conn, loader, path, sha, seen, loaded_at, key_version))
            if results[-1].status == "loaded":
                seen.setdefault(sha, path.name)
        conn.commit()
    day = DayResult(feed, ds, results)
    log.info("feed %s day %s loaded: %s", feed, ds, day.summary())
    return day


def _clear_day(conn: psycopg.Connection, contract: Contract, ds: dt.date) -> None:
    """Empty the day's staging partition (if the day was loaded before), quarantine and ledger."""
    feed, partition = contract.feed, contract.day_partition(ds)
    if conn.execute("select to_regclass(format('%%I.%%I', 'staging', %s::text))", (partition,)).fetchone()[0]:
        conn.execute(sql.SQL("truncate {}").format(sql.Identifier("staging", partition)))
    conn.execute("delete from quarantine.rows where feed = %s and ds = %s", (feed, ds))
    conn.execute("delete from quarantine.files where feed = %s and ds = %s", (feed, ds))
    conn.execute(
        "update meta.load_batch set status = 'superseded' where feed = %s and ds = %s and status <> 'superseded'",
        (feed, ds),
    )


def _new_batch(
    conn: psycopg.Connection, feed: str, ds: dt.date, path: Path, sha: str, loaded_at: dt.datetime, key_version: int
) -> int:
    return conn.execute(
        "insert into meta.load_batch (feed, ds, file_name, sha256, bytes, rows_received, rows_loaded, "
        "rows_quarantined, status, loaded_at, key_version) values (%s, %s, %s, %s, %s, 0, 0, 0, 'loaded', %s, %s) "
        "returning batch_id",
        (feed, ds, path.name, sha, path.stat().st_size, loaded_at, key_version),
    ).fetchone()[0]


def _finish_batch(conn: psycopg.Connection, batch_id: int, result: FileResult) -> None:
    conn.execute(
        "update meta.load_batch set rows_received = %s, rows_loaded = %s, rows_quarantined = %s, "
        "status = %s, rule = %s where batch_id = %s",
        (result.rows_received, result.rows_loaded, result.rows_quarantined, result.status, result.rule, batch_id),
    )


def _reject_file(
    conn: psycopg.Connection, loader: _FileLoader, batch_id: int, path: Path, sha: str, error: FileRejected
) -> FileResult:
    contract = loader.contract
    has_header = contract.format in ("csv", "xlsx")
    received = count_data_lines(path, has_header) if contract.format != "xlsx" else 0
    status = "duplicate" if error.rule == "duplicate_delivery" else "rejected"
    result = FileResult(path.name, sha, status, received, 0, received, error.rule, Counter({error.rule: received}))
    conn.execute(
        "insert into quarantine.files (feed, ds, batch_id, file_name, sha256, line_no, rule, detail) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s)",
        (contract.feed, loader.ds, batch_id, path.name, sha, error.line, error.rule, error.detail),
    )
    log.warning(
        "feed %s file %s line %d: rule %s: %s; file quarantined (%d rows)",
        contract.feed, path.name, error.line, error.rule, error.detail, received,
    )  # fmt: skip
    return result


def _load_file(
    conn: psycopg.Connection,
    loader: _FileLoader,
    path: Path,
    sha: str,
    seen: dict[str, str],
    loaded_at: dt.datetime,
    key_version: int,
) -> FileResult:
    contract = loader.contract
    batch_id = _new_batch(conn, contract.feed, loader.ds, path, sha, loaded_at, key_version)
    if sha in seen:
        error = FileRejected("duplicate_delivery", 0, f"same content (sha256) as already loaded file {seen[sha]}")
        result = _reject_file(conn, loader, batch_id, path, sha, error)
        _finish_batch(conn, batch_id, result)
        return result
    try:
        with conn.transaction():  # savepoint: a file rejected half-way leaves nothing behind
            result = _copy_file(conn, loader, batch_id, path, sha)
    except FileRejected as error:
        result = _reject_file(conn, loader, batch_id, path, sha, error)
    _finish_batch(conn, batch_id, result)
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
class _Target:
    """Where one file's rows go: the COPY stream, its ledger result, the rejects, the loader columns."""

    out: psycopg.Copy  # binary COPY: rows from the row parser, ready blocks from the fast path
    result: FileResult
    rejects: list[tuple]
    meta: tuple  # (_ds, _batch_id, file name); staging gets _ds and _batch_id, _loaded_at is its default now()
    order: Callable[[tuple], tuple]  # a parsed row (contract columns, keys) in the COPY's column order
    parsed_rows: int = 0  # rows the row parser wrote (with psycopg's write_row)


def _copy_sql(table: sql.Composable, columns: list[str]) -> sql.Composed:
    """COPY in binary format: the server reads values as they are, with no text to parse."""
    return sql.SQL("copy {} ({}) from stdin (format binary)").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def _copy_types(contract: Contract, columns: list[str]) -> list[str]:
    """The PostgreSQL type names of `columns` for binary COPY (the row parser's rows are dumped to them)."""
    declared = {name: pg_type.split()[0].split("(")[0] for name, pg_type in contract.staging_columns()}
    return [declared[name] for name in columns]


def _reorder(contract: Contract, columns: list[str]) -> Callable[[tuple], tuple]:
    """Maps the row parser's value order (contract columns, then keys) to `columns` less the loader columns."""
    parsed = [c.name for c in contract.columns] + [key for _, key in contract.key_columns]
    positions = [parsed.index(name) for name in columns[: -len(LOADER_COLUMNS)]]
    if positions == list(range(len(parsed))):
        return lambda row: row
    return itemgetter(*positions)


def _copy_file(conn: psycopg.Connection, loader: _FileLoader, batch_id: int, path: Path, sha: str) -> FileResult:
    contract = loader.contract
    result = FileResult(path.name, sha, "loaded")
    rejects: list[tuple] = []
    if contract.format == "csv":
        header, chunks = read_csv_chunks(path, contract.encoding)
        records = None
    else:
        header, records = read_file(path, contract.format, contract.encoding)
    if header is not None:
        loader.check_header(header, path.name)
    fast = None
    if contract.format == "csv" and loader.fastpath:  # else every row takes the row parser
        fast = FastPath(contract, [loader.header_map[h] for h in header], loader.secret, loader.ds, batch_id)
        columns = fast.copy_columns
    else:
        columns = copy_columns(contract, contract.column_names)
    partition = create_day_partition(conn, contract, loader.ds)  # COPY straight into it: no routing per row
    with conn.cursor() as cur, cur.copy(_copy_sql(partition, columns), writer=_QueuedWriter(cur)) as copy:
        copy.set_types(_copy_types(contract, columns))
        copy.write(COPY_SIGNATURE)
        target = _Target(copy, result, rejects, (loader.ds, batch_id, path.name), _reorder(contract, columns))
        if records is None:
            _copy_csv(loader, header, chunks, fast, target)
        else:
            _copy_records(loader, records, target)
        if not target.parsed_rows:  # psycopg ends the stream itself once rows were written with write_row
            copy.write(COPY_TRAILER)
    if contract.format in ("csv", "xlsx") and result.rows_received == 0 and contract.load_mode == "snapshot":
        raise FileRejected("empty_file", 1, "a snapshot with a header and no rows")
    _write_rejects(conn, loader, batch_id, path.name, rejects, result)
    return result


def _copy_csv(
    loader: _FileLoader, header: list[str], chunks: Iterator[tuple[int, bytes]], fast: FastPath | None, target: _Target
) -> None:
    """CSV in chunks of raw lines: canonical rows through the fast path, every other line through the row parser.

    Chunks are decoded and validated by two threads (the compiled decoder and HMAC and Arrow's
    kernels run without the GIL) and written in file order, so errors surface in file order too.
    """
    encoding = loader.contract.encoding
    if fast is None:
        for first, data in chunks:
            check_terminated(first, data, encoding)
            lines = text_lines(decode_chunk(data, encoding, first))[0]
            _copy_slow(loader, header, list(enumerate(lines, start=first)), target)
        return
    with ThreadPoolExecutor(max_workers=FAST_THREADS, thread_name_prefix="fastpath") as pool:
        pending: deque[Future[Block]] = deque()
        for first, data in chunks:
            pending.append(pool.submit(fast.process_bytes, data, first, encoding))
            if len(pending) > FAST_THREADS:
                _copy_block(loader, header, pending.popleft().result(), target)
        while pending:
            _copy_block(loader, header, pending.popleft().result(), target)


def _copy_block(loader: _FileLoader, header: list[str], block: Block, target: _Target) -> None:
    if block.data:
        target.out.write(block.data)
    target.result.rows_received += block.rows
    target.result.rows_loaded += block.rows
    _copy_slow(loader, header, block.slow, target)


def _copy_slow(loader: _FileLoader, header: list[str], lines: list[tuple[int, str]], target: _Target) -> None:
    records = (record for line_no, line in lines if (record := csv_record(line_no, line, header)) is not None)
    _copy_records(loader, records, target)


def _copy_records(loader: _FileLoader, records: Iterator[Record], target: _Target) -> None:
    """Row parser: validate each record, write it to COPY or set it aside for quarantine."""
    ds, batch_id, _ = target.meta
    for record in records:
        target.result.rows_received += 1
        row, column, rule = loader.parse(record)
        if row is None:
            target.rejects.append((record.line_no, column, rule, record.raw))
            continue
        target.out.write_row((*target.order(row), ds, batch_id, record.line_no))
        target.result.rows_loaded += 1
        target.parsed_rows += 1


def _write_rejects(
    conn: psycopg.Connection,
    loader: _FileLoader,
    batch_id: int,
    file_name: str,
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
            copy.write_row((contract.feed, loader.ds, batch_id, file_name, line_no, column, rule, raw))
            result.rules[rule] += 1
    result.rows_quarantined = len(rejects)
    for line_no, column, rule, _ in rejects[:SAMPLE_ERRORS]:
        log.warning(
            "feed %s file %s line %d column %s: rule %s; row quarantined",
            contract.feed,
            file_name,
            line_no,
            column,
            rule,
        )
    if len(rejects) > SAMPLE_ERRORS:
        log.warning("feed %s file %s: %d more rows quarantined", contract.feed, file_name, len(rejects) - SAMPLE_ERRORS)
