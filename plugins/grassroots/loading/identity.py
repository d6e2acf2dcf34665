"""Resident identity: GB 11643 ID numbers, normalisation and keyed person keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = dt.date(1900, 1, 1)
# Province-level codes of GB/T 2260 (the first two digits of an ID number), with Taiwan (71),
# Hong Kong (81) and Macao (82).
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
# The only characters normalisation changes: full-width digits and x, lower-case x; spaces go.
_FOLD = str.maketrans({**{chr(0xFF10 + d): str(d) for d in range(10)}, "ｘ": "X", "Ｘ": "X", "x": "X"})
_SPACES = re.compile(r"[ \u3000]")
_ID18 = re.compile(r"[0-9]{17}[0-9X]")
_ID15 = re.compile(r"[0-9]{15}")


class IdNumberError(ValueError):
    """An ID number that cannot be normalised; `rule` names the failed check."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def check_digit(first17: str) -> str:
    """GB 11643 / ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalise_id_number(raw: str, latest_birth: dt.date | None = None) -> str:
    """Return the canonical 18-character ID number or raise IdNumberError naming the rule.

    Normalisation, and nothing more: full-width digits and x become ASCII, a lower-case x
    becomes X, ASCII and ideographic spaces go, and the 15-digit legacy form (births
    1900-1999) is widened to 18 digits per GB 11643 (century 19, check digit computed).
    Then, in this order: any other non-ASCII character (Arabic-Indic or superscript digits,
    letters) is `id_charset`; not 18 digits (last may be X) is `id_format`; first two digits
    not a GB/T 2260 province is `id_region`; a birth date that is not a calendar date
    between 1900-01-01 and `latest_birth` (the delivery day; no upper bound when None) is
    `id_birth_date`; a wrong check character is `id_check_digit`.
    """
    text = _SPACES.sub("", raw.translate(_FOLD))
    if not text.isascii():
        raise IdNumberError("id_charset")
    if _ID15.fullmatch(text):
        text = text[:6] + "19" + text[6:]
        text += check_digit(text)
    if not _ID18.fullmatch(text):
        raise IdNumberError("id_format")
    if text[:2] not in PROVINCES:
        raise IdNumberError("id_region")
    try:
        birth = birth_date_of(text)
    except ValueError as exc:
        raise IdNumberError("id_birth_date") from exc
    if birth < EARLIEST_BIRTH or (latest_birth is not None and birth > latest_birth):
        raise IdNumberError("id_birth_date")
    if check_digit(text[:17]) != text[17]:
        raise IdNumberError("id_check_digit")
    return text


def birth_date_of(id_number: str) -> dt.date:
    """Birth date encoded in a normalised 18-digit ID number."""
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


SHA256_BLOCK = 64  # bytes: HMAC pads its key to the hash's block


def person_key(secret: bytes, normalised_id: str) -> str:
    """Keyed pseudonym: hex HMAC-SHA256 of the normalised ID number.

    A plain SHA-256 of an ID can be reversed by enumerating the ~10^11 valid IDs;
    without the secret an HMAC cannot.
    """
    return hmac.new(secret, normalised_id.encode("ascii"), hashlib.sha256).hexdigest()


def person_key_digests(secret: bytes, normalised_ids: bytes, width: int) -> bytes:
    """`person_key`'s digests (32 bytes each, not hex) of normalised ID numbers `width` bytes each, back to back.

    HMAC (RFC 2104) from SHA-256 states keyed once: the inner and outer pads are hashed here, and
    each ID costs two copies of them and two short updates. OpenSSL's one-shot HMAC
    (`hmac.digest`) sets the key up again for every ID: 1.5 s per million IDs against 0.8 s, under
    the GIL either way (the messages are too short for hashlib to release it). `person_key`
    (`hmac.new`) is the reference: tests/unit/test_fastpath_blocks.py compares them on random keys
    and IDs.
    """
    key = hashlib.sha256(secret).digest() if len(secret) > SHA256_BLOCK else secret
    key = key.ljust(SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key)).copy
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key)).copy

    def digest(message: bytes) -> bytes:
        state = inner()
        state.update(message)
        result = outer()
        result.update(state.digest())
        return result.digest()

    return b"".join(digest(normalised_ids[at : at + width]) for at in range(0, len(normalised_ids), width))
