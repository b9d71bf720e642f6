"""Rules a certificate's details must satisfy before they are stored or submitted.

Each rule raises its own error naming the field and the fix, in the order a person filling the form
would correct them: formats first, then dates, then whether the holder is the engineer.
"""

from dataclasses import dataclass, replace
from datetime import date

from bangke_contracts.catalogue import CertificateType
from bangke_runtime.personal_data import InvalidIdNumber, id_number_digest, validate_id_number

from .errors import (
    CertificateAlreadyExpired,
    ExpiryNotAfterIssue,
    HolderMismatch,
    IdNumberInvalid,
    IssuedInFuture,
    NumberFormatInvalid,
    RenewalNotLater,
)


@dataclass(frozen=True, slots=True)
class Details:
    """Details the engineer copies from the licence document."""

    number: str
    holder_name: str
    holder_id_number: str
    issued_on: date
    expires_on: date

    def normalised(self) -> "Details":
        """Return the details with surrounding blanks removed and letters upper-cased where case is noise."""
        return replace(
            self,
            number=self.number.strip().upper(),
            holder_name=self.holder_name.strip(),
            holder_id_number=self.holder_id_number.strip().upper(),
        )


@dataclass(frozen=True, slots=True)
class EngineerIdentity:
    """The engineer as identity-svc registered them: the real name and a digest of the ID number."""

    engineer_id: str
    provider_id: str
    outlet_id: str
    region_id: str
    name: str
    id_number_sha256: str


def validate_details(
    details: Details,
    certificate_type: CertificateType,
    engineer: EngineerIdentity,
    today: date,
    renewal_of: Details | None = None,
) -> Details:
    """Return the normalised details, or raise the first rule they break.

    ``today`` is the date in China Standard Time; ``renewal_of`` contains the details of the version a
    renewal replaces, whose expiry date the renewal must exceed.
    """
    details = details.normalised()
    try:
        validate_id_number(details.holder_id_number, today=today)
    except InvalidIdNumber as error:
        raise IdNumberInvalid(error.message, field="holder_id_number", reason=error.reason) from None

    if not certificate_type.number_fits(details.number):
        raise NumberFormatInvalid(
            field="number", certificate_type=certificate_type.code, hint=certificate_type.number_hint
        )
    _validate_dates(details, today, renewal_of)
    _validate_holder(details, engineer)
    return details


def _validate_dates(details: Details, today: date, renewal_of: Details | None) -> None:
    if details.expires_on <= details.issued_on:
        raise ExpiryNotAfterIssue(
            field="expires_on", issued_on=details.issued_on.isoformat(), expires_on=details.expires_on.isoformat()
        )
    if details.issued_on > today:
        raise IssuedInFuture(field="issued_on", issued_on=details.issued_on.isoformat(), today=today.isoformat())
    if details.expires_on < today:
        raise CertificateAlreadyExpired(
            field="expires_on", expires_on=details.expires_on.isoformat(), today=today.isoformat()
        )
    if renewal_of is not None and details.expires_on <= renewal_of.expires_on:
        raise RenewalNotLater(
            field="expires_on",
            expires_on=details.expires_on.isoformat(),
            current_expires_on=renewal_of.expires_on.isoformat(),
        )


def _validate_holder(details: Details, engineer: EngineerIdentity) -> None:
    # The registered ID number is known only as a digest, so the comparison is digest to digest.
    if details.holder_name != engineer.name.strip():
        raise HolderMismatch(field="holder_name", hint="持证人姓名应与实名认证的姓名一致")
    if id_number_digest(details.holder_id_number) != engineer.id_number_sha256:
        raise HolderMismatch(field="holder_id_number", hint="持证人身份证号应与实名认证的身份证号一致")
