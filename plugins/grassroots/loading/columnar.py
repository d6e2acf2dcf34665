"""Column-wise validation of canonical CSV rows with Arrow compute kernels.

Most rows a department delivers are already canonical: ISO dates, upper-case 18-digit
ID numbers, plain text. For a block of lines, one RE2 pass picks the lines whose every
field has its canonical shape or one of the type's other `forms` (dates as 2026/11/1,
20261101 or 2026年11月1日; ID numbers with a lower-case x, full-width digits or 15 digits),
which `NORMALISE` rewrites column-wise to the canonical text; Arrow and NumPy then check
what a regular expression cannot (check digits, calendar dates, NFKC-stable text) for the
whole block at once; the accepted rows' person keys are OpenSSL's HMAC
(`identity.person_key_digests`) and their values the canonical text itself (`copy_cells`),
joined by Arrow into lines of COPY's text format that the loader sends as they are.
Every other line goes to the row parser (`loader._FileLoader.parse`), which normalises or
quarantines it. The fast path accepts
a row only when the row parser would load it with the same values;
`tests/integration/test_fastpath.py` loads dirty feeds both ways and compares the tables.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from grassroots import settings
from grassroots.loading.column_types import TYPES, ColumnType
from grassroots.loading.contracts import Column, Contract
from grassroots.loading.identity import CHECK_CHARS, EARLIEST_BIRTH, PROVINCES, WEIGHTS, person_key_digests
from grassroots.loading.readers import Span, check_terminated, utf8_chunk

_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_CHECK_CODES = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)
_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)


def _fragment(column: Column) -> str:
    column_type = TYPES[column.type]
    shape = (
        "|".join(re.escape(v) for v in column.accepted) if column.accepted else column_type.forms or column_type.shape
    )
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


def _valid_ids(blob: bytes, latest_birth: dt.date) -> np.ndarray:
    """GB 11643 checks of canonical 18-character ID numbers, back to back, as identity.normalise_id_number
    makes them: province code, birth date (a calendar date from 1900-01-01 to `latest_birth`), check digit."""
    digits = np.frombuffer(blob, dtype=np.uint8).reshape(-1, 18)
    numbers = digits[:, :17].astype(np.int64) - 48
    checks = _CHECK_CODES[(numbers @ _WEIGHTS) % 11] == digits[:, 17]
    year = numbers[:, 6:10] @ np.array([1000, 100, 10, 1])
    month, day = numbers[:, 10] * 10 + numbers[:, 11], numbers[:, 12] * 10 + numbers[:, 13]
    birth = year * 10000 + month * 100 + day
    latest = latest_birth.year * 10000 + latest_birth.month * 100 + latest_birth.day
    in_range = (birth >= _EARLIEST) & (birth <= latest)
    return checks & _calendar(year, month, day) & in_range & _PROVINCES[numbers[:, 0] * 10 + numbers[:, 1]]


_EARLIEST = EARLIEST_BIRTH.year * 10000 + EARLIEST_BIRTH.month * 100 + EARLIEST_BIRTH.day
_PROVINCES = np.isin(np.arange(100), [int(code) for code in PROVINCES])


_DATE_PARTS = (
    r"^(?P<year>\d{4})(?:[-/.年](?P<month>\d{1,2})[-/.月](?P<day>\d{1,2})日?|(?P<month8>\d{2})(?P<day8>\d{2}))$"
)


def _iso_dates(cells: pa.Array) -> pa.Array:
    """Cells in the date type's `forms` (or empty) as canonical YYYY-MM-DD text: the parts that
    parsers.parse_date reads, month and day padded to two digits. Whether that is a calendar date is
    `_valid_stamps`'s check, after; cells already canonical are left as they are."""
    offsets = np.frombuffer(cells.buffers()[1], np.int32)[cells.offset : cells.offset + len(cells) + 1]
    data = np.frombuffer(cells.buffers()[2] or b"", np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    iso = lengths == 10
    iso[iso] = (data[starts[iso] + 4] == ord("-")) & (data[starts[iso] + 7] == ord("-"))
    other = (lengths > 0) & ~iso
    if cells.null_count:
        other &= _bools(cells.is_valid())
    if not other.any():
        return cells
    mask = pa.array(other)
    parts = pc.extract_regex(pc.filter(cells, mask), _DATE_PARTS)
    month, day = (
        pc.if_else(pc.equal(parts.field(f), ""), parts.field(f"{f}8"), parts.field(f)) for f in ("month", "day")
    )
    text = pc.binary_join_element_wise(parts.field("year"), pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-")
    return pc.replace_with_mask(cells, mask, text)


def _canonical_ids(cells: pa.Array) -> pa.Array:
    """ID numbers in the id_number type's `forms` (or empty) as identity.normalise_id_number makes them:
    full-width digits and x made ASCII (NFKC maps those characters as its fold does), x made X, the
    15-digit legacy form widened (century 19, check character computed). The checks come after
    (`_valid_ids`)."""
    wide = ~_bools(pc.string_is_ascii(cells))
    if wide.any():
        mask = pa.array(wide)
        cells = pc.replace_with_mask(cells, mask, pc.utf8_normalize(pc.filter(cells, mask), "NFKC"))
    cells = pc.ascii_upper(cells)
    legacy = pc.binary_length(cells).to_numpy(zero_copy_only=False) == 15
    if not legacy.any():
        return cells
    mask = pa.array(legacy)
    old = np.frombuffer(_fixed_width(pc.filter(cells, mask), 15)[0], np.uint8).reshape(-1, 15)
    wide = np.empty((len(old), 18), np.uint8)
    wide[:, :6], wide[:, 6:8], wide[:, 8:17] = old[:, :6], np.frombuffer(b"19", np.uint8), old[:, 6:]
    wide[:, 17] = _CHECK_CODES[((wide[:, :17].astype(np.int64) - 48) @ _WEIGHTS) % 11]
    offsets = np.arange(0, 18 * len(wide) + 1, 18, dtype=np.int32)
    widened = pa.StringArray.from_buffers(len(wide), pa.py_buffer(offsets), pa.py_buffer(wide.tobytes()))
    return pc.replace_with_mask(cells, mask, widened)


# The fast path's rewrite of a type's other `forms` (column_types) to its canonical text, by type name.
NORMALISE = {"date": _iso_dates, "id_number": _canonical_ids}


@dataclass
class Block:
    """One block's outcome: the staging rows it accepted (`copy_text`: lines of COPY's text format,
    UTF-8, values in `copy_columns` order), how many they are, records for the row parser (first
    line number, text, quote still open at the end of the file), and the primary keys of the rows
    written (`key_text`) with their line numbers."""

    copy_text: bytes
    rows: int
    slow: list[tuple[int, str, bool]]
    keys: pa.Array | None = None
    key_lines: np.ndarray | None = None
    key_hashes: np.ndarray | None = None


class FastPath:
    """Validates blocks of one CSV file's lines (its header order, its day and ledger batch)."""

    def __init__(
        self, contract: Contract, header_columns: list[str], secret: bytes, ds: dt.date, batch_id: int
    ) -> None:
        self.secret = secret
        by_name = {c.name: c for c in contract.columns}
        self.file_columns = [by_name[name] for name in header_columns]
        self.position = {name: i for i, name in enumerate(header_columns)}
        self.contract = contract
        self.pattern = "^" + ",".join(_fragment(c) for c in self.file_columns) + "$"
        self.copy_columns = copy_columns(contract, header_columns)
        self.ds, self.batch_id = ds, batch_id
        self.utc_offset = settings.fixed_utc_offset()  # timestamps' local time (settings.TIMEZONE)
        self._key_cells = np.array(
            [self.position[id_column] for id_column, _ in contract.key_columns if id_column in self.position], np.int64
        )
        # After the file's cells and keys come nulls for the columns it lacks, then the loader columns.
        self._absent = len(self.copy_columns) - len(header_columns) - len(self._key_cells) - len(LOADER_COLUMNS)

    def process_bytes(self, data: bytes, first_line_no: int, encoding: str, spans: list[Span] = ()) -> Block:
        """`process` for raw whole records of the file (after its header) in its encoding.

        `spans`: the records that span lines (readers.CsvChunk). Decoding errors and a last
        line without line end reject the file (`FileRejected`).
        """
        check_terminated(first_line_no, data, encoding)
        utf8, stable = utf8_chunk(data, encoding, first_line_no)
        return self.process(line_array(utf8), first_line_no, stable, spans, utf8)

    def _extract(self, column: Column, stable: bool) -> bool:
        """Whether a file column's cells are needed on their own: to check them, or for person keys."""
        if column.type == "text":
            return not (stable or column.accepted)
        return column.type in ("date", "timestamp", "id_number") or column.type in NORMALISE

    def _checks(self, values: dict[int, pa.Array], rows: int) -> np.ndarray:
        """Per-column checks beyond shape (`values`: cells by file position): which rows pass.

        A text column is in `values` only when the block is not NFKC-stable (see `_extract`).
        """
        ok = np.ones(rows, dtype=bool)
        for position, cells in values.items():
            column = self.file_columns[position]
            if column.type == "text":  # extracted only when its NFKC form needs checking
                ok &= _bools(pc.equal(pc.utf8_normalize(cells, "NFKC"), cells))
            elif column.type in ("date", "timestamp"):
                ok &= _valid_stamps(cells, 10 if column.type == "date" else 19)
            elif column.type == "id_number":
                blob, present = _fixed_width(cells, 18)
                valid = np.zeros(len(cells), dtype=bool)
                valid[present] = _valid_ids(blob, self.ds)
                ok &= valid | ~present
        return ok

    def process(
        self,
        lines: list[str] | pa.Array,
        first_line_no: int,
        stable: bool | None = None,
        spans: list[Span] = (),
        utf8: bytes | None = None,
    ) -> Block:
        """Split a block into fast rows (COPY text) and records left for the row parser.

        `lines` are Python strings or an Arrow string array; `stable` says whether they are all
        NFKC-normalised when the caller knows (else it is checked here, for Python strings).
        Lines of records that span lines (`spans`) go to the row parser as one record, cut
        from `utf8` (the block's bytes) when given so that their inner line ends are kept.
        """
        if stable is None:
            stable = isinstance(lines, list) and _nfkc_stable(lines)
        array = lines if isinstance(lines, pa.Array) else pa.array(lines, pa.string())
        shaped = _bools(pc.match_substring_regex(array, self.pattern)) & self._short(array)
        for start, count, _ in spans:
            shaped[start : start + count] = False
        candidates = array if shaped.all() else pc.filter(array, shaped)
        line_numbers = np.arange(first_line_no, first_line_no + len(lines))
        if not len(candidates):
            slow = _slow_records(lines, np.arange(len(lines)), first_line_no, spans, utf8)
            return Block(b"", 0, slow, None, None, None)
        fields = pc.split_pattern(candidates, ",")
        values = {
            p: self._normalised(c, pc.list_element(fields, p))
            for p, c in enumerate(self.file_columns)
            if self._extract(c, stable)
        }
        ok = self._checks(values, len(candidates))
        text = self._copy_text(fields, values, line_numbers[shaped], ok)
        slow_mask = np.ones(len(lines), dtype=bool)
        slow_mask[np.flatnonzero(shaped)[ok]] = False
        slow = _slow_records(lines, np.flatnonzero(slow_mask), first_line_no, spans, utf8)
        keys = self._primary_keys(fields, values, ok)
        lines_written = line_numbers[shaped][ok]
        return Block(text, len(lines_written), slow, keys, lines_written, key_hashes(keys))

    @staticmethod
    def _normalised(column: Column, cells: pa.Array) -> pa.Array:
        """A column's cells with its type's other forms rewritten to the canonical text (`NORMALISE`)."""
        if column.accepted or column.type not in NORMALISE:
            return cells
        return NORMALISE[column.type](cells)

    def _short(self, lines: pa.Array) -> np.ndarray:
        """Lines neither empty nor longer than a field may be: a long line may hold a field over
        the contract's `max_field_chars`, which the row parser quarantines."""
        length = pc.binary_length(lines).to_numpy(zero_copy_only=False)
        return (length > 0) & (length <= self.contract.limits.max_field_chars)

    def _primary_keys(self, fields: pa.ListArray, values: dict[int, pa.Array], ok: np.ndarray) -> pa.Array:
        """The primary key of each written row as `key_text` makes it (a fast row's cells are canonical)."""
        parts = []
        for name in self.contract.primary_key:
            if name not in self.position:
                parts.append(pa.array([""] * int(ok.sum()), pa.string()))
                continue
            position = self.position[name]
            cells = values[position] if position in values else pc.list_element(fields, position)
            parts.append(cells if ok.all() else pc.filter(cells, pa.array(ok)))
        if len(parts) == 1:
            return parts[0]
        return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)

    def _copy_text(
        self, fields: pa.ListArray, values: dict[int, pa.Array], line_nos: np.ndarray, ok: np.ndarray
    ) -> bytes:
        """The staging rows of the candidates that passed (`ok`) as lines of COPY's text format, values in
        `copy_columns` order: the file's cells (`copy_cells`), person keys, nulls for the columns the
        file lacks, the loader columns. Arrow joins them; no Python object is made per row."""
        keep = pa.array(ok)
        columns = []
        for position, column in enumerate(self.file_columns):
            cells = values[position] if position in values else pc.list_element(fields, position)
            columns.append(copy_cells(pc.filter(cells, keep), TYPES[column.type], self.utc_offset))
        for position in self._key_cells:
            keys = self._keys(values[int(position)])[ok]  # zeros where the ID is empty: null
            offsets = np.arange(0, 64 * len(keys) + 1, 64, dtype=np.int32)
            hexes = pa.StringArray.from_buffers(len(keys), pa.py_buffer(offsets), pa.py_buffer(keys.tobytes()))
            columns.append(pc.if_else(pa.array(keys[:, 0] != 0), hexes, NULL))
        columns += [pa.scalar(NULL)] * self._absent
        rows = pa.array(line_nos[ok]).cast(pa.string())
        columns += [pa.scalar(self.ds.isoformat()), pa.scalar(str(self.batch_id)), rows]
        lines = pc.binary_join_element_wise(*columns, pa.scalar(""), "\t")  # each line ends in a tab: cut below
        if not len(lines):
            return b""
        offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset : lines.offset + len(lines) + 1]
        data = np.frombuffer(lines.buffers()[2], np.uint8)[offsets[0] : offsets[-1]].copy()
        data[offsets[1:] - offsets[0] - 1] = ord("\n")
        return data.tobytes()

    def _keys(self, ids: pa.Array) -> np.ndarray:
        """Person keys of canonical ID numbers as 64 hex characters per row (zeros where the ID is empty)."""
        blob, present = _fixed_width(ids, 18)
        keys = np.zeros((len(ids), 64), np.uint8)
        keys[present] = _hex(np.frombuffer(person_key_digests(self.secret, blob, 18), np.uint8).reshape(-1, 32))
        return keys


def _hex(digests: np.ndarray) -> np.ndarray:
    """(n, k) bytes as (n, 2k) lower-case hex digits."""
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    return np.stack([digits[digests >> 4], digits[digests & 15]], axis=2).reshape(len(digests), 2 * digests.shape[1])


NULL = "\\N"  # COPY text format's null


def copy_cells(cells: pa.Array, column_type: ColumnType, utc_offset: dt.timedelta) -> pa.Array:
    """Canonical cells of a column type as COPY's text format gives PostgreSQL the value the row parser
    loads: the canonical text as it is (no canonical cell holds a tab, line end or backslash), true
    and false for the bool spellings, timestamps with the local time's UTC offset; empty cells null."""
    encoding = column_type.encoding
    text = cells
    if encoding == "bool":
        text = pc.if_else(pc.is_in(cells, pa.array(["1", "true", "是"])), "true", "false")
    elif encoding == "timestamptz":
        text = pc.binary_join_element_wise(cells, pa.scalar(_offset_text(utc_offset)), "")
    return pc.if_else(pc.equal(cells, ""), NULL, text)


def _offset_text(offset: dt.timedelta) -> str:
    """A UTC offset as ISO 8601 writes it (+08:00, -05:00)."""
    return dt.datetime(2000, 1, 1, tzinfo=dt.timezone(offset)).isoformat()[19:]


LOADER_COLUMNS = ("_ds", "_batch_id", "_row_no")


def copy_columns(contract: Contract, file_columns: list[str]) -> list[str]:
    """The staging columns in the order COPY receives them for a file with these columns.

    The file's own columns first, in its order (so a fast row is its cells in line order), then
    the person keys of those, then the contract's columns and keys the file
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


def line_array(text: str | bytes) -> pa.Array:
    """The lines of a text (or its UTF-8 bytes) whose every line ends in \n, without line ends,
    as an Arrow string array.

    Offsets are found with NumPy on the UTF-8 bytes, so no Python string is made per line.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    offsets = np.concatenate(([0], ends)).astype(np.int32)
    with_ends = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    lines = pc.utf8_slice_codeunits(with_ends, 0, -1)
    if b"\r" in data:
        lines = pc.replace_substring_regex(lines, "\r$", "", max_replacements=1)
    return lines


def _nfkc_stable(lines: list[str]) -> bool:
    """Whether every line is NFKC-normalised: one C pass over the block, usually true."""
    return unicodedata.is_normalized("NFKC", "\n".join(lines))


def _slow_records(
    lines: list[str] | pa.Array, indices: np.ndarray, first_line_no: int, spans: list[Span], utf8: bytes | None
) -> list[tuple[int, str, bool]]:
    """(first line number, text, open at the end of the file) of the records at line `indices`;
    a record that spans lines comes once, with its inner line ends."""
    if isinstance(lines, list):
        texts = [lines[i] for i in indices]
    else:
        texts = pc.take(lines, pa.array(indices, pa.int64())).to_pylist()
    records = list(zip((first_line_no + indices).tolist(), texts, [False] * len(texts), strict=True))
    if not spans:
        return records
    by_start = {start: (count, open_) for start, count, open_ in spans}
    inside = {start + offset for start, count, _ in spans for offset in range(1, count)}
    starts = _line_offsets(utf8) if utf8 is not None else None
    out = []
    for index, (line_no, text, _) in zip(indices.tolist(), records, strict=True):
        if index in inside:
            continue
        if index in by_start:
            count, open_ = by_start[index]
            if starts is not None:
                joined = utf8[starts[index] : starts[index + count]].decode("utf-8").removesuffix("\n")
            else:
                joined = "\n".join(lines[index : index + count])
            out.append((line_no, joined.removesuffix("\r"), open_))
        else:
            out.append((line_no, text, False))
    return out


def _line_offsets(data: bytes) -> np.ndarray:
    """Where each line of `data` starts, then its end."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    return np.concatenate(([0], ends)).astype(np.int64)


KEY_SEPARATOR = "\x00"  # no loaded value holds NUL (validate.check_field), so joined keys cannot collide


def key_text(values: list[object]) -> str:
    """A row's primary key as one string: each value's canonical text (what the fast path sees in
    a canonical cell), "" for null, joined by NUL. Equal keys mean equal loaded values."""
    return KEY_SEPARATOR.join(_canonical(value) for value in values)


def _canonical(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")[:19]
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))
_POLY = np.uint64(0x100000001B3)  # FNV's 64-bit prime as the polynomial's base


def key_hashes(keys: pa.Array) -> np.ndarray:
    """A 64-bit hash of each key string (a function of the string alone, whichever rows it came with).

    18-byte keys (ID numbers) are read as two 8-byte words and a 2-byte one and mixed; other
    lengths get a polynomial over their bytes. NumPy does it a block at a time in the fast
    path's threads; equal hashes are only candidates (loader._DayKeys compares the keys).
    """
    offsets = np.frombuffer(keys.buffers()[1], dtype=np.int64 if pa.types.is_large_string(keys.type) else np.int32)
    offsets = offsets[keys.offset : keys.offset + len(keys) + 1].astype(np.int64)
    data = np.frombuffer(keys.buffers()[2] or b"", dtype=np.uint8)
    lengths = np.diff(offsets)
    out = np.zeros(len(keys), dtype=np.uint64)
    fixed = lengths == 18
    if fixed.all() and len(keys):  # a block of ID numbers: three unaligned strided views, no copy
        start, count = int(offsets[0]), len(keys)
        words = [np.ndarray((count,), "<u8", data, start + at, (18,)) for at in (0, 8)]
        words.append(np.ndarray((count,), "<u2", data, start + 16, (18,)).astype(np.uint64))
        out = words[0] * _MIX[0] ^ words[1] * _MIX[1] ^ words[2] * _MIX[2]
    elif fixed.any():
        cells = data[offsets[:-1][fixed, None] + np.arange(18)]
        padded = np.zeros((len(cells), 24), dtype=np.uint8)
        padded[:, :18] = cells
        words = padded.view(np.uint64)
        out[fixed] = words[:, 0] * _MIX[0] ^ words[:, 1] * _MIX[1] ^ words[:, 2] * _MIX[2]
    other = np.flatnonzero(~fixed)
    if len(other):
        out[other] = _polynomial(data, offsets[other], lengths[other])
    out ^= out >> np.uint64(29)
    return out * _MIX[1]


def _polynomial(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """sum((byte + 1) * base^position) mod 2^64 per string, then its length mixed in."""
    hashes = lengths.astype(np.uint64) * _MIX[2]
    present = lengths > 0
    if not present.any():
        return hashes
    starts, lengths = starts[present], lengths[present]
    first = np.cumsum(lengths) - lengths
    position = np.arange(int(lengths.sum())) - np.repeat(first, lengths)
    values = data[np.repeat(starts, lengths) + position].astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.concatenate(([np.uint64(1)], np.full(int(lengths.max()) - 1, _POLY, np.uint64))))
        hashes[present] ^= np.add.reduceat(values * powers[position], first)
    return hashes
