"""Write delivered files as departments send them: CSV (GBK, UTF-8, BOM), xlsx, JSON lines, API pages."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = "2026-01-01T00:00:00Z"
_DOC_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def write_csv(path: Path, header: list[str], rows: Iterable[list[object]], encoding: str) -> None:
    """Stream rows to a CSV file with LF line ends in the given encoding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def csv_text(header: list[str], rows: Iterable[list[object]]) -> str:
    """CSV as text (small supplementary files that are cut or re-encoded afterwards)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def truncate_text(text: str) -> str:
    """Cut the last line in the middle and drop the final newline, as an interrupted transfer does."""
    body = text.rstrip("\n")
    last_start = body.rfind("\n") + 1
    keep = max(1, (len(body) - last_start) // 2)
    return body[: last_start + keep]


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    """One JSON object per line, UTF-8, keys in the department's order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_xlsx(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    """A one-sheet workbook, streamed (write-only), with fixed document and zip times so reruns match byte for byte."""
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Sheet1")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(fixed_zip(buffer.getvalue()))


def fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed member times and fixed docProps created/modified stamps."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _DOC_TIMES.sub(rb"\g<1>" + FIXED_DOC_TIME.encode() + rb"\g<3>", content)
            member = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o600 << 16
            target.writestr(member, content)
    return out.getvalue()


def write_api_pages(folder: Path, records: Iterator[dict], page_size: int) -> int:
    """`page-NNNN.json` files as the department's endpoint serves them: {"data", "page", "pages"}; returns records."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("page-*.json"):
        old.unlink()
    encoded = [json.dumps(record, ensure_ascii=False, sort_keys=True) for record in records]
    pages = max(1, -(-len(encoded) // page_size))
    for number in range(pages):
        chunk = encoded[number * page_size : (number + 1) * page_size]
        body = '{"data": [' + ", ".join(chunk) + f'], "page": {number + 1}, "pages": {pages}}}'
        (folder / f"page-{number + 1:04d}.json").write_bytes(body.encode())
    return len(encoded)
