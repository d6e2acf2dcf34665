"""GB 11643 check digits, normalisation and keyed person keys."""

import hashlib

import pytest

from grassroots.identity import IdNumberError, check_digit, normalise_id_number, person_key

# Synthetic numbers built here, not real residents.
VALID = "11010519491231002X"


def test_check_digit_matches_iso_7064_mod_11_2() -> None:
    assert check_digit(VALID[:17]) == "X"
    assert check_digit("44052418800101001") == "4"


def test_lower_case_x_and_full_width_digits_normalise() -> None:
    assert normalise_id_number(VALID.lower()) == VALID
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in VALID)
    assert normalise_id_number(full_width) == VALID


def test_fifteen_digit_legacy_form_widens_with_a_computed_check_digit() -> None:
    legacy = VALID[:6] + VALID[8:17]
    assert normalise_id_number(legacy) == VALID


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("11010519491231002A", "id_format"),
        ("110105194912310021", "id_check_digit"),
        ("11010519491332002X", "id_birth_date"),
    ],
)
def test_invalid_numbers_name_the_rule(raw: str, rule: str) -> None:
    with pytest.raises(IdNumberError) as info:
        normalise_id_number(raw)
    assert info.value.rule == rule


def test_person_key_is_keyed_stable_and_not_plain_sha256() -> None:
    first = person_key(b"secret-one", VALID)
    assert first == person_key(b"secret-one", VALID)
    assert first != person_key(b"secret-two", VALID)
    assert first != hashlib.sha256(VALID.encode()).hexdigest()
    assert len(first) == 64
