"""Events of certificate-svc: the lifecycle of each certificate version."""

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from . import topics
from .common import CertificateKind, Id
from .envelope import Event, Payload


class CertificateRef(Payload):
    certificate_id: Id
    version: int = Field(
        ge=1,
        description=(
            "Version of the certificate. A renewal adds a version, and so does correcting a rejected or"
            " withdrawn version, so each version is submitted and reviewed at most once."
        ),
    )
    engineer_id: Id
    certificate_type: str = Field(examples=["low_voltage_electrician"])


class CertificateSubmittedPayload(CertificateRef):
    outlet_id: Id
    region_id: Id
    kind: CertificateKind
    registry_confirmable: bool = Field(description="Whether the safety registry can confirm this type.")
    number: str = Field(examples=["T110101199003074518"])
    holder_name: str
    holder_id_number: str = Field(description="Personal data: never log it.")
    issued_on: date
    expires_on: date
    photo_keys: list[str] = Field(description="Object keys of the photos in the certificate bucket.")
    number_held_by: list[Id] = Field(
        default_factory=list, description="Other engineers who hold a certificate with the same number."
    )
    renewal: bool = Field(False, description="True when this version renews an earlier one.")
    replaces_version: int | None = Field(
        None, description="For a renewal: the version it will replace when it takes effect (in effect or expired now)."
    )
    corrects_version: int | None = Field(
        None, description="The rejected or withdrawn version this one corrects (a re-upload), if any."
    )
    submitted_at: datetime


class CertificateSubmitted(Event[CertificateSubmittedPayload]):
    topic: ClassVar[str] = topics.CERTIFICATES
    type: Literal["certificate.submitted"] = "certificate.submitted"
    payload: CertificateSubmittedPayload


class CertificateWithdrawnPayload(CertificateRef):
    withdrawn_at: datetime


class CertificateWithdrawn(Event[CertificateWithdrawnPayload]):
    topic: ClassVar[str] = topics.CERTIFICATES
    type: Literal["certificate.withdrawn"] = "certificate.withdrawn"
    payload: CertificateWithdrawnPayload


class CertificateTookEffectPayload(CertificateRef):
    issued_on: date
    expires_on: date = Field(description="Last day in effect, in China Standard Time.")
    replaces_version: int | None = Field(None, description="Earlier version this one replaces, if a renewal.")
    took_effect_at: datetime


class CertificateTookEffect(Event[CertificateTookEffectPayload]):
    topic: ClassVar[str] = topics.CERTIFICATES
    type: Literal["certificate.took_effect"] = "certificate.took_effect"
    payload: CertificateTookEffectPayload


class CertificateRejectedPayload(CertificateRef):
    reason: str
    reviewer_role: str
    rejected_at: datetime


class CertificateRejected(Event[CertificateRejectedPayload]):
    topic: ClassVar[str] = topics.CERTIFICATES
    type: Literal["certificate.rejected"] = "certificate.rejected"
    payload: CertificateRejectedPayload


class CertificateSupersededPayload(CertificateRef):
    superseded_by_version: int
    superseded_at: datetime


class CertificateSuperseded(Event[CertificateSupersededPayload]):
    topic: ClassVar[str] = topics.CERTIFICATES
    type: Literal["certificate.superseded"] = "certificate.superseded"
    payload: CertificateSupersededPayload


class CertificateExpiredPayload(CertificateRef):
    expired_on: date = Field(description="The certificate's last day in effect.")
    expired_at: datetime


class CertificateExpired(Event[CertificateExpiredPayload]):
    topic: ClassVar[str] = topics.CERTIFICATES
    type: Literal["certificate.expired"] = "certificate.expired"
    payload: CertificateExpiredPayload


class CertificateRevokedPayload(CertificateRef):
    reason: str
    revoked_at: datetime


class CertificateRevoked(Event[CertificateRevokedPayload]):
    topic: ClassVar[str] = topics.CERTIFICATES
    type: Literal["certificate.revoked"] = "certificate.revoked"
    payload: CertificateRevokedPayload


CertificateEvent = Annotated[
    CertificateSubmitted
    | CertificateWithdrawn
    | CertificateTookEffect
    | CertificateRejected
    | CertificateSuperseded
    | CertificateExpired
    | CertificateRevoked,
    Field(discriminator="type"),
]
