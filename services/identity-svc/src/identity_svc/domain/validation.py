"""Checks of the numbers and names people type in: ID numbers, mobiles, credit codes, passwords.

Each check returns the normalised value or raises an error that names the field and the fix.
"""

import re
from datetime import date

from bangke_runtime.personal_data import InvalidIdNumber, is_valid_mobile, validate_id_number

from .errors import (
    CreditCodeInvalid,
    EngineerUnderage,
    FieldInvalid,
    IdNumberInvalid,
    MobileInvalid,
    PasswordTooWeak,
)

MINIMUM_ENGINEER_AGE = 18
"""Special-operations certificates, which most qualifications need, are issued only from 18 years of age."""

# GB 32100-2015: 31 characters, the digits and the capital letters without I, O, Z, S and V.
CREDIT_CODE_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_CODE_PATTERN = re.compile(f"^[{CREDIT_CODE_CHARACTERS}]{{18}}$")
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"\d")
_ACCOUNT_NUMBER = re.compile(r"^\d{6,32}$")


def check_id_number(value: str, *, today: date, field: str = "id_number") -> str:
    """Return the upper-cased ID number, or raise IdNumberInvalid with the reason."""
    try:
        return validate_id_number(value, today=today)
    except InvalidIdNumber as error:
        raise IdNumberInvalid(error.message, field=field, reason=error.reason) from error


def birth_date_of(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def check_engineer_age(id_number: str, *, today: date) -> None:
    age = age_on(birth_date_of(id_number), today)
    if age < MINIMUM_ENGINEER_AGE:
        raise EngineerUnderage(field="id_number", age=age, minimum_age=MINIMUM_ENGINEER_AGE)


def check_mobile(value: str, *, field: str = "mobile") -> str:
    """Return the mobile number without surrounding spaces, or raise MobileInvalid."""
    mobile = value.strip()
    if not is_valid_mobile(mobile):
        raise MobileInvalid(field=field, hint="手机号为 11 位数字，第二位为 3 到 9")
    return mobile


def credit_code_check_character(first17: str) -> str:
    """Return the GB 32100-2015 check character of the first 17 characters of a credit code."""
    total = sum(
        CREDIT_CODE_CHARACTERS.index(character) * weight
        for character, weight in zip(first17, _CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARACTERS[(31 - total % 31) % 31]


def check_credit_code(value: str, *, field: str = "company.credit_code") -> str:
    """Return the upper-cased unified social credit code, or raise CreditCodeInvalid with the reason."""
    code = value.strip().upper()
    if not _CREDIT_CODE_PATTERN.match(code):
        raise CreditCodeInvalid(
            "统一社会信用代码应为 18 位，由数字和大写字母组成（不含 I、O、Z、S、V）",
            field=field,
            reason="credit_code_format",
        )
    if credit_code_check_character(code[:17]) != code[17]:
        raise CreditCodeInvalid(
            "统一社会信用代码校验位不正确，请对照营业执照核对后重新输入",
            field=field,
            reason="credit_code_check_character",
        )
    return code


def check_password(value: str, *, field: str = "password") -> str:
    if not 8 <= len(value) <= 64 or not _LETTER.search(value) or not _DIGIT.search(value):
        raise PasswordTooWeak(field=field)
    return value


def check_person_name(value: str, *, field: str = "name") -> str:
    """Return the trimmed real name; names on ID cards have 2 to 30 characters, including ``·``."""
    name = value.strip()
    if not 2 <= len(name) <= 30 or any(character.isdigit() for character in name):
        raise FieldInvalid("姓名应为 2 到 30 个字，不含数字，请填写身份证上的姓名", field=field)
    return name


def check_text(value: str, *, field: str, label: str, max_length: int = 100) -> str:
    """Return the trimmed text, or raise FieldInvalid naming ``label`` when it is empty or too long."""
    text = value.strip()
    if not text or len(text) > max_length:
        raise FieldInvalid(f"{label}不能为空，且不超过 {max_length} 个字", field=field)
    return text


def check_account_number(value: str, *, field: str = "settlement_account.account_number") -> str:
    number = value.replace(" ", "")
    if not _ACCOUNT_NUMBER.match(number):
        raise FieldInvalid("银行账号应为 6 到 32 位数字", field=field)
    return number


def mask_account_number(number: str) -> str:
    """Keep only the last 4 digits of a bank account number."""
    return "*" * max(0, len(number) - 4) + number[-4:]
