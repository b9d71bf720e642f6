"""Which engineers may take an order: the qualification holdings projected from qualification events.

A holding is one engineer's state for one qualification type. The qualification is in effect while it
is granted and has not lapsed or been withdrawn. ``valid_until`` is its last day in effect in China
Standard Time (Asia/Shanghai). An engineer is eligible for an order when the holding for the order's
qualification type is in effect now and its ``valid_until`` is on or after the China-time date on which
the appointment window ends, so the qualification covers the whole window.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from bangke_contracts.qualifications import (
    QualificationApplied,
    QualificationGranted,
    QualificationLapsed,
    QualificationValidityChanged,
    QualificationWithdrawn,
)
from bangke_runtime.clock import china_date

QualificationEventType = (
    QualificationApplied | QualificationGranted | QualificationValidityChanged | QualificationLapsed | QualificationWithdrawn
)


class HoldingStatus(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    LAPSED = "lapsed"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Holding:
    engineer_id: str
    qualification_id: str
    qualification_type: str
    outlet_id: str
    region_id: str
    status: HoldingStatus
    valid_until: date | None = None
    ended_at: datetime | None = None
    """When the qualification lapsed or was withdrawn (UTC)."""
    end_reason: str | None = None

    @property
    def in_effect(self) -> bool:
        return self.status == HoldingStatus.GRANTED and self.valid_until is not None

    @property
    def effective_until(self) -> date | None:
        """Last day in effect, or None while the qualification is not in effect."""
        return self.valid_until if self.in_effect else None


def apply_qualification_event(holding: Holding | None, event: QualificationEventType) -> Holding | None:
    """Return the holding after ``event``; None when nothing is known yet and the event changes nothing.

    An engineer may apply again for a type they already hold, which does not extend the validity. So an
    application under another qualification id leaves a holding in effect as it is. A grant always
    describes the current qualification. Lapses, withdrawals and validity changes apply only to the
    qualification they name.
    """
    payload = event.payload
    same_id = holding is not None and holding.qualification_id == payload.qualification_id
    base = Holding(
        engineer_id=payload.engineer_id,
        qualification_id=payload.qualification_id,
        qualification_type=payload.qualification_type,
        outlet_id=payload.outlet_id,
        region_id=payload.region_id,
        status=HoldingStatus.PENDING,
    )

    if isinstance(event, QualificationGranted):
        return replace(base, status=HoldingStatus.GRANTED, valid_until=event.payload.valid_until)

    if isinstance(event, QualificationApplied):
        if holding is not None and holding.in_effect:
            return holding
        return base

    if holding is None or not same_id:
        return holding

    if isinstance(event, QualificationValidityChanged):
        return replace(holding, valid_until=event.payload.valid_until)
    if isinstance(event, QualificationLapsed):
        return replace(
            holding, status=HoldingStatus.LAPSED, ended_at=event.payload.lapsed_at, end_reason=event.payload.reason
        )
    if isinstance(event, QualificationWithdrawn):
        return replace(
            holding, status=HoldingStatus.WITHDRAWN, ended_at=event.payload.withdrawn_at, end_reason="withdrawn"
        )
    return holding


class Ineligibility(StrEnum):
    NOT_HELD = "not_held"
    PENDING = "pending"
    LAPSED = "lapsed"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    VALIDITY_TOO_SHORT = "validity_too_short"


@dataclass(frozen=True, slots=True)
class EligibilityVerdict:
    eligible: bool
    reason: Ineligibility | None = None
    valid_until: date | None = None
    since: datetime | None = None
    """When the qualification stopped being in effect, if it did."""


def last_day_needed(appointment_end: datetime, now: datetime) -> date:
    """Return the China-time date through which a qualification must stay valid for this appointment."""
    return max(china_date(appointment_end), china_date(now))


def check_eligibility(holding: Holding | None, appointment_end: datetime, now: datetime) -> EligibilityVerdict:
    """Decide whether the holder may take an order whose appointment window ends at ``appointment_end``."""
    if holding is None:
        return EligibilityVerdict(False, Ineligibility.NOT_HELD)
    if holding.status == HoldingStatus.PENDING:
        return EligibilityVerdict(False, Ineligibility.PENDING)
    if holding.status == HoldingStatus.LAPSED:
        return EligibilityVerdict(False, Ineligibility.LAPSED, holding.valid_until, holding.ended_at)
    if holding.status == HoldingStatus.WITHDRAWN:
        return EligibilityVerdict(False, Ineligibility.WITHDRAWN, holding.valid_until, holding.ended_at)
    assert holding.valid_until is not None
    if holding.valid_until < china_date(now):
        return EligibilityVerdict(False, Ineligibility.EXPIRED, holding.valid_until)
    if holding.valid_until < last_day_needed(appointment_end, now):
        return EligibilityVerdict(False, Ineligibility.VALIDITY_TOO_SHORT, holding.valid_until)
    return EligibilityVerdict(True, valid_until=holding.valid_until)


def covers_appointment(holding: Holding | None, appointment_end: datetime) -> bool:
    """Return True when the holding stays in effect through the China-time day the appointment ends.

    Used to flag accepted orders at risk. It ignores today's date, because an order whose appointment
    has passed is no longer at risk of anything.
    """
    return holding is not None and holding.in_effect and holding.valid_until >= china_date(appointment_end)
