"""Record splitting, decompression and the text helpers of grassroots.loading.readers (no database)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from grassroots.loading.contracts import Limits
from grassroots.loading.readers import (
    FileRejected,
    _after_start,
    count_csv_records,
    csv_record,
    db_text,
    opened_delivery,
    printable,
    raw_text,
    read_csv_chunks,
    span_records,
)

ALPHABET = ["a", "b", ",", '"', "\n", "\r", " ", "王", "\x00", '""', "\r\n", ",\n"]


def chunked_records(path: Path, encoding: str, chunk_size: int) -> list[tuple[int, str]]:
    """(line, text) of the records the loader's chunked reading finds, blank lines left out."""
    header, chunks = read_csv_chunks(path, encoding, Limits(), chunk_size)
    found = []
    for chunk in chunks:
        text = chunk.data.decode(encoding if chunk.first == 1 else _after_start(encoding))
        for line_no, record_text, open_ in span_records(text, chunk.first, chunk.spans):
            if csv_record(line_no, record_text, header, open_) is not None:
                found.append((line_no, record_text))
    return found


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64, 1 << 20])
def test_chunks_of_any_size_give_the_records_a_whole_file_reader_counts(tmp_path: Path, chunk_size: int) -> None:
    rng = random.Random(chunk_size)
    path = tmp_path / "f.csv"
    checked = 0
    for _ in range(400):
        text = "h1,h2\n" + "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 50))) + "\n"
        path.write_bytes(text.encode("utf-8"))
        try:
            records = chunked_records(path, "utf-8", chunk_size)
        except FileRejected as rejected:
            assert rejected.rule in ("header_format", "truncated_file")
            continue
        assert len(records) == count_csv_records(path, "utf-8"), text
        checked += 1
    assert checked > 300


def test_a_quoted_line_break_keeps_its_record_whole_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b'a,b\n1,"x\r\ny"\n2,"\n\n"\n3,z\n')
    assert chunked_records(path, "utf-8", 2) == [(2, '1,"x\r\ny"'), (4, '2,"\n\n"'), (7, "3,z")]
    assert csv_record(2, '1,"x\r\ny"', ["a", "b"]).fields == {"a": "1", "b": "x\r\ny"}


def test_an_open_quote_at_the_end_of_the_file_is_one_record(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b'a,b\n1,2\n3,"x\n4,5\n')
    header, chunks = read_csv_chunks(path, "utf-8", Limits(), 4)
    records = [r for c in chunks for r in span_records(c.data.decode(), c.first, c.spans)]
    assert records == [(2, "1,2", False), (3, '3,"x\n4,5', True)]
    assert csv_record(3, '3,"x\n4,5', header, True).error == "unclosed_quote"


def test_a_record_over_the_limit_rejects_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b'a,b\n1,"' + b"x\n" * 5000 + b'"\n')
    _, chunks = read_csv_chunks(path, "utf-8", Limits(max_record_bytes=4096), 1024)
    with pytest.raises(FileRejected) as info:
        list(chunks)
    assert (info.value.rule, info.value.line) == ("record_too_long", 2)


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        # mtime=0: the same bytes (and test ids) in every pytest-xdist worker's collection
        (gzip.compress(b"a,b\n" + b"\n" * 2_000_000, mtime=0), "decompression_bomb"),
        (gzip.compress(gzip.compress(b"a,b\n1,2\n", mtime=0), mtime=0), "compressed"),
        (b"BZh91AY&SY", "compressed"),
        (gzip.compress(b"a,b\n1,2\n", mtime=0)[:-9], "compressed"),
    ],
)
def test_compressed_deliveries_are_capped_or_refused(tmp_path: Path, data: bytes, rule: str) -> None:
    path = tmp_path / "f.csv.gz"
    path.write_bytes(data)
    with pytest.raises(FileRejected) as info, opened_delivery(path, "csv", Limits(max_expansion_ratio=100)):
        pass
    assert info.value.rule == rule


def test_a_gzip_delivery_is_read_as_its_content(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    with opened_delivery(path, "csv", Limits()) as readable:
        assert readable != path and readable.read_bytes() == b"a,b\n1,2\n"
    assert not readable.exists(), "the decompressed copy is removed"


def test_text_helpers_keep_logs_one_line_and_database_text_valid() -> None:
    assert printable("a\nb\r\x00\u2028c.csv") == "a\\nb\\r\\x00\\u2028c.csv"
    assert printable("王芳 2026.csv") == "王芳 2026.csv"
    assert db_text("bad\udcffname") == "bad\\xffname"
    assert raw_text("a\x00b") == "a\ufffdb" and raw_text("\ud800x") == "\ufffdx"
    assert len(raw_text("x" * 100_000)) == 8192


def test_a_broken_multibyte_sequence_at_a_line_end_does_not_merge_two_records(tmp_path: Path) -> None:
    """GB18030's incremental decoder holds back `\\x81 0` at a line's end (a four-byte sequence may
    follow) and gives it back, replaced, with the next line: that line still counts as a record."""
    path = tmp_path / "community_resources.csv"
    path.write_bytes(b"0\x810\n\x810,\xcd\xf5\xb7\xbc,2026-11-24,\xca\xe9\xbc\xc7,0.00,0.00,2026-11-24\n")
    assert count_csv_records(path, "gb18030") == 1
    path.write_bytes(b"a,b\n1\x81\n2\x812\n3,4\n")
    assert count_csv_records(path, "gb18030") == 3
