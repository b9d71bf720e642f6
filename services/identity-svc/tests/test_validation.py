"""Validators of ID numbers, mobiles, credit codes, passwords and names."""

from datetime import date

import pytest

from bangke_runtime.personal_data import id_check_character, make_id_number
from identity_svc.domain.errors import (
    CreditCodeInvalid,
    EngineerUnderage,
    FieldInvalid,
    IdNumberInvalid,
    MobileInvalid,
    PasswordTooWeak,
)
from identity_svc.domain.validation import (
    check_account_number,
    check_credit_code,
    check_engineer_age,
    check_id_number,
    check_mobile,
    check_password,
    check_person_name,
    credit_code_check_character,
    mask_account_number,
)

TODAY = date(2025, 6, 1)


def id_number_ending_in_x() -> str:
    for sequence in range(1000):
        number = make_id_number("110101", date(1990, 3, 7), sequence)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives the check character X")


def test_id_number_valid():
    number = make_id_number("110101", date(1990, 3, 7), 451)
    assert check_id_number(number, today=TODAY) == number


def test_id_number_with_x_check_character():
    number = id_number_ending_in_x()
    assert check_id_number(number.lower(), today=TODAY) == number
    assert check_id_number(f"  {number} ", today=TODAY) == number


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("11010119900307451", "id_number_format"),
        ("1101011990030745188", "id_number_format"),
        ("11010119900307451Y", "id_number_format"),
        ("A10101199003074518", "id_number_format"),
        ("010101199003074518", "id_number_region"),
        ("710101199003074518", "id_number_region"),
    ],
)
def test_id_number_format_and_region_errors(number, reason):
    with pytest.raises(IdNumberInvalid) as caught:
        check_id_number(number, today=TODAY)
    assert caught.value.details["reason"] == reason
    assert caught.value.details["field"] == "id_number"


@pytest.mark.parametrize("birth", ["19900230", "19901301", "18991231", "20300101"])
def test_id_number_birth_date_errors(birth):
    first17 = f"110101{birth}451"
    number = first17 + id_check_character(first17)
    with pytest.raises(IdNumberInvalid) as caught:
        check_id_number(number, today=TODAY)
    assert caught.value.details["reason"] == "id_number_birth_date"
    assert "出生日期" in caught.value.message


def test_id_number_wrong_check_character():
    number = make_id_number("110101", date(1990, 3, 7), 451)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    with pytest.raises(IdNumberInvalid) as caught:
        check_id_number(wrong, today=TODAY)
    assert caught.value.details["reason"] == "id_number_check_character"
    assert caught.value.code == "id_number_invalid"


def test_engineer_age_limit():
    check_engineer_age(make_id_number("110101", date(2007, 6, 1), 1), today=TODAY)
    with pytest.raises(EngineerUnderage) as caught:
        check_engineer_age(make_id_number("110101", date(2007, 6, 2), 1), today=TODAY)
    assert caught.value.details["age"] == 17


@pytest.mark.parametrize("mobile", ["13800138000", " 19912345678 ", "16600001111"])
def test_mobile_valid(mobile):
    assert check_mobile(mobile) == mobile.strip()


@pytest.mark.parametrize("mobile", ["1380013800", "138001380001", "12800138000", "23800138000", "1380013800a", ""])
def test_mobile_invalid(mobile):
    with pytest.raises(MobileInvalid) as caught:
        check_mobile(mobile, field="admin.mobile")
    assert caught.value.code == "mobile_invalid"
    assert caught.value.details["field"] == "admin.mobile"


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L", "91440300708461136T"])
def test_credit_code_valid(code):
    assert check_credit_code(code.lower()) == code


def test_credit_code_check_character_zero():
    # A sum that is a multiple of 31 gives the check character 0, not 31.
    for tail in range(10_000):
        first17 = f"9111000060003{tail:04d}"
        if credit_code_check_character(first17) == "0":
            assert check_credit_code(first17 + "0") == first17 + "0"
            return
    raise AssertionError("no code with check character 0 found")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y44", "credit_code_check_character"),
        ("91350100M000100Y4", "credit_code_format"),
        ("91350100M000100I43", "credit_code_format"),
        ("91350100M00O100Y43", "credit_code_format"),
        ("9135010-M000100Y43", "credit_code_format"),
    ],
)
def test_credit_code_invalid(code, reason):
    with pytest.raises(CreditCodeInvalid) as caught:
        check_credit_code(code)
    assert caught.value.details["reason"] == reason


@pytest.mark.parametrize("password", ["short1", "onlyletters", "1234567890", "a1" * 33])
def test_password_too_weak(password):
    with pytest.raises(PasswordTooWeak):
        check_password(password)


def test_password_accepted():
    assert check_password("Secret123") == "Secret123"


@pytest.mark.parametrize("name", ["张", "张伟3", " ", "李" * 31])
def test_person_name_invalid(name):
    with pytest.raises(FieldInvalid):
        check_person_name(name)


def test_person_name_with_middle_dot():
    assert check_person_name(" 买买提·艾力 ") == "买买提·艾力"


def test_account_number_masked():
    number = check_account_number("6222 0212 0200 1234 567")
    assert number == "6222021202001234567"
    assert mask_account_number(number) == "***************4567"
