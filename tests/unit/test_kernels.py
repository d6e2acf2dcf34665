"""The compiled kernels give what the standard library gives: hmac for person keys, Python's gb18030 codec."""

from __future__ import annotations

import hashlib
import hmac
import random
import unicodedata

import numpy as np
import pytest

from grassroots.loading.kernels import HmacSha256, _gb18030_tables, utf8_of_gb18030


@pytest.mark.parametrize("secret", [b"", b"k", b"s" * 63, b"x" * 64, b"y" * 65, bytes(range(256))])
def test_hmac_equals_the_standard_library_for_every_message_length(secret: bytes) -> None:
    rng = random.Random(len(secret))
    keys = HmacSha256(secret)
    for length in range(56):
        count = rng.choice([1, 15, 16, 37])  # whole and partial groups of lanes
        messages = np.frombuffer(rng.randbytes(count * length), np.uint8).reshape(count, length)
        digests = keys.hex_digests(messages)
        expected = [hmac.new(secret, bytes(m), hashlib.sha256).hexdigest() for m in messages]
        assert [bytes(d).decode("ascii") for d in digests] == expected


def test_hmac_refuses_messages_longer_than_one_block_and_takes_none() -> None:
    keys = HmacSha256(b"k")
    assert keys.hex_digests(np.zeros((0, 18), np.uint8)).shape == (0, 64)
    with pytest.raises(ValueError, match="at most 55"):
        keys.hex_digests(np.zeros((2, 56), np.uint8))


def _python(code: bytes) -> tuple[bytes, bool] | None:
    try:
        text = code.decode("gb18030")
    except UnicodeDecodeError:
        return None
    return text.encode("utf-8"), unicodedata.is_normalized("NFKC", text)


def test_gb18030_decoder_equals_python_for_every_one_and_two_byte_code() -> None:
    for lead in range(256):
        for trail in range(256) if lead >= 0x80 else [0x41]:
            code = bytes((lead, trail))
            got, expected = utf8_of_gb18030(code), _python(code)
            assert (got is None) == (expected is None), code.hex()
            if got is not None:
                assert got[0] == expected[0], code.hex()
                assert not got[1] or expected[1], f"{code.hex()} is not NFKC-stable"


def test_gb18030_decoder_equals_python_for_four_byte_codes() -> None:
    rng = random.Random(18030)
    linear = [*range(0, 39420, 3), *range(39420, 40000), *(rng.randrange(189000, 1_300_000) for _ in range(20000))]
    for index in linear:
        b1, rest = divmod(index, 12600)
        b2, rest = divmod(rest, 1260)
        b3, b4 = divmod(rest, 10)
        if 0x81 + b1 > 0xFE:
            continue
        code = bytes((0x81 + b1, 0x30 + b2, 0x81 + b3, 0x30 + b4))
        got, expected = utf8_of_gb18030(code), _python(code)
        assert (got is None) == (expected is None), code.hex()
        if got is not None:
            assert got[0] == expected[0], code.hex()


def test_gb18030_decoder_gives_up_on_cut_and_stray_bytes() -> None:
    for bad in (b"ab\x81", b"\x80", b"\xff", b"\x81\x30\x81", b"\x81\x30\x20\x30", "王".encode("gb18030")[:1] + b"\n"):
        assert utf8_of_gb18030(bad) is None
        assert _python(bad) is None
    text = "王芳,䶮,𠀀,Ａ,1号\n"
    assert utf8_of_gb18030(text.encode("gb18030")) == (text.encode("utf-8"), False)
    assert utf8_of_gb18030("王芳,䶮,1号\n".encode("gb18030")) == ("王芳,䶮,1号\n".encode(), True)


def test_nfkc_safe_characters_stay_normalised_next_to_each_other() -> None:
    safe = np.flatnonzero(_gb18030_tables()[2])
    rng = random.Random(7)
    neighbours = [chr(c) for c in rng.sample(list(safe), 2000)]
    for cp in safe:
        char = chr(cp)
        text = "e" + char + "ᄀ" + char + rng.choice(neighbours) + char
        assert unicodedata.is_normalized("NFKC", text), hex(cp)
    assert not _gb18030_tables()[2][ord("Ａ")] and not _gb18030_tables()[2][0x0301]
