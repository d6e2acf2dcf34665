"""Stream department files (CSV, JSON lines, xlsx) as (line number, raw text, fields) records."""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grassroots.kernels import utf8_of_gb18030

CHUNK = 1 << 20


class FileRejected(Exception):
    """The whole file is unusable: `rule` says why, `line` where it was noticed (0 = whole file)."""

    def __init__(self, rule: str, line: int = 0, detail: str = "") -> None:
        super().__init__(f"{rule} at line {line}: {detail}" if detail else f"{rule} at line {line}")
        self.rule = rule
        self.line = line
        self.detail = detail


@dataclass
class Record:
    """One data record: physical line number (1-based, header is line 1 in CSV), raw text, fields."""

    line_no: int
    raw: str
    fields: dict[str, str] | None  # None: the record could not be split into fields
    error: str | None = None


def raw_chunks(path: Path, chunk_size: int = CHUNK) -> Iterator[tuple[int, bytes]]:
    """A file's bytes in chunks cut at line ends: (first line number, bytes of whole lines).

    Only the last chunk may lack its final line end. Cutting at b"\n" is safe for the
    supported encodings: no multi-byte character of UTF-8 or GB18030 contains that byte.
    """
    line_no = 0
    carry = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            data = carry + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            data, carry = data[:cut], data[cut:]
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


def decoded_texts(path: Path, encoding: str, chunk_size: int = CHUNK) -> Iterator[tuple[int, str]]:
    """`raw_chunks` decoded: (first line number, text of whole lines); only the last may lack its line end."""
    for first, data in raw_chunks(path, chunk_size):
        yield first, decode_chunk(data, encoding, first)


def _after_start(encoding: str) -> str:
    """The codec for bytes after a file's start: utf-8-sig strips a BOM, which only the start may hold."""
    return "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding


def utf8_chunk(data: bytes, encoding: str, first_line_no: int) -> tuple[bytes, bool]:
    """Whole lines from after a file's start as UTF-8, and whether they are NFKC-normalised for sure.

    GB18030 goes through the compiled decoder (built from Python's codec); UTF-8 is checked
    and kept as it is; where the decoder gives up, Python's codec decodes or names the error.
    """
    name = codecs.lookup(encoding).name
    if name == "gb18030":
        decoded = utf8_of_gb18030(data)
        if decoded is not None:
            return decoded
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


def decoded_blocks(path: Path, encoding: str, chunk_size: int = CHUNK) -> Iterator[tuple[int, list[str], bool]]:
    """`decoded_texts` as (first line number, lines without line end, terminated)."""
    for first, text in decoded_texts(path, encoding, chunk_size):
        yield first, *text_lines(text)


def _decoded_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, line with its line end; the last may lack one) of a decoded file."""
    for first, lines, terminated in decoded_blocks(path, encoding):
        for offset, line in enumerate(lines):
            last = offset == len(lines) - 1
            yield first + offset, line if (last and not terminated) else line + "\n"


def read_csv_chunks(path: Path, encoding: str) -> tuple[list[str], Iterator[tuple[int, bytes]]]:
    """Header and the raw chunks of data lines of a CSV file (`raw_chunks` after the header line).

    The caller checks each chunk with `check_terminated`: a last line without line end means
    the file was cut.
    """
    chunks = raw_chunks(path)
    first = next(chunks, None)
    if first is None:
        raise FileRejected("empty_file", 0, "no bytes")
    first_no, first_data = first
    header_bytes, newline, rest = first_data.partition(b"\n")
    header_line = decode_chunk(header_bytes, encoding, first_no)
    header = [h.strip() for h in next(csv.reader([header_line.removesuffix("\r").lstrip("\ufeff")]))]
    if not newline:
        raise FileRejected("truncated_file", 1, "the header line has no line end")
    head = [(first_no + 1, rest)] if rest else []
    return header, itertools.chain(head, chunks)


def csv_record(line_no: int, text: str, header: list[str]) -> Record | None:
    """One CSV line as a record (None for a blank line); a wrong field count is a record error."""
    if not text.strip():
        return None
    values = next(csv.reader([text]))
    if len(values) != len(header):
        return Record(line_no, text, None, "field_count")
    return Record(line_no, text, dict(zip(header, values, strict=True)))


def read_jsonl(path: Path, encoding: str) -> tuple[list[str] | None, Iterator[Record]]:
    """Records of a JSON-lines file; the header is the first object's keys."""
    if path.stat().st_size == 0:
        raise FileRejected("empty_file", 0, "no bytes")

    def records() -> Iterator[Record]:
        for line_no, line in _decoded_lines(path, encoding):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                if not line.endswith("\n"):
                    raise FileRejected("truncated_file", line_no, "last line is cut JSON") from None
                yield Record(line_no, text, None, "json_format")
                continue
            if not isinstance(obj, dict):
                yield Record(line_no, text, None, "json_format")
                continue
            fields = {str(k): "" if v is None else str(v) for k, v in obj.items()}
            yield Record(line_no, text, fields)

    return None, records()


def _cell_text(value: object) -> str:
    """An xlsx cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_records(workbook: object, rows: Iterator[tuple], header: list[str]) -> Iterator[Record]:
    for row_no, row in enumerate(rows, start=2):
        values = [_cell_text(v) for v in row]
        if not any(values):
            continue
        raw = ",".join(values)
        if len(values) != len(header):
            yield Record(row_no, raw, None, "field_count")
            continue
        yield Record(row_no, raw, dict(zip(header, values, strict=True)))
    workbook.close()


def read_xlsx(path: Path) -> tuple[list[str], Iterator[Record]]:
    """Header and records of the first sheet of an xlsx workbook (row number = line number)."""
    import zipfile

    from openpyxl import load_workbook

    if path.stat().st_size == 0:
        raise FileRejected("empty_file", 0, "no bytes")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise FileRejected("unreadable_file", 0, "not a complete xlsx workbook") from exc
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    first = next(rows, None)
    if first is None:
        raise FileRejected("empty_file", 0, "no rows")
    header = [_cell_text(h).strip() for h in first]
    return header, _xlsx_records(workbook, rows, header)


def read_file(path: Path, fmt: str, encoding: str) -> tuple[list[str] | None, Iterator[Record]]:
    """Dispatch on the contract's format; api_json captures are stored as JSON lines."""
    if fmt in ("jsonl", "api_json"):
        return read_jsonl(path, encoding)
    if fmt == "xlsx":
        return read_xlsx(path)
    raise ValueError(f"unknown format {fmt}")
