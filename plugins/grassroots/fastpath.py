"""Column-wise validation of canonical CSV rows with Arrow compute kernels.

Most rows a department delivers are already canonical: ISO dates, upper-case 18-digit
ID numbers, plain text. For a block of lines, one RE2 pass picks the lines whose every
field has its canonical shape; Arrow and NumPy then check what a regular expression
cannot (check digits, calendar dates, NFKC-stable text) for the whole block at once, and
the accepted rows are joined into COPY text format by Arrow. Every other line goes
to the row parser (`loader._FileLoader.parse`), which normalises or quarantines it. The
fast path accepts a row only when the row parser would load it with the same values;
`tests/integration/test_fastpath.py` loads dirty feeds both ways and compares the tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from grassroots.contracts import Column, Contract
from grassroots.identity import CHECK_CHARS, WEIGHTS

_TEXT = (
    r'[^,"\\\s\x{FF01}-\x{FF5E}\x{3000}](?:[^,"\\\r\n\t\x{FF01}-\x{FF5E}\x{3000}]*[^,"\\\s\x{FF01}-\x{FF5E}\x{3000}])?'
)
_SHAPES = {
    "text": _TEXT,
    "id_number": r"\d{17}[\dX]",
    "date": r"\d{4}-\d{2}-\d{2}",
    "timestamp": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "int": r"-?[1-9]\d{0,8}|0",
    "numeric": r"-?(?:[1-9]\d{0,11}|0)(?:\.\d{1,2})?",
    "phone": r"1[3-9]\d{9}",
}
_BOOLS = ("1", "true", "是", "0", "false", "否")  # 是/否 become t/f (`_pg_booleans`), the rest PostgreSQL reads
_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_CHECK_CODES = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)
_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)


def _builtin_sha256() -> Callable[[bytes], object]:
    """CPython's own SHA-256 (`_sha2` from 3.12, `_sha256` before), else hashlib's OpenSSL one.

    The built-in object copies as a plain struct; OpenSSL's EVP context copy costs about as
    much as hashing a short message, and an HMAC per row copies two of them.
    """
    try:
        from _sha2 import sha256  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef]
        except ImportError:
            sha256 = hashlib.sha256  # type: ignore[assignment]
    return sha256


def hmac_many_factory(secret: bytes) -> Callable[[Iterable[bytes]], bytes]:
    """HMAC-SHA256 (RFC 2104) of many messages, the 32-byte digests back to back; key pads hashed once.

    Each digest equals hmac.new(secret, message, sha256).digest(); copying the precomputed
    pad states saves most of the per-call setup of the hmac module.
    """
    sha256 = _builtin_sha256()
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    inner_copy = sha256(bytes(b ^ 0x36 for b in key)).copy
    outer_copy = sha256(bytes(b ^ 0x5C for b in key)).copy

    def many(messages: Iterable[bytes]) -> bytes:
        digests: list[bytes] = []
        append = digests.append
        for message in messages:
            inner = inner_copy()
            inner.update(message)
            outer = outer_copy()
            outer.update(inner.digest())
            append(outer.digest())
        return b"".join(digests)

    return many


def hmac_hex_factory(secret: bytes) -> Callable[[str], str]:
    """The HMAC of `hmac_many_factory` for one ASCII message, as hex."""
    many = hmac_many_factory(secret)
    return lambda message: many([message.encode("ascii")]).hex()


def _fragment(column: Column) -> str:
    if column.accepted:
        shape = "|".join(re.escape(v) for v in column.accepted)
    elif column.type == "bool":
        shape = "|".join(re.escape(v) for v in _BOOLS)
    else:
        shape = _SHAPES[column.type]
    return f"(?:{shape})" if column.required else f"(?:{shape})?"


def _calendar(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Which (year, month, day) triples are calendar dates (leap years included)."""
    month_ok = (month >= 1) & (month <= 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = _DAYS[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    return month_ok & (year >= 1) & (day >= 1) & (day <= days)


def _valid_stamps(cells: pa.Array, width: int) -> np.ndarray:
    """Calendar (and clock) check of canonical dates (YYYY-MM-DD, width 10) or timestamps
    (YYYY-MM-DD HH:MM:SS, width 19) read from the cells' bytes; empty cells pass."""
    blob, present = _fixed_width(cells, width)
    digits = np.frombuffer(blob, dtype=np.uint8).reshape(-1, width).astype(np.int32) - 48
    year = digits[:, 0:4] @ np.array([1000, 100, 10, 1], dtype=np.int32)
    two = {start: digits[:, start] * 10 + digits[:, start + 1] for start in (5, 8, 11, 14, 17) if start < width}
    valid = _calendar(year, two[5], two[8])
    if width == 19:
        valid &= (two[11] < 24) & (two[14] < 60) & (two[17] < 60)
    ok = np.ones(len(cells), dtype=bool)
    ok[present] = valid
    return ok


def _fixed_width(strings: pa.Array, width: int) -> tuple[bytes, np.ndarray]:
    """The bytes of the non-empty values of `strings` (each `width` bytes long) and where they are."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset : strings.offset + len(strings) + 1]
    present = np.diff(offsets) > 0
    if strings.null_count:
        present &= _bools(strings.is_valid())
    data = strings.buffers()[2]
    blob = b"" if data is None else data.to_pybytes()[offsets[0] : offsets[-1]]
    if len(blob) != width * int(present.sum()):
        raise ValueError(f"values are not {width} bytes wide")
    return blob, present


def _valid_ids(blob: bytes) -> np.ndarray:
    """GB 11643 check digit and birth date of canonical 18-character ID numbers, back to back."""
    digits = np.frombuffer(blob, dtype=np.uint8).reshape(-1, 18)
    numbers = digits[:, :17].astype(np.int64) - 48
    checks = _CHECK_CODES[(numbers @ _WEIGHTS) % 11] == digits[:, 17]
    year = numbers[:, 6:10] @ np.array([1000, 100, 10, 1])
    month, day = numbers[:, 10] * 10 + numbers[:, 11], numbers[:, 12] * 10 + numbers[:, 13]
    return checks & _calendar(year, month, day)


@dataclass
class Block:
    """One block's outcome: COPY text-format rows, how many they are, lines for the row parser."""

    data: bytes
    rows: int
    slow: list[tuple[int, str]]


class FastPath:
    """Validates blocks of one CSV file's lines (its header order, its day and ledger batch)."""

    def __init__(
        self, contract: Contract, header_columns: list[str], secret: bytes, ds: dt.date, batch_id: int
    ) -> None:
        by_name = {c.name: c for c in contract.columns}
        self.file_columns = [by_name[name] for name in header_columns]
        self.position = {name: i for i, name in enumerate(header_columns)}
        self.contract = contract
        self.pattern = "^" + ",".join(_fragment(c) for c in self.file_columns) + "$"
        self.keys = hmac_many_factory(secret)
        self.copy_columns = copy_columns(contract, header_columns)
        present_keys = sum(1 for id_column, _ in contract.key_columns if id_column in self.position)
        absent = len(self.copy_columns) - len(header_columns) - present_keys - len(LOADER_COLUMNS)
        # After the file's cells and keys: nulls for the columns it lacks, then _ds and _batch_id
        # (`_loaded_at` is the column's default now()); a scalar made once, not per block.
        self._tail = pa.scalar("\\N\t" * absent + f"{ds.isoformat()}\t{batch_id}\t", pa.string())
        self._yes_no = [i for i, c in enumerate(self.file_columns) if c.type == "bool"]

    def process_text(self, text: str, first_line_no: int) -> Block:
        """`process` for a decoded text of whole lines, each ending in \n (or \r\n)."""
        return self.process(line_array(text), first_line_no, unicodedata.is_normalized("NFKC", text))

    def _extract(self, column: Column, stable: bool) -> bool:
        """Whether a file column's cells are needed on their own: to check them, or for person keys."""
        if column.type == "text":
            return not (stable or column.accepted)
        return column.type in ("date", "timestamp", "id_number")

    def _checks(self, values: dict[int, pa.Array], stable: bool) -> np.ndarray:
        """Per-column checks beyond shape (`values`: cells by file position): which rows pass.

        `stable`: the whole block is NFKC-stable, so every text cell is (a comma or line end
        never composes with its neighbours) and the per-cell normalisation can be skipped.
        """
        ok = np.ones(len(next(iter(values.values()))) if values else 0, dtype=bool)
        for position, cells in values.items():
            column = self.file_columns[position]
            if column.type == "text":  # extracted only when its NFKC form needs checking
                ok &= _bools(pc.equal(pc.utf8_normalize(cells, "NFKC"), cells))
            elif column.type in ("date", "timestamp"):
                ok &= _valid_stamps(cells, 10 if column.type == "date" else 19)
            elif column.type == "id_number":
                blob, present = _fixed_width(cells, 18)
                valid = np.zeros(len(cells), dtype=bool)
                valid[present] = _valid_ids(blob)
                ok &= valid | ~present
        return ok

    def process(self, lines: list[str] | pa.Array, first_line_no: int, stable: bool | None = None) -> Block:
        """Split a block into fast rows (COPY text format) and lines left for the row parser.

        `lines` are Python strings or an Arrow string array; `stable` says whether they are all
        NFKC-normalised when the caller knows (else it is checked here, for Python strings).
        """
        if stable is None:
            stable = isinstance(lines, list) and _nfkc_stable(lines)
        array = lines if isinstance(lines, pa.Array) else pa.array(lines, pa.string())
        shaped = _bools(pc.match_substring_regex(array, self.pattern))
        candidates = array if shaped.all() else pc.filter(array, shaped)
        if not len(candidates):
            return Block(b"", 0, _slow_lines(lines, np.arange(len(lines)), first_line_no))
        fields = pc.split_pattern(candidates, ",")
        values = {p: pc.list_element(fields, p) for p, c in enumerate(self.file_columns) if self._extract(c, stable)}
        ok = self._checks(values, stable)
        line_numbers = np.arange(first_line_no, first_line_no + len(lines))
        rows = self._rows(fields, values, line_numbers[shaped])
        slow_mask = np.ones(len(lines), dtype=bool)
        slow_mask[np.flatnonzero(shaped)[ok]] = False
        slow = _slow_lines(lines, np.flatnonzero(slow_mask), first_line_no)
        if not ok.all():
            rows = pc.filter(rows, pa.array(ok))
        return Block(_payload(rows), len(rows), slow)

    def _rows(self, fields: pa.ListArray, values: dict[int, pa.Array], line_nos: np.ndarray) -> pa.Array:
        """Each candidate's staging row in COPY text format (columns in `copy_columns` order), line end included.

        Each row's cells are joined by tabs, empty cells as \\N (null) and 是/否 as PostgreSQL
        booleans; timestamps stay as written, the loader's session time zone being +08. Fast
        rows hold no tab, backslash, quote or line end (the shapes exclude them), so nothing
        needs escaping. Then come the person keys and a tail of nulls and loader columns.
        """
        flat = _pg_booleans(fields.values, self._yes_no, len(self.file_columns))
        flat = pc.if_else(pc.equal(flat, _EMPTY), _NULL_MARK, flat)  # required cells matched a non-empty shape
        out = [pc.binary_join(pa.ListArray.from_arrays(fields.offsets, flat), _TAB)]
        for id_column, _ in self.contract.key_columns:
            if id_column in self.position:
                out.append(pc.fill_null(self._keys(values[self.position[id_column]]), _NULL_MARK))
        numbers = pc.cast(pa.array(line_nos, pa.int64()), pa.string())
        out.append(pc.binary_join_element_wise(self._tail, numbers, _NEWLINE, ""))
        return pc.binary_join_element_wise(*out, _TAB)

    def _keys(self, ids: pa.Array) -> pa.Array:
        """Person keys (64 hex characters) of canonical ID numbers; null where the ID is empty."""
        blob, present = _fixed_width(ids, 18)
        hex_keys = self.keys(np.frombuffer(blob, dtype="S18").tolist()).hex().encode("ascii")  # IDs hold no NUL
        count = len(hex_keys) // 64
        offsets = np.arange(0, 64 * count + 1, 64, dtype=np.int32)
        keys = pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(hex_keys))
        if present.all():
            return keys
        if not count:
            return pa.nulls(len(ids), pa.string())
        positions = np.cumsum(present) - 1  # the key of row i is keys[positions[i]] where present
        placed = pc.take(keys, pa.array(np.maximum(positions, 0)))
        return pc.if_else(pa.array(present), placed, _NULL_TEXT)


_EMPTY = pa.scalar("", pa.string())
_NULL_TEXT = pa.scalar(None, pa.string())
_NULL_MARK = pa.scalar("\\N", pa.string())
_TAB, _NEWLINE = pa.scalar("\t"), pa.scalar("\n")


def _pg_booleans(cells: pa.Array, positions: list[int], width: int) -> pa.Array:
    """The flat cells of rows `width` wide with 是/否 at `positions` spelled "t  "/"f  ".

    The other accepted spellings (1/0, true/false) are PostgreSQL's own, and boolean input
    ignores trailing blanks, so the three UTF-8 bytes are overwritten in place: no string moves.
    """
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int32)[cells.offset : cells.offset + len(cells) + 1]
    data = None
    for position in positions:
        starts = offsets[position:-1:width]
        three = starts[offsets[position + 1 :: width] - starts == 3].astype(np.int64)
        if not len(three):
            continue
        if data is None:
            data = np.frombuffer(cells.buffers()[2], dtype=np.uint8).copy()
        word = (data[three].astype(np.int32) << 16) | (data[three + 1].astype(np.int32) << 8) | data[three + 2]
        for spelled, letter in ((_YES, b"t"), (_NO, b"f")):
            at = three[word == spelled]
            data[at], data[at + 1], data[at + 2] = letter[0], 32, 32
    if data is None:
        return cells
    return pa.StringArray.from_buffers(len(cells), cells.buffers()[1], pa.py_buffer(data), None, 0, cells.offset)


_YES, _NO = (int.from_bytes(word.encode("utf-8"), "big") for word in ("是", "否"))


LOADER_COLUMNS = ("_ds", "_batch_id", "_row_no")


def copy_columns(contract: Contract, file_columns: list[str]) -> list[str]:
    """The staging columns in the order COPY receives them for a file with these columns.

    The file's own columns first, in its order (so a fast row is its line with tabs for
    commas), then the person keys of those, then the contract's columns and keys the file
    lacks (always null), then the loader columns; `_loaded_at` is the column's default, and
    the file's name is in the ledger row `_batch_id` points to.
    """
    keys = [key for id_column, key in contract.key_columns if id_column in file_columns]
    absent = [c.name for c in contract.columns if c.name not in file_columns]
    absent += [key for id_column, key in contract.key_columns if id_column not in file_columns]
    return [*file_columns, *keys, *absent, *LOADER_COLUMNS]


def _bools(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array as NumPy, nulls as False (unpacks the bitmap: no pandas involved)."""
    if array.null_count:
        array = pc.fill_null(array, False)
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)].view(bool)


def _payload(rows: pa.Array) -> bytes:
    """The bytes of a string array without nulls: its values back to back."""
    if not len(rows):
        return b""
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset : rows.offset + len(rows) + 1]
    return rows.buffers()[2].slice(offsets[0], offsets[-1] - offsets[0]).to_pybytes()


def line_array(text: str) -> pa.Array:
    """The lines of a text whose every line ends in \n, without line ends, as an Arrow string array.

    Offsets are found with NumPy on the UTF-8 bytes, so no Python string is made per line.
    """
    data = text.encode("utf-8")
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    offsets = np.concatenate(([0], ends)).astype(np.int32)
    with_ends = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    lines = pc.utf8_slice_codeunits(with_ends, 0, -1)
    if "\r" in text:
        lines = pc.replace_substring_regex(lines, "\r$", "", max_replacements=1)
    return lines


def _nfkc_stable(lines: list[str]) -> bool:
    """Whether every line is NFKC-normalised: one C pass over the block, usually true."""
    return unicodedata.is_normalized("NFKC", "\n".join(lines))


def _slow_lines(lines: list[str] | pa.Array, indices: np.ndarray, first_line_no: int) -> list[tuple[int, str]]:
    """(line number, text) of the lines at `indices`."""
    if isinstance(lines, list):
        texts = [lines[i] for i in indices]
    else:
        texts = pc.take(lines, pa.array(indices, pa.int64())).to_pylist()
    return list(zip((first_line_no + indices).tolist(), texts, strict=True))
