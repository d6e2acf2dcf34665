"""The fast path's Arrow building blocks give what the row parser gives."""

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from grassroots.loading.columnar import FastPath, line_array
from grassroots.loading.contracts import get_contract
from grassroots.loading.identity import person_key, person_key_digests
from grassroots.loading.readers import text_lines


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
