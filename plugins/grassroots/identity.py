"""Resident identity: GB 11643 ID numbers, normalisation and keyed person keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
KEY_VERSION = 1

_ID18 = re.compile(r"^\d{17}[\dX]$")
_ID15 = re.compile(r"^\d{15}$")


class IdNumberError(ValueError):
    """An ID number that cannot be normalised; `rule` names the failed check."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def check_digit(first17: str) -> str:
    """GB 11643 / ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalise_id_number(raw: str) -> str:
    """Return the canonical 18-character ID number or raise IdNumberError.

    Full-width digits and letters become ASCII (NFKC), spaces go, a lower-case x
    becomes X, and the 15-digit legacy form (pre-1999, 19xx births) is widened to 18
    digits with its check digit computed.
    """
    text = unicodedata.normalize("NFKC", raw).strip().replace(" ", "").upper()
    if _ID15.match(text):
        text = text[:6] + "19" + text[6:]
        text += check_digit(text)
    if not _ID18.match(text):
        raise IdNumberError("id_format")
    try:
        dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError as exc:
        raise IdNumberError("id_birth_date") from exc
    if check_digit(text[:17]) != text[17]:
        raise IdNumberError("id_check_digit")
    return text


def birth_date_of(id_number: str) -> dt.date:
    """Birth date encoded in a normalised 18-digit ID number."""
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def gender_of(id_number: str) -> str:
    """男 or 女 from the sequence digit (odd for men)."""
    return "男" if int(id_number[16]) % 2 else "女"


def person_key(secret: bytes, normalised_id: str) -> str:
    """Keyed pseudonym: hex HMAC-SHA256 of the normalised ID number.

    A plain SHA-256 of an ID can be reversed by enumerating the ~10^11 valid IDs;
    without the secret an HMAC cannot.
    """
    return hmac.new(secret, normalised_id.encode("ascii"), hashlib.sha256).hexdigest()
