"""Field rules of certificate details, and which expiry reminder is due."""

from dataclasses import replace
from datetime import date

import pytest

from bangke_runtime.errors import AppError
from certificate_svc.domain.errors import (
    CertificateAlreadyExpired,
    ExpiryNotAfterIssue,
    HolderMismatch,
    IdNumberInvalid,
    IssuedInFuture,
    NumberFormatInvalid,
    RenewalNotLater,
)
from certificate_svc.domain.reminders import due_reminder, reminder_id
from certificate_svc.domain.validation import validate_details

from certificate_factories import ELECTRICIAN, ID_NUMBER, OTHER_ID_NUMBER, TRAINING, details, engineer

TODAY = date(2026, 3, 10)


def check(certificate_details, certificate_type=ELECTRICIAN, renewal_of=None):
    return validate_details(certificate_details, certificate_type, engineer(), TODAY, renewal_of)


def test_valid_details_are_normalised():
    result = check(details(number=" t" + ID_NUMBER.lower() + " ", holder_name=" 张伟 "))

    assert result.number == "T" + ID_NUMBER
    assert result.holder_name == "张伟"


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"holder_id_number": ID_NUMBER[:-1] + ("0" if ID_NUMBER[-1] != "0" else "1")}, IdNumberInvalid, "holder_id_number"),
        ({"holder_id_number": "12345"}, IdNumberInvalid, "holder_id_number"),
        ({"number": "ABC-123"}, NumberFormatInvalid, "number"),
        ({"expires_on": date(2024, 7, 1)}, ExpiryNotAfterIssue, "expires_on"),
        ({"issued_on": date(2026, 3, 11)}, IssuedInFuture, "issued_on"),
        ({"issued_on": date(2020, 1, 1), "expires_on": date(2026, 3, 9)}, CertificateAlreadyExpired, "expires_on"),
        ({"holder_name": "李娜"}, HolderMismatch, "holder_name"),
        ({"holder_id_number": OTHER_ID_NUMBER, "number": "T" + OTHER_ID_NUMBER}, HolderMismatch, "holder_id_number"),
    ],
)
def test_invalid_details_name_field(changes, error, field):
    with pytest.raises(error) as raised:
        check(details(**changes))

    assert raised.value.details["field"] == field
    assert isinstance(raised.value, AppError)
    assert raised.value.status_code == 422


def test_expiring_today_is_still_valid():
    assert check(details(expires_on=TODAY)).expires_on == TODAY


def test_type_without_pattern_accepts_any_number():
    assert check(details(number="PX-2024-0093"), TRAINING).number == "PX-2024-0093"


def test_renewal_must_outlast_current():
    current = details()

    with pytest.raises(RenewalNotLater):
        check(replace(current, issued_on=date(2026, 1, 1)), renewal_of=current)


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [(45, None), (31, None), (30, 30), (29, 30), (8, 30), (7, 7), (6, 7), (2, 7), (1, 1), (0, 1), (-1, None)],
)
def test_due_reminder(days_left, expected):
    expires_on = date(2026, 6, 30)
    today = date.fromordinal(expires_on.toordinal() - days_left)

    assert due_reminder(expires_on, today, (30, 7, 1)) == expected


def test_reminder_id_is_stable():
    assert reminder_id("c1", 2, 7) == reminder_id("c1", 2, 7)
    assert reminder_id("c1", 2, 7) != reminder_id("c1", 3, 7)
