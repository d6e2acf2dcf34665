"""GB 11643 check digits, normalisation and keyed person keys."""

import hashlib

import pytest

from grassroots.loading.identity import IdNumberError, check_digit, normalise_id_number, person_key

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


def _id(first17: str) -> str:
    return first17 + check_digit(first17)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("".join(chr(0x0660 + int(c)) for c in VALID[:17]) + "X", "id_charset"),  # Arabic-Indic digits
        (VALID.replace("1", "¹", 1), "id_charset"),  # superscript one, which NFKC would fold
        (VALID.replace("1", "١", 1), "id_charset"),
        ("１１０１０５１９４９１２３１００２Ｘ", None),  # full-width digits and X: normalised
        ("11010519491231002ｘ", None),
        ("110105 19491231 002x", None),
        ("1101051949123100", "id_format"),  # 16 digits
        (_id("00000019491231002"), "id_region"),
        (_id("99010519491231002"), "id_region"),
        (_id("11010518991231002"), "id_birth_date"),  # before 1900
        (_id("11010500010101002"), "id_birth_date"),
        (_id("11010520261125002"), "id_birth_date"),  # after the delivery day below
        (_id("11010520261124002"), None),  # born on the delivery day
        (_id("11010519490229002"), "id_birth_date"),  # not a leap year
    ],
)
def test_each_id_rule_is_named_and_applies_the_delivery_day(raw: str, rule: str | None) -> None:
    import datetime as dt

    if rule is None:
        assert normalise_id_number(raw, dt.date(2026, 11, 24))[:6] in {"110105"}
        return
    with pytest.raises(IdNumberError) as info:
        normalise_id_number(raw, dt.date(2026, 11, 24))
    assert info.value.rule == rule


def test_the_fifteen_digit_form_is_widened_per_the_standard_and_checked_like_any_other() -> None:
    assert normalise_id_number("110105491231002") == _id("11010519491231002")
    with pytest.raises(IdNumberError, match="id_region"):
        normalise_id_number("000000491231002")
    with pytest.raises(IdNumberError, match="id_birth_date"):
        normalise_id_number("110105491331002")
