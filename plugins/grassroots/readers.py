"""Stream department files (CSV, JSON lines, xlsx) as (line number, raw text, fields) records."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def _decoded_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Decode incrementally, yielding (line number, line with its newline); a bad byte rejects the file."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line_no = 0
    pending = ""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            final = not chunk
            try:
                text = pending + decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                bad_line = line_no + 1 + bytes(exc.object[: exc.start]).count(b"\n")
                raise FileRejected("encoding", bad_line, f"not valid {encoding}: {exc.reason}") from exc
            *complete, pending = text.split("\n")
            for line in complete:
                line_no += 1
                yield line_no, line + "\n"
            if final:
                if pending:
                    yield line_no + 1, pending
                return


def read_csv(path: Path, encoding: str) -> tuple[list[str], Iterator[Record]]:
    """Header and records of a CSV file; a last line without newline means the file was cut."""
    lines = _decoded_lines(path, encoding)
    first = next(lines, None)
    if first is None:
        raise FileRejected("empty_file", 0, "no bytes")
    header = next(csv.reader([first[1].lstrip("\ufeff")]))
    header = [h.strip() for h in header]
    if not first[1].endswith(("\n", "\r")):
        return header, iter(())

    def records() -> Iterator[Record]:
        for line_no, line in lines:
            if not line.endswith(("\n", "\r")):
                raise FileRejected("truncated_file", line_no, "last line has no line end")
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            values = next(csv.reader([text]))
            if len(values) != len(header):
                yield Record(line_no, text, None, "field_count")
                continue
            yield Record(line_no, text, dict(zip(header, values, strict=True)))

    return header, records()


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
    if fmt == "csv":
        return read_csv(path, encoding)
    if fmt in ("jsonl", "api_json"):
        return read_jsonl(path, encoding)
    if fmt == "xlsx":
        return read_xlsx(path)
    raise ValueError(f"unknown format {fmt}")
