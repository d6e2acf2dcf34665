"""The fast path's Arrow building blocks give what the row parser gives."""

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from grassroots.loading.columnar import FastPath, line_array
from grassroots.loading.contracts import get_contract
from grassroots.loading.identity import person_key, person_key_digests
from grassroots.loading.readers import text_lines
from tests.copy_text import block_rows


def test_arrow_lines_equal_python_lines_for_every_line_end() -> None:
    text = "a,b\n\n王芳,䶮\r\nx\r\r\n\r\n\ry,z\n,\n"
    assert line_array(text).to_pylist() == text_lines(text)[0]
    assert line_array("plain\n").to_pylist() == ["plain"]


def test_block_person_keys_equal_the_reference_and_keep_nulls() -> None:
    contract = get_contract("population_registry")
    fast = FastPath(contract, contract.column_names, b"secret", dt.date(2026, 11, 24), 1)
    ids = ["11010519491231002X", None, "110105194912310037", ""]
    keys = fast._keys(pa.array(ids, pa.string()))
    assert [bytes(k).decode("ascii") for k in keys[[0, 2]]] == [person_key(b"secret", ids[i]) for i in (0, 2)]
    assert not keys[[1, 3]].any(), "no key where the ID is empty"
    assert fast._keys(pa.array([None, None], pa.string())).shape == (2, 64)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(secret=st.binary(max_size=100), ids=st.lists(st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True), max_size=20))
def test_block_person_keys_equal_hmac_for_any_secret(secret: bytes, ids: list[str]) -> None:
    """The fast path's keys (one OpenSSL HMAC per ID, hex by NumPy) are `person_key`'s, for secrets of
    any length (longer than SHA-256's block too)."""
    digests = person_key_digests(secret, "".join(ids).encode("ascii"), 18)
    assert [digests[32 * i : 32 * i + 32].hex() for i in range(len(ids))] == [person_key(secret, i) for i in ids]
    contract = get_contract("population_registry")
    keys = FastPath(contract, contract.column_names, secret, dt.date(2026, 11, 24), 1)._keys(pa.array(ids, pa.string()))
    assert [bytes(k).decode("ascii") for k in keys] == [person_key(secret, i) for i in ids]


def test_key_hashes_are_a_function_of_the_key_alone() -> None:
    from grassroots.loading.columnar import key_hashes

    ids = [f"33010619{n:010d}" for n in range(50)]
    together = key_hashes(pa.array(ids))
    mixed = key_hashes(pa.array([*ids[:5], "GI1", "", "a" * 40]))
    assert (mixed[:5] == together[:5]).all(), "an ID hashes alike in a block of IDs and among other keys"
    assert (key_hashes(pa.array(ids).slice(7, 9)) == together[7:16]).all()
    assert (key_hashes(pa.array(["GI1", "x"]).cast(pa.large_string())) == key_hashes(pa.array(["GI1", "x"]))).all()
    assert len(set(together.tolist()) | set(mixed[5:].tolist())) == 53


REGISTRY_HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,住址,社区编码,网格编码,户号,人口类型,关注等级,独居,数据日期"
DAY = dt.date(2026, 11, 24)


@st.composite
def _date_cells(draw: st.DrawFn) -> tuple[str, bool]:
    """A date cell as a department writes it, and whether it is in the date type's `forms` (which the
    fast path must take when the row parser loads it): every separator and padding the row parser
    reads, days that are no calendar date, year 0, and spellings only the row parser reads."""
    year = draw(st.sampled_from([0, 1, 1900, 1949, 2000, 2024, 2026, 9999]) | st.integers(0, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    if draw(st.integers(0, 9)) == 0:  # eight digits
        return f"{year:04d}{month:02d}{day:02d}", True
    separators = st.sampled_from("-/.年")
    first, second = draw(separators), draw(st.sampled_from("-/.月"))
    month_text = f"{month:02d}" if draw(st.booleans()) else str(month)
    day_text = f"{day:02d}" if draw(st.booleans()) else str(day)
    text = f"{year:04d}{first}{month_text}{second}{day_text}{'日' if draw(st.booleans()) else ''}"
    odd = draw(st.sampled_from(["", "", "", "", "space", "full-width", "three-digit day"]))
    if odd == "space":
        return f" {text}", False
    if odd == "full-width":
        return text.replace("1", "１"), "1" not in text
    if odd == "three-digit day":
        return f"{year:04d}-{month:02d}-0{day:02d}", False
    return text, True


@st.composite
def _id_cells(draw: st.DrawFn) -> tuple[str, bool]:
    """An ID number as a department writes it, and whether it is in the id_number type's `forms`: a
    check character right or wrong, X in either case, the 15-digit legacy form, full-width digits
    and x, birth dates out of range or no calendar date, a space (only the row parser drops it)."""
    from grassroots.loading.identity import check_digit

    birth = draw(
        st.dates(dt.date(1899, 12, 1), dt.date(2026, 12, 31)).map(lambda d: f"{d:%Y%m%d}") | st.just("19501332")
    )
    first17 = f"{draw(st.sampled_from(['11', '33', '44', '00']))}0106{birth}{draw(st.integers(0, 999)):03d}"
    check = check_digit(first17) if draw(st.integers(0, 5)) else draw(st.sampled_from("0123456789Xx"))
    if check == "X" and draw(st.booleans()):
        check = "x"
    text = first17[:6] + first17[8:] if draw(st.integers(0, 5)) == 0 else first17 + check  # legacy 15 digits
    width = draw(st.sampled_from(["ascii", "ascii", "ascii", "some", "all"]))
    if width != "ascii":
        wide = {**{str(d): chr(0xFF10 + d) for d in range(10)}, "X": "Ｘ", "x": "ｘ"}
        text = "".join(wide[c] if width == "all" or draw(st.booleans()) else c for c in text)
    if draw(st.integers(0, 9)) == 0:
        return text[:6] + draw(st.sampled_from([" ", "\u3000"])) + text[6:], False
    return text, True


@settings(max_examples=300, derandomize=True, deadline=None)
@given(rows=st.lists(st.tuples(_id_cells(), _date_cells(), _date_cells() | st.just(("", True))), min_size=1))
def test_fast_path_takes_the_registry_forms_exactly_as_the_row_parser_loads_them(
    rows: list[tuple[tuple[str, bool], tuple[str, bool], tuple[str, bool]]],
) -> None:
    """Dates in every spelling parsers.parse_date reads and ID numbers in every form
    identity.normalise_id_number reads but spaces stay on the fast path when the row parser would
    load them, with the row parser's values (person keys included); a row the row parser turns
    away never takes the fast path."""
    from grassroots.loading.loader import _FileLoader, _reorder
    from grassroots.loading.readers import csv_record

    contract = get_contract("population_registry")
    header = REGISTRY_HEADER.split(",")
    fast = FastPath(contract, [contract.header_map()[h] for h in header], b"k", DAY, 7)
    loader = _FileLoader(contract, b"k", DAY)
    lines = [
        f"{id_number},王芳,女,{birth},13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是,{extract}"
        for (id_number, _), (birth, _), (extract, _) in rows
    ]
    block = fast.process(lines, 2)
    slow = {line_no for line_no, _, _ in block.slow}
    written = {row[-1]: row for row in block_rows(fast, block)}
    assert len(slow) + len(written) == len(lines) and block.rows == len(written)
    order = _reorder(contract, fast.copy_columns)
    for line_no, (line, cells) in enumerate(zip(lines, rows, strict=True), start=2):
        parsed, _, rule = loader.parse(csv_record(line_no, line, header))
        if line_no in written:
            assert parsed is not None, (line, rule)
            assert written[line_no] == (*order(parsed), DAY, 7, line_no), line
        elif parsed is not None:
            assert not all(in_forms for _, in_forms in cells), (
                f"a loadable row in the fast path's forms went slow: {line}"
            )
