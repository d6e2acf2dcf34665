"""Stream department files (CSV, JSON lines, xlsx, compressed) as (line number, raw text, fields) records.

What a record is, per format (the ledger counts these):

- CSV: RFC 4180 as Python's `csv` module reads it, the file cut into lines at LF (CRLF
  too): a quoted field may hold line ends, so one record can span lines; a line on which
  the reader stops with an error is one record; blank lines are no records; the first
  record is the header.
- JSON lines: one record per non-blank line.
- xlsx: one record per row of the first sheet, after the first, with a cell in the
  header's columns (or the one after them).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import itertools
import json
import re
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grassroots.loading.contracts import Limits

CHUNK = 1 << 20
MAX_RAW_CHARS = 8192  # quarantine.rows.raw_line keeps at most this much of a record
# Whole-file rules that leave the file's records uncounted (received 0): the file was not read.
UNCOUNTED_RULES = frozenset(
    {"empty_file", "file_too_large", "compressed", "decompression_bomb", "record_too_long", "unreadable_file"}
)
_SURROGATES = re.compile("[\ud800-\udfff]")
MAX_HEADER_CELLS = 1024  # an xlsx header row wider than this is not a contract's header
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


class FileRejected(Exception):
    """The whole file is unusable: `rule` says why, `line` where it was noticed (0 = whole file).

    `detail` names positions, encodings and limits, never a value from the file.
    """

    def __init__(self, rule: str, line: int = 0, detail: str = "") -> None:
        super().__init__(f"{rule} at line {line}: {detail}" if detail else f"{rule} at line {line}")
        self.rule = rule
        self.line = line
        self.detail = detail
        self.columns_present: list[str] | None = None  # set when the header was read (loader)


@dataclass
class Record:
    """One data record: first physical line number (1-based, header is line 1 in CSV), raw text, fields."""

    line_no: int
    raw: str
    fields: dict[str, str] | None  # None: the record could not be split into fields
    error: str | None = None


def printable(text: str) -> str:
    """`text` safe for one log line: control characters, line separators and undecodable bytes escaped."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in text)


def db_text(text: str) -> str:
    """A name as PostgreSQL text can hold it: bytes of a file name that are not UTF-8 as \\xNN,
    other lone surrogates and NUL escaped."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "backslashreplace")
    return data.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def raw_text(text: str) -> str:
    """A record's text for quarantine.rows.raw_line: NUL (no database text holds it) and lone
    surrogates as U+FFFD, at most MAX_RAW_CHARS characters."""
    text = text[:MAX_RAW_CHARS]
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


# --- compressed deliveries -------------------------------------------------------------------


def compression_of(path: Path) -> str | None:
    """gzip / zip / bzip2 / xz / zstd when the file starts with that format's signature."""
    with path.open("rb") as fh:
        head = fh.read(6)
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def _copy_capped(source: object, target: Path, compressed: int, limits: Limits) -> None:
    """Copy a decompressing stream to `target`, stopping at the size and ratio caps."""
    cap = min(limits.max_expanded_bytes, max(compressed, 1) * limits.max_expansion_ratio)
    written = 0
    with target.open("wb") as out:
        while block := source.read(CHUNK):
            written += len(block)
            if written > cap:
                raise FileRejected(
                    "decompression_bomb",
                    0,
                    f"expands beyond {cap} bytes (limits: {limits.max_expanded_bytes} bytes, "
                    f"{limits.max_expansion_ratio}x the delivered size)",
                )
            out.write(block)


def _gunzip(path: Path, target: Path, limits: Limits) -> None:
    try:
        with gzip.open(path, "rb") as source:
            _copy_capped(source, target, path.stat().st_size, limits)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected("compressed", 0, "not a complete gzip stream") from exc


def _unzip(path: Path, target: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1 or members[0].flag_bits & 0x1:
                raise FileRejected("compressed", 0, "a zip delivery must hold exactly one unencrypted file")
            with archive.open(members[0]) as source:
                _copy_capped(source, target, path.stat().st_size, limits)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, ValueError) as exc:
        raise FileRejected("compressed", 0, "not a readable zip archive") from exc


@contextlib.contextmanager
def opened_delivery(path: Path, fmt: str, limits: Limits) -> Iterator[Path]:
    """The file to read for a delivery: itself, or its content decompressed into a temporary file.

    gzip and single-file zip deliveries (whatever their name) are decompressed up to
    `limits.max_expanded_bytes` and `limits.max_expansion_ratio` (beyond: `decompression_bomb`);
    bzip2, xz and zstd, nested compression and other archives are refused (`compressed`).
    An xlsx workbook is itself a zip: only a zip that is not a workbook is unpacked.
    """
    if path.stat().st_size > limits.max_file_bytes:
        raise FileRejected("file_too_large", 0, f"more than {limits.max_file_bytes} bytes")
    kind = compression_of(path)
    if kind is None or (kind == "zip" and fmt == "xlsx" and not _zipped_file(path)):
        yield path  # an xlsx (a zip itself; a broken one is the xlsx reader's unreadable_file)
        return
    if kind not in ("gzip", "zip"):
        raise FileRejected("compressed", 0, f"{kind} deliveries are not supported (gzip or zip only)")
    with tempfile.TemporaryDirectory(prefix="grassroots-unpack-") as folder:
        target = Path(folder) / f"content.{fmt}"  # openpyxl reads a workbook by its suffix
        (_gunzip if kind == "gzip" else _unzip)(path, target, limits)
        inner = compression_of(target)
        if inner is not None and not (inner == "zip" and fmt == "xlsx" and not _zipped_file(target)):
            raise FileRejected("compressed", 0, "a compressed file inside a compressed delivery")
        yield target


def _zipped_file(path: Path) -> bool:
    """A readable zip that is not an xlsx workbook (no [Content_Types].xml): a file zipped for delivery."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "[Content_Types].xml" not in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


# --- lines and chunks ------------------------------------------------------------------------


def raw_chunks(
    path: Path, chunk_size: int = CHUNK, max_line: int = Limits.max_record_bytes
) -> Iterator[tuple[int, bytes]]:
    """A file's bytes in chunks cut at line ends: (first line number, bytes of whole lines).

    Only the last chunk may lack its final line end. Cutting at b"\n" is safe for the
    supported encodings (contracts.ENCODINGS): no multi-byte character contains that byte.
    A line longer than `max_line` bytes rejects the file (`record_too_long`).
    """
    line_no = 0
    carry = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            data = carry + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            data, carry = data[:cut], data[cut:]
            if len(carry) > max_line:
                raise FileRejected("record_too_long", line_no + data.count(b"\n") + 1, f"a line over {max_line} bytes")
            if data:
                yield line_no + 1, data
                line_no += data.count(b"\n")
            if not chunk:
                return


def decode_chunk(data: bytes, encoding: str, first_line_no: int) -> str:
    """Whole lines from line `first_line_no` on, decoded (a byte order mark only counts at line 1);
    a byte sequence invalid in `encoding` rejects the file, naming its line."""
    try:
        return data.decode(encoding if first_line_no == 1 else _after_start(encoding))
    except UnicodeDecodeError as exc:
        bad_line = first_line_no + data[: exc.start].count(b"\n")
        raise FileRejected("encoding", bad_line, f"not valid {encoding}: {exc.reason}") from exc


def _after_start(encoding: str) -> str:
    """The codec for bytes after a file's start: utf-8-sig strips a BOM, which only the start may hold."""
    return "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding


def utf8_chunk(data: bytes, encoding: str, first_line_no: int) -> tuple[bytes, bool]:
    """Whole lines from after a file's start as UTF-8, and whether they are NFKC-normalised.

    Python's codec decodes (or names the error); UTF-8 is kept as it is once checked.
    """
    name = codecs.lookup(encoding).name
    text = decode_chunk(data, encoding, first_line_no)
    stable = unicodedata.is_normalized("NFKC", text)
    return (data if name in ("utf-8", "utf-8-sig") else text.encode("utf-8")), stable


def check_terminated(first_line_no: int, data: bytes, encoding: str) -> None:
    """A chunk whose last line has no line end is a cut file (its bytes are decoded first, so an
    encoding error in them is reported as such)."""
    if data.endswith(b"\n"):
        return
    decode_chunk(data, encoding, first_line_no)
    raise FileRejected("truncated_file", first_line_no + data.count(b"\n"), "last line has no line end")


def text_lines(text: str) -> tuple[list[str], bool]:
    """The lines of a text without their line ends (\n or \r\n), and whether the last one had one."""
    lines = text.split("\n")
    terminated = lines[-1] == ""
    if terminated:
        lines.pop()
    return [line.removesuffix("\r") for line in lines], terminated


# --- CSV records -----------------------------------------------------------------------------


# A CSV record over several lines: (first line index in its chunk, lines, quote open at end of file).
Span = tuple[int, int, bool]


@dataclass
class CsvChunk:
    """Whole CSV records from line `first` on: their bytes, and the records that span lines."""

    first: int
    data: bytes
    spans: list[Span]


class _Feed:
    """Lines of a chunk, decoded, from one index on, for csv.reader; notes whether it ran out."""

    def __init__(self, data: bytes, starts: np.ndarray, index: int, codec: str) -> None:
        self.data, self.starts, self.index, self.codec = data, starts, index, codec
        self.taken = 0
        self.exhausted = False

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        position = self.index + self.taken
        if position >= len(self.starts) - 1:
            self.exhausted = True
            raise StopIteration
        self.taken += 1
        return self.data[self.starts[position] : self.starts[position + 1]].decode(self.codec, "replace")


def _line_starts(data: bytes) -> np.ndarray:
    """Offsets where each line starts, then the end of the data: line i is [starts[i], starts[i + 1])."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    tail = [len(data)] if data and not data.endswith(b"\n") else []
    return np.concatenate(([0], ends, tail)).astype(np.int64)


def _spans(data: bytes, codec: str, first_codec: str | None, final: bool) -> tuple[list[Span], int | None]:
    """The records of a chunk that span lines, and the index of a line where an unfinished record
    starts (None when every record ends in the chunk, or at the end of the file when `final`).

    Only a line with a quote can start a record that spans lines, so csv.reader runs from
    each such line (outside a record found before) for one record; the lines it took are
    the record's. A chunk without quotes costs one byte search.
    """
    if b'"' not in data:
        return [], None
    starts = _line_starts(data)
    quotes = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 34)
    spans: list[Span] = []
    after = 0
    for index in np.unique(np.searchsorted(starts, quotes, side="right") - 1).tolist():
        if index < after:
            continue
        feed = _Feed(data, starts, index, first_codec if index == 0 and first_codec else codec)
        with contextlib.suppress(csv.Error):
            next(csv.reader(feed))
        if feed.exhausted and not final:
            return spans, index
        if feed.taken > 1 or feed.exhausted:
            spans.append((index, feed.taken, feed.exhausted))
        after = index + feed.taken
    return spans, None


def csv_chunks(path: Path, encoding: str, limits: Limits, chunk_size: int = CHUNK) -> Iterator[CsvChunk]:
    """A CSV file in chunks of whole records, cut at line ends.

    A record not finished at a chunk's end is carried into the next chunk, which is read at
    least as large as the carry (so a long record is scanned a few times, not once per
    chunk); a record or line over `limits.max_record_bytes` rejects the file. Only the last
    chunk may lack its final line end.
    """
    codec = _after_start(encoding)
    first, carry, want = 1, b"", chunk_size
    with path.open("rb") as fh:
        while True:
            block = fh.read(want)
            final = not block
            data = carry + block
            cut = len(data) if final else data.rfind(b"\n") + 1
            data, carry = data[:cut], data[cut:]
            spans, open_at = _spans(data, codec, encoding if first == 1 else None, final)
            if open_at is not None:
                offset = int(_line_starts(data)[open_at])
                data, carry = data[:offset], data[offset:] + carry
            if len(carry) > limits.max_record_bytes:
                line = first + data.count(b"\n")
                raise FileRejected("record_too_long", line, f"a record over {limits.max_record_bytes} bytes")
            want = max(chunk_size, len(carry))
            if data:
                yield CsvChunk(first, data, spans)
                first += data.count(b"\n")
            if final:
                return


def span_records(text: str, first_line_no: int, spans: list[Span]) -> Iterator[tuple[int, str, bool]]:
    """(first line number, record text without its final line end, open at end of file) of the
    records of a decoded chunk's text, blank lines included."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    by_start = {start: (count, open_) for start, count, open_ in spans}
    index = 0
    while index < len(lines):
        count, open_ = by_start.get(index, (1, False))
        yield first_line_no + index, "\n".join(lines[index : index + count]).removesuffix("\r"), open_
        index += count


def _record_lines(text: str) -> list[str]:
    """A record's text as csv.reader wants it: lines with their line ends."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + [parts[-1]]


def csv_record(line_no: int, text: str, header: list[str], open_: bool = False) -> Record | None:
    """One CSV record as a record (None for a blank line); a wrong field count, a quote still open
    at the end of the file or a line csv.reader cannot read is a record error."""
    if "\n" not in text and not text.strip():
        return None
    if open_:
        return Record(line_no, text, None, "unclosed_quote")
    try:
        values = next(csv.reader(_record_lines(text) if "\n" in text else (text,)))
    except csv.Error as exc:
        return Record(line_no, text, None, "field_too_long" if "field limit" in str(exc) else "csv_format")
    if len(values) != len(header):
        return Record(line_no, text, None, "field_count")
    return Record(line_no, text, dict(zip(header, values, strict=True)))


def read_csv_chunks(
    path: Path, encoding: str, limits: Limits | None = None, chunk_size: int = CHUNK
) -> tuple[list[str], Iterator[CsvChunk]]:
    """Header and the chunks of data records of a CSV file (`csv_chunks` after the header record).

    The caller checks each chunk with `check_terminated`: a last line without line end means
    the file was cut.
    """
    chunks = csv_chunks(path, encoding, limits or Limits(), chunk_size)
    head = next(chunks, None)
    if head is None:
        raise FileRejected("empty_file", 0, "no bytes")
    count = next((n for start, n, _ in head.spans if start == 0), 1)
    starts = _line_starts(head.data)
    if len(starts) - 1 < count or not head.data[: starts[count]].endswith(b"\n"):
        raise FileRejected("truncated_file", 1, "the header line has no line end")
    header_text = decode_chunk(head.data[: starts[count]], encoding, 1)
    try:
        header = [h.strip() for h in next(csv.reader(_record_lines(header_text.removesuffix("\n").removesuffix("\r"))))]
    except (csv.Error, StopIteration) as exc:
        raise FileRejected("header_format", 1, "the header is not a CSV record") from exc
    if header:
        header[0] = header[0].lstrip("\ufeff")
    rest = CsvChunk(count + 1, head.data[starts[count] :], [(s - count, n, o) for s, n, o in head.spans if s >= count])
    return header, itertools.chain([rest] if rest.data else [], chunks)


def _decoded_stream_lines(path: Path, encoding: str, max_line: int = Limits.max_record_bytes) -> Iterator[str]:
    """A file's lines (cut at LF, line ends kept), decoded with U+FFFD for bytes `encoding` rejects;
    a line over `max_line` bytes stops it (`record_too_long`: the file's records are not counted)."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    pending = ""
    with path.open("rb") as fh:
        while line := fh.readline(max_line + 1):
            if len(line) > max_line:
                raise FileRejected("record_too_long", 0, f"a line over {max_line} bytes")
            # The decoder may hold back bytes of a line's end (the start of a multibyte sequence that
            # turns out broken) and give them with the next line: one decode can hold two lines.
            pending += decoder.decode(line)
            *complete, pending = pending.split("\n")
            yield from (text + "\n" for text in complete)
    pending += decoder.decode(b"", final=True)
    *complete, pending = pending.split("\n")
    yield from (text + "\n" for text in complete)
    if pending:
        yield pending


class _Taken:
    """Lines handed to csv.reader, remembering those of the record being read."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.record: list[str] = []

    def __iter__(self) -> _Taken:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.record.append(line)
        return line


def count_csv_records(path: Path, encoding: str) -> int:
    """Data records of a CSV file (see the module docstring), read whole: what a rejected file received."""
    taken = _Taken(_decoded_stream_lines(path, encoding))
    reader = csv.reader(taken)
    count, records = 0, 0
    while True:
        taken.record = []
        try:
            next(reader)
        except StopIteration:
            return count
        except csv.Error:
            pass
        blank = len(taken.record) == 1 and not taken.record[0].strip()
        records += 1
        if records > 1 and not blank:
            count += 1


# --- JSON lines ------------------------------------------------------------------------------


def _decoded_lines(path: Path, encoding: str, limits: Limits) -> Iterator[tuple[int, str]]:
    """(line number, line with its line end; the last may lack one) of a decoded file."""
    for first, data in raw_chunks(path, CHUNK, limits.max_record_bytes):
        lines, terminated = text_lines_keep_cr(decode_chunk(data, encoding, first))
        for offset, line in enumerate(lines):
            last = offset == len(lines) - 1
            yield first + offset, line if (last and not terminated) else line + "\n"


def text_lines_keep_cr(text: str) -> tuple[list[str], bool]:
    """The lines of a text without their LF, and whether the last one had one."""
    lines = text.split("\n")
    terminated = lines[-1] == ""
    if terminated:
        lines.pop()
    return lines, terminated


def _json_fields(obj: dict) -> tuple[dict[str, str] | None, str | None]:
    fields: dict[str, str] = {}
    for key, value in obj.items():
        if isinstance(value, (dict, list)):
            return None, "json_type"
        fields[str(key)] = "" if value is None else str(value)
    return fields, None


def read_jsonl(path: Path, encoding: str, limits: Limits | None = None) -> tuple[None, Iterator[Record]]:
    """Records of a JSON-lines file: one per non-blank line; a line that is not a JSON object of
    scalars is a record error (`json_format`, `json_type`)."""
    limits = limits or Limits()
    if path.stat().st_size == 0:
        raise FileRejected("empty_file", 0, "no bytes")

    def records() -> Iterator[Record]:
        for line_no, line in _decoded_lines(path, encoding, limits):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):  # JSONDecodeError, too many digits, nesting too deep
                if not line.endswith("\n"):
                    raise FileRejected("truncated_file", line_no, "last line is cut JSON") from None
                yield Record(line_no, text, None, "json_format")
                continue
            if not isinstance(obj, dict):
                yield Record(line_no, text, None, "json_format")
                continue
            fields, error = _json_fields(obj)
            yield Record(line_no, text, fields, error)

    return None, records()


def count_jsonl_records(path: Path, encoding: str) -> int:
    """Non-blank lines of a JSON-lines file, read whole: what a rejected file received."""
    return sum(1 for line in _decoded_stream_lines(path, encoding) if line.strip())


# --- xlsx ------------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    """An xlsx cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_workbook(path: Path, limits: Limits) -> None:
    """An xlsx is a zip of XML parts: the parts' total size and ratio are capped before parsing."""
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRejected("unreadable_file", 0, "not a complete xlsx workbook") from exc
    cap = min(limits.max_expanded_bytes, max(path.stat().st_size, 1) * limits.max_expansion_ratio)
    if expanded > cap:
        raise FileRejected("decompression_bomb", 0, f"its parts expand to {expanded} bytes, over {cap}")


def _xlsx_rows(path: Path, limits: Limits) -> Iterator[tuple]:
    """Rows of the first sheet as value tuples; any failure of the workbook reader rejects the file.

    The sheet's declared dimensions are ignored (a forged one would pad every row) and rows
    are counted as they come, so a sheet cannot make the reader loop beyond `max_xlsx_rows`.
    """
    from openpyxl import load_workbook

    _check_workbook(path, limits)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 (openpyxl raises many kinds for a broken workbook)
        raise FileRejected("unreadable_file", 0, "not a readable xlsx workbook") from exc
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            raise FileRejected("empty_file", 0, "no rows")
        width = len(first)
        while width and first[width - 1] in (None, ""):
            width -= 1  # cells formatted beyond the last header name
        if width > MAX_HEADER_CELLS:
            raise FileRejected("header_format", 1, f"more than {MAX_HEADER_CELLS} header cells")
        yield first[:width]
        rows = sheet.iter_rows(min_row=2, max_col=max(width, 1) + 1, values_only=True)
        for number, row in enumerate(rows, start=2):
            if number > limits.max_xlsx_rows:
                raise FileRejected("row_limit", number, f"more than {limits.max_xlsx_rows} rows")
            yield row
    except FileRejected:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FileRejected("unreadable_file", 0, "not a readable xlsx workbook") from exc
    finally:
        workbook.close()


def _xlsx_records(rows: Iterator[tuple], header: list[str]) -> Iterator[Record]:
    for row_no, row in enumerate(rows, start=2):
        values = [_cell_text(v) for v in row]
        if not any(values):
            continue
        raw = ",".join(values)
        if len(values) > len(header) and any(values[len(header) :]):
            yield Record(row_no, raw, None, "field_count")
            continue
        values = (values + [""] * len(header))[: len(header)]
        yield Record(row_no, raw, dict(zip(header, values, strict=True)))


def read_xlsx(path: Path, limits: Limits | None = None) -> tuple[list[str], Iterator[Record]]:
    """Header and records of the first sheet of an xlsx workbook (row number = line number)."""
    if path.stat().st_size == 0:
        raise FileRejected("empty_file", 0, "no bytes")
    rows = _xlsx_rows(path, limits or Limits())
    header = [_cell_text(h).strip() for h in next(rows)]
    return header, _xlsx_records(rows, header)


def count_xlsx_records(path: Path, limits: Limits | None = None) -> int:
    """Records of an xlsx workbook, read whole: what a rejected file received (0 if it cannot be read)."""
    try:
        header, records = read_xlsx(path, limits)
        return sum(1 for _ in records)
    except FileRejected:
        return 0


def read_file(
    path: Path, fmt: str, encoding: str, limits: Limits | None = None
) -> tuple[list[str] | None, Iterator[Record]]:
    """Dispatch on the contract's format; api_json captures are stored as JSON lines."""
    if fmt in ("jsonl", "api_json"):
        return read_jsonl(path, encoding, limits)
    if fmt == "xlsx":
        return read_xlsx(path, limits)
    raise ValueError(f"unknown format {fmt}")


def count_records(path: Path, fmt: str, encoding: str, limits: Limits | None = None) -> int:
    """Data records of a delivered file by its format's rules, read whole (rejected files)."""
    if fmt == "csv":
        return count_csv_records(path, encoding)
    if fmt == "xlsx":
        return count_xlsx_records(path, limits)
    return count_jsonl_records(path, encoding)
