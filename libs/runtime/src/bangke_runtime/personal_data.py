"""Resident ID numbers and mobile numbers: validation, masking and digests.

A resident ID number has 18 characters: a 6-digit region code, an 8-digit birth date, a 3-digit
sequence and a check character computed with ISO 7064 MOD 11-2 (which can be ``X``). A mainland
mobile number has 11 digits and starts with 1.
"""

import hashlib
import re
from datetime import date

_ID_PATTERN = re.compile(r"^\d{17}[\dX]$")
_MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
# First digit of the region code: 1 north, 2 north-east, 3 east, 4 central-south, 5 south-west,
# 6 north-west, 8 Hong Kong, Macao and Taiwan residence permits, 9 foreigners' permanent residence.
_REGION_FIRST_DIGITS = frozenset("12345689")


class InvalidIdNumber(ValueError):
    """The ID number is malformed; ``reason`` is a stable code and ``message`` is for the user."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def id_check_character(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def normalise_id_number(value: str) -> str:
    return value.strip().upper()


def validate_id_number(value: str, *, today: date | None = None) -> str:
    """Return the normalised ID number, or raise InvalidIdNumber saying what is wrong."""
    number = normalise_id_number(value)
    if not _ID_PATTERN.match(number):
        raise InvalidIdNumber("id_number_format", "身份证号应为 18 位：17 位数字加 1 位校验码（数字或 X）")
    if number[0] not in _REGION_FIRST_DIGITS or number[:2] == "00":
        raise InvalidIdNumber("id_number_region", "身份证号前 6 位地区码无效")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as error:
        raise InvalidIdNumber("id_number_birth_date", "身份证号中的出生日期无效") from error
    if birth.year < 1900 or (today is not None and birth > today):
        raise InvalidIdNumber("id_number_birth_date", "身份证号中的出生日期无效")
    if id_check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("id_number_check_character", "身份证号校验码不正确，请核对后重新输入")
    return number


def is_valid_mobile(value: str) -> bool:
    return bool(_MOBILE_PATTERN.match(value.strip()))


def id_number_digest(number: str) -> str:
    """Return the SHA-256 hex digest that other services use to match a holder without the number."""
    return hashlib.sha256(normalise_id_number(number).encode()).hexdigest()


def mask_id_number(number: str) -> str:
    """Keep the first 3 and last 4 characters: 110***********4518."""
    return number[:3] + "*" * (len(number) - 7) + number[-4:] if len(number) > 7 else "*" * len(number)


def mask_mobile(number: str) -> str:
    """Keep the first 3 and last 4 digits: 138****5678."""
    return number[:3] + "****" + number[-4:] if len(number) == 11 else "*" * len(number)


def make_id_number(region: str, birth: date, sequence: int) -> str:
    """Build a valid ID number for made-up test people."""
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_check_character(first17)
