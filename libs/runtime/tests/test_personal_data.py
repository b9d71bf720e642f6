from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bangke_runtime.personal_data import (
    InvalidIdNumber,
    id_check_character,
    id_number_digest,
    is_valid_mobile,
    make_id_number,
    mask_id_number,
    mask_mobile,
    validate_id_number,
)


def test_published_example_with_x_check_character():
    assert validate_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("11010519491231002", "id_number_format"),
        ("1101051949123100233", "id_number_format"),
        ("11010519491231002A", "id_number_format"),
        ("01010519491231002X", "id_number_region"),
        ("110105194913310027", "id_number_birth_date"),
        ("110105194902300027", "id_number_birth_date"),
        ("110105194912310021", "id_number_check_character"),
    ],
)
def test_invalid_id_numbers(number, reason):
    with pytest.raises(InvalidIdNumber) as error:
        validate_id_number(number)
    assert error.value.reason == reason
    assert error.value.message


def test_birth_date_in_future_rejected():
    number = make_id_number("110101", date(2030, 1, 1), 1)
    with pytest.raises(InvalidIdNumber) as error:
        validate_id_number(number, today=date(2026, 12, 4))
    assert error.value.reason == "id_number_birth_date"


@given(
    birth=st.dates(min_value=date(1940, 1, 1), max_value=date(2008, 12, 31)),
    sequence=st.integers(min_value=0, max_value=999),
)
def test_generated_numbers_validate(birth, sequence):
    number = make_id_number("440304", birth, sequence)
    assert validate_id_number(number) == number
    assert id_check_character(number[:17]) == number[17]


@given(digit=st.integers(min_value=0, max_value=9), position=st.integers(min_value=0, max_value=16))
def test_single_digit_change_breaks_check(digit, position):
    number = make_id_number("310101", date(1985, 6, 15), 123)
    changed = number[:position] + str(digit) + number[position + 1 :]
    if changed == number:
        return
    try:
        validate_id_number(changed)
    except InvalidIdNumber:
        return
    pytest.fail(f"{changed} passed although a digit changed")


def test_mobile_numbers():
    assert is_valid_mobile("13812345678")
    assert not is_valid_mobile("12812345678")
    assert not is_valid_mobile("1381234567")
    assert not is_valid_mobile("23812345678")


def test_masks_keep_ends_only():
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_mobile("13812345678") == "138****5678"


def test_digest_ignores_case_and_spaces():
    assert id_number_digest(" 11010519491231002x ") == id_number_digest("11010519491231002X")
