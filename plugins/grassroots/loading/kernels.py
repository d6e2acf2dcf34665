"""Compiled kernels for the loader's byte-level hot loops: HMAC-SHA256, GB18030 decoding, binary COPY rows.

They run in Numba-compiled code without the GIL, so the loader's validation threads use
both cores. The first two are checked against the standard library
(tests/unit/test_kernels.py): `hmac` for the person keys, over many secrets and lengths,
and Python's own `gb18030` codec, whose tables the decoder is built from (every two-byte
code and the four-byte ranges are compared). The row writer is checked against psycopg's binary
COPY on random values of every column type, numeric scale and UTC offset
(tests/unit/test_column_types.py), and through the fast path, whose tables must equal the row
parser's (tests/integration/test_fastpath.py). The first call compiles a kernel (about nine
seconds for all three); Numba caches the machine code beside this file (or in the user's cache
folder), so later processes load it in about half a second.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import unicodedata

import numba
import numpy as np

# The kernels by name: `columnar.FastPath(library=...)` replaces any of them by its library path.
KERNELS = frozenset({"decoder", "hmac", "row_writer"})

_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    ],
    dtype=np.uint64,
)  # fmt: skip
_MASK = np.uint64(0xFFFFFFFF)
_LANES = 16  # messages hashed side by side: the inner loops run over lanes, which the compiler vectorises
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MAX_MESSAGE = 55  # the message and its padding fit one 64-byte block


@numba.njit(inline="always")
def _rotr(x: np.uint64, n: int) -> np.uint64:
    return ((x >> np.uint64(n)) | (x << np.uint64(32 - n))) & _MASK


@numba.njit(nogil=True, cache=True)
def _compress(state: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """SHA-256 compression of one block per lane: `state` and `out` (8, lanes), `w` (64, lanes) with words 0-15 set.

    32-bit words are held in uint64 and masked after each addition (Numba widens uint32 arithmetic).
    """
    lanes = w.shape[1]
    for t in range(16, 64):
        for lane in range(lanes):
            x, y = w[t - 15, lane], w[t - 2, lane]
            s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> np.uint64(3))
            s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> np.uint64(10))
            w[t, lane] = (w[t - 16, lane] + s0 + w[t - 7, lane] + s1) & _MASK
    v = state.copy()  # rows a..h
    for t in range(64):
        for lane in range(lanes):
            a, e = v[0, lane], v[4, lane]
            s1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
            choice = (e & v[5, lane]) ^ (~e & v[6, lane] & _MASK)
            t1 = v[7, lane] + s1 + choice + _K[t] + w[t, lane]
            s0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
            majority = (a & v[1, lane]) ^ (a & v[2, lane]) ^ (v[1, lane] & v[2, lane])
            v[7, lane], v[6, lane], v[5, lane] = v[6, lane], v[5, lane], e
            v[4, lane] = (v[3, lane] + t1) & _MASK
            v[3, lane], v[2, lane], v[1, lane] = v[2, lane], v[1, lane], a
            v[0, lane] = (t1 + s0 + majority) & _MASK
    for i in range(8):
        for lane in range(lanes):
            out[i, lane] = (state[i, lane] + v[i, lane]) & _MASK


@numba.njit(nogil=True, cache=True)
def _hmac_hex(inner: np.ndarray, outer: np.ndarray, messages: np.ndarray, out: np.ndarray) -> None:
    """HMAC-SHA256 of each row of `messages` (n, length ≤ 55) as 64 hex digits in `out` (n, 64).

    `inner`/`outer`: the SHA-256 states after the key's ipad/opad block, so each message
    costs two compressions: its own padded block, then the inner digest's.
    """
    n, length = messages.shape
    lanes = inner.shape[1]
    w = np.zeros((64, lanes), np.uint64)
    middle = np.zeros((8, lanes), np.uint64)
    final = np.zeros((8, lanes), np.uint64)
    block = np.zeros(64, np.uint8)
    bits = (64 + length) * 8
    for base in range(0, n, lanes):
        for lane in range(lanes):
            row = min(base + lane, n - 1)  # the last group repeats its final message in spare lanes
            block[:] = 0
            block[:length] = messages[row]
            block[length] = 0x80
            block[62], block[63] = bits >> 8, bits & 0xFF
            for t in range(16):
                word = np.uint64(0)
                for k in range(4):
                    word = (word << np.uint64(8)) | np.uint64(block[4 * t + k])
                w[t, lane] = word
        _compress(inner, w, middle)
        for lane in range(lanes):
            w[0:8, lane] = middle[:, lane]
            w[8, lane] = 0x80000000
            w[9:15, lane] = 0
            w[15, lane] = (64 + 32) * 8
        _compress(outer, w, final)
        for lane in range(min(lanes, n - base)):
            for i in range(8):
                word = final[i, lane]
                for k in range(8):
                    out[base + lane, 8 * i + k] = _HEX[(word >> np.uint64(28 - 4 * k)) & np.uint64(15)]


def _pad_state(key: bytes, pad: int) -> np.ndarray:
    """The SHA-256 state after one block of `key` (64 bytes) XOR `pad`, repeated across the lanes."""
    words = np.frombuffer(bytes(b ^ pad for b in key), dtype=">u4").astype(np.uint64)
    w = np.zeros((64, _LANES), np.uint64)
    w[:16] = words[:, None]
    initial = np.array(
        [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
        dtype=np.uint64,
    )
    state = np.zeros((8, _LANES), np.uint64)
    _compress(np.repeat(initial[:, None], _LANES, axis=1), w, state)
    return state


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) under one secret for many equal-length messages at once."""

    def __init__(self, secret: bytes) -> None:
        key = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
        self._inner = _pad_state(key, 0x36)
        self._outer = _pad_state(key, 0x5C)

    def hex_digests(self, messages: np.ndarray) -> np.ndarray:
        """For `messages` (n, length) uint8 with length ≤ 55: the hex digests, (n, 64) ASCII bytes."""
        if messages.ndim != 2 or messages.shape[1] > _MAX_MESSAGE:
            raise ValueError(f"messages must be rows of at most {_MAX_MESSAGE} bytes")
        out = np.empty((messages.shape[0], 64), np.uint8)
        if len(messages):
            _hmac_hex(self._inner, self._outer, np.ascontiguousarray(messages, dtype=np.uint8), out)
        return out


@numba.njit(inline="always")
def _four_byte(four: np.ndarray, b1: np.int64, b2: np.int64, b3: np.int64, b4: np.int64) -> np.int64:
    """The code point of a four-byte GB18030 code (0: none)."""
    linear = (b1 - 0x81) * 12600 + (b2 - 0x30) * 1260 + (b3 - 0x81) * 10 + (b4 - 0x30)
    if linear < four.shape[0]:
        return np.int64(four[linear])
    if 189000 <= linear < 189000 + 0x100000:  # 0x90308130 onwards: the planes above the BMP
        return linear - 189000 + 0x10000
    return 0


@numba.njit(inline="always")
def _put_utf8(dst: np.ndarray, o: int, cp: np.int64) -> int:
    """Code point `cp` in UTF-8 at `o`; the offset after it."""
    if cp < 0x80:
        dst[o] = cp
        return o + 1
    if cp < 0x800:
        dst[o], dst[o + 1] = 0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)
        return o + 2
    if cp < 0x10000:
        dst[o], dst[o + 1], dst[o + 2] = 0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)
        return o + 3
    dst[o], dst[o + 1] = 0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F)
    dst[o + 2], dst[o + 3] = 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)
    return o + 4


@numba.njit(nogil=True, cache=True)
def _utf8_of_gb18030(
    src: np.ndarray, two: np.ndarray, four: np.ndarray, safe: np.ndarray, dst: np.ndarray
) -> tuple[int, int, bool]:
    """GB18030 bytes to UTF-8: (bytes written, offset of the first byte it cannot decode or -1,
    whether every character is NFKC-safe in any context)."""
    n, i, o, stable = src.shape[0], 0, 0, True
    while i < n:
        lead = np.int64(src[i])
        if lead < 0x80:
            dst[o] = lead
            o += 1
            i += 1
            continue
        if lead == 0x80 or lead == 0xFF or i + 1 >= n:  # noqa: PLR1714 (numba: plain compares, no set)
            return o, i, stable
        second = np.int64(src[i + 1])
        if 0x30 <= second <= 0x39:  # four bytes: lead, digit, 0x81-0xFE, digit
            if i + 3 >= n or not (0x81 <= src[i + 2] <= 0xFE and 0x30 <= src[i + 3] <= 0x39):
                return o, i, stable
            cp, width = _four_byte(four, lead, second, np.int64(src[i + 2]), np.int64(src[i + 3])), 4
        else:
            cp, width = np.int64(two[(lead - 0x81) * 256 + second]), 2
        if cp == 0:
            return o, i, stable
        i += width
        if cp >= 0x10000 or safe[cp] == 0:
            stable = False
        o = _put_utf8(dst, o, cp)
    return o, -1, stable


@functools.cache
def _gb18030_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Python's own gb18030 codec as lookup tables (0: not decodable), and the NFKC-safe BMP characters.

    two: (lead - 0x81) * 256 + trail → code point; four: the linear index of a four-byte
    code below 0x90308130 → its BMP code point (Python's codec defines both).
    """
    two = np.zeros(126 * 256, np.uint32)
    for lead in range(0x81, 0xFF):
        for trail in (*range(0x40, 0x7F), *range(0x80, 0xFF)):
            two[(lead - 0x81) * 256 + trail] = _code_point(bytes((lead, trail)))
    four = np.zeros(39420, np.uint32)
    for linear in range(len(four)):
        b1, rest = divmod(linear, 12600)
        b2, rest = divmod(rest, 1260)
        b3, b4 = divmod(rest, 10)
        four[linear] = _code_point(bytes((0x81 + b1, 0x30 + b2, 0x81 + b3, 0x30 + b4)))
    return two, four, _nfkc_safe()


def _code_point(code: bytes) -> int:
    try:
        text = code.decode("gb18030")
    except UnicodeDecodeError:
        return 0
    return ord(text) if len(text) == 1 else 0


def _nfkc_safe() -> np.ndarray:
    """BMP characters that leave any text around them NFKC-normalised: NFKC maps them to
    themselves, they are starters (combining class 0) and never the second part of a
    canonical composition (nor a Hangul vowel or final consonant jamo)."""
    second = {*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)}
    for cp in range(0x10000):
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second.add(int(parts[1], 16))
    safe = np.zeros(0x10000, np.uint8)
    for cp in range(0x10000):
        char = chr(cp)
        if not (0xD800 <= cp <= 0xDFFF or cp in second or unicodedata.combining(char)):
            safe[cp] = unicodedata.normalize("NFKC", char) == char
    return safe


def utf8_of_gb18030(data: bytes) -> tuple[bytes, bool] | None:
    """`data` (GB18030) as UTF-8 and whether it is NFKC-normalised for sure; None where it does
    not decode (the caller decodes with Python's codec, which names the error)."""
    two, four, safe = _gb18030_tables()
    out = np.empty(len(data) * 3 // 2 + 4, np.uint8)
    written, bad, stable = _utf8_of_gb18030(np.frombuffer(data, np.uint8), two, four, safe, out)
    if bad >= 0:
        return None
    return out[:written].tobytes(), bool(stable)


# The binary COPY encoders of `copy_binary_rows`, by name (column_types.ColumnType.encoding names
# one for each contract type): their codes in the `kinds` it takes.
_TEXT, _DATE, _INT4, _BOOL, _TIMESTAMPTZ, _NUMERIC = range(6)
ENCODINGS = {
    "text": _TEXT,
    "date": _DATE,
    "int4": _INT4,
    "bool": _BOOL,
    "timestamptz": _TIMESTAMPTZ,
    "numeric": _NUMERIC,
}
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_TRAILER = b"\xff\xff"
_PG_EPOCH_DAYS = 10957  # 2000-01-01, PostgreSQL's epoch for dates and timestamps, in days from 1970-01-01


@numba.njit(inline="always")
def _digits(data: np.ndarray, start: int, count: int) -> np.int64:
    value = np.int64(0)
    for i in range(start, start + count):
        value = value * 10 + (np.int64(data[i]) - 48)
    return value


@numba.njit(inline="always")
def _days(data: np.ndarray, at: int) -> np.int64:
    """Days from 2000-01-01 of the calendar date YYYY-MM-DD at `at` (Hinnant's days_from_civil)."""
    year, month, day = _digits(data, at, 4), _digits(data, at + 5, 2), _digits(data, at + 8, 2)
    year -= 1 if month <= 2 else 0
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468 - _PG_EPOCH_DAYS


@numba.njit(inline="always")
def _put(out: np.ndarray, at: int, value: np.int64, width: int) -> int:
    """`value` big-endian in `width` bytes at `at`; the offset after it."""
    for i in range(width):
        out[at + i] = (value >> (8 * (width - 1 - i))) & 0xFF
    return at + width


@numba.njit(inline="always")
def _put_groups(out: np.ndarray, o: int, value: np.int64, count: int) -> int:
    """`value`'s `count` base-10000 digits, the most significant first, as binary numeric digits."""
    divisor = np.int64(1)
    for _ in range(count - 1):
        divisor *= 10000
    for _ in range(count):
        o = _put(out, o, (value // divisor) % 10000, 2)
        divisor //= 10000
    return o


@numba.njit(inline="always")
def _decimal(data: np.ndarray, start: int, end: int, fraction_groups: int) -> tuple[np.int64, np.int64]:
    """The integer part of a canonical -?digits[.digits] and its decimals as `fraction_groups`
    base-10000 digits (padded with zeros)."""
    i = start + 1 if data[start] == 45 else start
    units, fraction = np.int64(0), np.int64(0)
    while i < end and data[i] != 46:
        units = units * 10 + (np.int64(data[i]) - 48)
        i += 1
    places = 0
    for at in range(i + 1, end):  # the decimals after the point, if any
        fraction = fraction * 10 + (np.int64(data[at]) - 48)
        places += 1
    for _ in range(places, 4 * fraction_groups):
        fraction *= 10
    return units, fraction


@numba.njit(inline="always")
def _trimmed(units: np.int64, fraction: np.int64, fraction_groups: int) -> tuple[np.int64, int, np.int64, int, int]:
    """A decimal's base-10000 digits without leading or trailing zero digits: (integer part, its
    digit count, fraction, its digit count, weight of the first digit)."""
    unit_groups, rest = 0, units
    while rest > 0:
        rest //= 10000
        unit_groups += 1
    weight = unit_groups - 1
    while fraction_groups > 0 and fraction % 10000 == 0:
        fraction //= 10000
        fraction_groups -= 1
    while fraction_groups == 0 and unit_groups > 0 and units % 10000 == 0:
        units //= 10000
        unit_groups -= 1
    if unit_groups == 0:  # 0.xx: the fraction's leading zero digits
        top = np.int64(1)
        for _ in range(fraction_groups - 1):
            top *= 10000
        while fraction_groups > 0 and fraction < top:
            fraction_groups -= 1
            top //= 10000
            weight -= 1
    return units, unit_groups, fraction, fraction_groups, weight


@numba.njit(inline="always")
def _put_numeric(out: np.ndarray, o: int, data: np.ndarray, start: int, end: int, scale: int) -> int:
    """A canonical -?digits[.digits] (at most `scale` decimals) as PostgreSQL's binary numeric:
    base-10000 digits, the integer part's then the fraction's; display scale `scale`."""
    units, fraction = _decimal(data, start, end, (scale + 3) // 4)
    units, unit_groups, fraction, fraction_groups, weight = _trimmed(units, fraction, (scale + 3) // 4)
    ndigits = unit_groups + fraction_groups
    negative = data[start] == 45 and ndigits > 0
    o = _put(out, o, 8 + 2 * ndigits, 4)
    o = _put(out, o, ndigits, 2)
    o = _put(out, o, weight if ndigits else 0, 2)
    o = _put(out, o, 0x4000 if negative else 0, 2)
    o = _put(out, o, scale, 2)
    o = _put_groups(out, o, units, unit_groups)
    return _put_groups(out, o, fraction, fraction_groups)


@numba.njit(inline="always")
def _put_cell(
    out: np.ndarray, o: int, data: np.ndarray, start: int, end: int, kind: int, scale: int, utc_offset: int
) -> int:
    """One non-empty cell of an `ENCODINGS` kind as a binary COPY field (length, then value); `scale`:
    a numeric's, `utc_offset`: the seconds a timestamp's local time is ahead of UTC."""
    if kind == _TEXT:
        o = _put(out, o, end - start, 4)
        out[o : o + end - start] = data[start:end]
        return o + end - start
    if kind == _DATE:
        return _put(out, _put(out, o, 4, 4), _days(data, start), 4)
    if kind == _INT4:
        negative = data[start] == 45
        value = _digits(data, start + 1, end - start - 1) if negative else _digits(data, start, end - start)
        return _put(out, _put(out, o, 4, 4), -value if negative else value, 4)
    if kind == _BOOL:  # 1, true, 是 (UTF-8 starts 0xE6) / 0, false, 否 (0xE5)
        first = data[start]
        return _put(out, _put(out, o, 1, 4), 1 if first == 49 or first == 116 or first == 0xE6 else 0, 1)  # noqa: PLR1714 (numba)
    if kind == _TIMESTAMPTZ:
        seconds = _days(data, start) * 86400 + _digits(data, start + 11, 2) * 3600
        seconds += _digits(data, start + 14, 2) * 60 + _digits(data, start + 17, 2) - utc_offset
        return _put(out, _put(out, o, 8, 4), seconds * 1_000_000, 8)
    return _put_numeric(out, o, data, start, end, scale)


@numba.njit(nogil=True, cache=True)
def _binary_rows(
    data: np.ndarray,
    cells: np.ndarray,
    kinds: np.ndarray,
    scales: np.ndarray,
    utc_offset: int,
    keep: np.ndarray,
    keys: np.ndarray,
    key_cells: np.ndarray,
    absent: int,
    ds_days: int,
    batch_id: int,
    line_nos: np.ndarray,
    out: np.ndarray,
) -> int:
    width = kinds.shape[0]
    total = width + keys.shape[0] + absent + 3
    o = 0
    for row in range(keep.shape[0]):
        if not keep[row]:
            continue
        o = _put(out, o, total, 2)
        first = row * width
        for column in range(width):
            start, end = cells[first + column], cells[first + column + 1]
            if start == end:
                o = _put(out, o, -1, 4)
            else:
                o = _put_cell(out, o, data, start, end, kinds[column], scales[column], utc_offset)
        for k in range(keys.shape[0]):
            if cells[first + key_cells[k]] == cells[first + key_cells[k] + 1]:
                o = _put(out, o, -1, 4)
            else:
                o = _put(out, o, 64, 4)
                out[o : o + 64] = keys[k, row]
                o += 64
        for _ in range(absent):
            o = _put(out, o, -1, 4)
        o = _put(out, _put(out, o, 4, 4), ds_days, 4)
        o = _put(out, _put(out, o, 8, 4), batch_id, 8)
        o = _put(out, _put(out, o, 4, 4), line_nos[row], 4)
    return o


def copy_binary_rows(
    data: np.ndarray,
    cells: np.ndarray,
    kinds: np.ndarray,
    scales: np.ndarray,
    utc_offset: dt.timedelta,
    keep: np.ndarray,
    keys: np.ndarray,
    key_cells: np.ndarray,
    absent: int,
    ds: dt.date,
    batch_id: int,
    line_nos: np.ndarray,
) -> np.ndarray:
    """Rows in PostgreSQL's binary COPY format (no signature or trailer), from canonical CSV cells.

    `data`/`cells`: the cells' UTF-8 bytes and offsets, `len(kinds)` cells per row (empty is
    null); `kinds`: each file column's `ENCODINGS` code, `scales` its numeric scale (else 0);
    timestamps are local time, `utc_offset` ahead of UTC; `keep`: the rows to write; `keys` (key
    columns, rows, 64): hex person keys, null where the ID cell at `key_cells` is empty; then
    `absent` nulls, the load day, the batch id and each row's line number. Cells must have
    passed the fast path's checks: dates are calendar dates, numbers fit their columns.
    """
    rows = int(keep.sum())
    text = int(cells[-1] - cells[0])
    bound = text + rows * (2 + 20 * len(kinds) + 68 * keys.shape[0] + 4 * absent + 24)
    out = np.empty(bound, np.uint8)
    ds_days = (ds - dt.date(2000, 1, 1)).days
    offset = int(utc_offset.total_seconds())
    written = _binary_rows(
        data, cells, kinds, scales, offset, keep, keys, key_cells, absent, ds_days, batch_id, line_nos, out
    )
    return out[:written]
