"""What the engineer should do next about a qualification, as a code and the certificate involved."""

from dataclasses import dataclass
from datetime import date

from .model import Engineer, Qualification, Status


@dataclass(frozen=True, slots=True)
class NextStep:
    code: str
    """One of: take_exam, renew_certificate, upload_certificate, apply_again, none."""
    certificate_type: str | None = None


def next_step(engineer: Engineer, qualification: Qualification, today: date) -> NextStep:
    validity = engineer.validity_of(qualification, today)
    if qualification.status == Status.PENDING:
        if validity.missing:
            return NextStep("upload_certificate", validity.missing[0])
        return NextStep("take_exam")
    if qualification.status == Status.GRANTED:
        if qualification.limiting_certificate_type is not None:
            # Renewing the limiting certificate, not applying again, extends the validity.
            return NextStep("renew_certificate", qualification.limiting_certificate_type)
        return NextStep("none")
    if qualification.status == Status.LAPSED:
        if validity.missing:
            return NextStep("renew_certificate", validity.missing[0])
        return NextStep("apply_again")
    return NextStep("none")
