"""Events of qualification-svc: applications, grants, validity and lapses."""

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from . import topics
from .common import Id
from .envelope import Event, Payload

NO_CERTIFICATE_VALID_UNTIL = date(2099, 12, 31)
"""Validity of a qualification that needs no certificate."""


class QualificationRef(Payload):
    qualification_id: Id
    engineer_id: Id
    outlet_id: Id
    region_id: Id
    qualification_type: str = Field(examples=["split_ac_installation"])


class QualificationAppliedPayload(QualificationRef):
    applied_at: datetime


class QualificationApplied(Event[QualificationAppliedPayload]):
    topic: ClassVar[str] = topics.QUALIFICATIONS
    type: Literal["qualification.applied"] = "qualification.applied"
    payload: QualificationAppliedPayload


class QualificationWithdrawnPayload(QualificationRef):
    withdrawn_at: datetime


class QualificationWithdrawn(Event[QualificationWithdrawnPayload]):
    topic: ClassVar[str] = topics.QUALIFICATIONS
    type: Literal["qualification.withdrawn"] = "qualification.withdrawn"
    payload: QualificationWithdrawnPayload


class QualificationGrantedPayload(QualificationRef):
    valid_until: date = Field(description="Last day in effect, in China Standard Time.")
    limiting_certificate_type: str | None = Field(None, description="Certificate whose expiry sets valid_until.")
    score: int
    granted_at: datetime


class QualificationGranted(Event[QualificationGrantedPayload]):
    topic: ClassVar[str] = topics.QUALIFICATIONS
    type: Literal["qualification.granted"] = "qualification.granted"
    payload: QualificationGrantedPayload


class QualificationValidityChangedPayload(QualificationRef):
    valid_until: date
    previous_valid_until: date
    limiting_certificate_type: str | None = None
    changed_at: datetime


class QualificationValidityChanged(Event[QualificationValidityChangedPayload]):
    topic: ClassVar[str] = topics.QUALIFICATIONS
    type: Literal["qualification.validity_changed"] = "qualification.validity_changed"
    payload: QualificationValidityChangedPayload


class QualificationLapsedPayload(QualificationRef):
    reason: Literal["expired", "certificate_expired", "certificate_revoked"]
    lapsed_at: datetime


class QualificationLapsed(Event[QualificationLapsedPayload]):
    topic: ClassVar[str] = topics.QUALIFICATIONS
    type: Literal["qualification.lapsed"] = "qualification.lapsed"
    payload: QualificationLapsedPayload


QualificationEvent = Annotated[
    QualificationApplied
    | QualificationWithdrawn
    | QualificationGranted
    | QualificationValidityChanged
    | QualificationLapsed,
    Field(discriminator="type"),
]
