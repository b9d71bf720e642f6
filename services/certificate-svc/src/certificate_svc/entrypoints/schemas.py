"""Request and response bodies of the HTTP API."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bangke_contracts.catalogue import Catalogue, CertificateType
from bangke_contracts.common import CertificateKind
from bangke_runtime.personal_data import mask_id_number
from bangke_runtime.storage import PresignedUpload

from ..domain.model import PHOTO_SIDES, Certificate, Version, VersionStatus

PhotoSide = Literal["front", "back"]

NUMBER = {"min_length": 1, "max_length": 64, "description": "Certificate number as printed.", "examples": ["T110101199003074518"]}
HOLDER_NAME = {"min_length": 1, "max_length": 64, "description": "Holder's name as printed.", "examples": ["张伟"]}
HOLDER_ID_NUMBER = {
    "min_length": 1, "max_length": 32, "description": "Holder's 18-character resident ID number.",
    "examples": ["110101199003074518"],
}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CertificateDraftIn(Body):
    certificate_type: str = Field(description="Type code from GET /types.", examples=["low_voltage_electrician"])
    number: str = Field(**NUMBER)
    holder_name: str = Field(**HOLDER_NAME)
    holder_id_number: str = Field(**HOLDER_ID_NUMBER)
    issued_on: date = Field(description="Issue date printed on the certificate.")
    expires_on: date = Field(description="Last day of validity printed on the certificate.")


class DetailsChangesIn(Body):
    """Fields to change; the ones left out keep their value."""

    number: str | None = Field(None, **NUMBER)
    holder_name: str | None = Field(None, **HOLDER_NAME)
    holder_id_number: str | None = Field(None, **HOLDER_ID_NUMBER)
    issued_on: date | None = None
    expires_on: date | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class RenewalIn(DetailsChangesIn):
    """The renewed certificate's dates; number and holder default to the current version's."""

    issued_on: date = Field(description="Issue date of the renewed certificate.")
    expires_on: date = Field(description="Last day of validity of the renewed certificate.")


class PhotoAttachIn(Body):
    key: str = Field(min_length=1, max_length=300, description="Object key returned with the upload URL.")


class CertificateTypeView(BaseModel):
    code: str
    name: str
    kind: CertificateKind
    registry_confirmable: bool
    number_pattern: str | None
    number_hint: str

    @classmethod
    def of(cls, item: CertificateType) -> "CertificateTypeView":
        return cls.model_validate(item.model_dump(include=set(cls.model_fields)))


class PhotoUploadView(BaseModel):
    side: PhotoSide
    method: str = Field(description="HTTP method for the upload.", examples=["PUT"])
    url: str = Field(description="Presigned URL; send the image bytes as the request body.")
    key: str = Field(description="Pass this key to PUT /certificates/{id}/photos/{side} after the upload.")
    expires_in_s: int
    max_bytes: int
    allowed_types: list[str]

    @classmethod
    def of(cls, side: PhotoSide, upload: PresignedUpload) -> "PhotoUploadView":
        return cls(
            side=side, method=upload.method, url=upload.url, key=upload.key, expires_in_s=upload.expires_in_s,
            max_bytes=upload.max_bytes, allowed_types=list(upload.allowed_types),
        )


class PhotoView(BaseModel):
    side: PhotoSide
    key: str
    size: int
    media_type: str
    attached_at: datetime


class DecisionView(BaseModel):
    review_id: str
    step: str
    outcome: str
    actor_id: str
    actor_role: str
    reason: str | None
    differences: list[str]
    decided_at: datetime


class VersionView(BaseModel):
    version: int
    status: VersionStatus
    number: str
    holder_name: str
    holder_id_number_masked: str
    issued_on: date
    expires_on: date
    renewal: bool
    corrects_version: int | None
    photos: list[PhotoView]
    missing_photos: list[PhotoSide]
    created_at: datetime
    submitted_at: datetime | None
    took_effect_at: datetime | None
    replaces_version: int | None
    rejection_reason: str | None = Field(description="Why a reviewer rejected this version, for the engineer.")
    rejected_by_role: str | None
    rejected_at: datetime | None
    withdrawn_at: datetime | None
    superseded_by: int | None
    superseded_at: datetime | None
    expired_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    decisions: list[DecisionView] = Field(description="Every review decision on this version, oldest first.")

    @classmethod
    def of(cls, version: Version) -> "VersionView":
        details = version.details
        return cls(
            version=version.version,
            status=version.status,
            number=details.number,
            holder_name=details.holder_name,
            holder_id_number_masked=mask_id_number(details.holder_id_number),
            issued_on=details.issued_on,
            expires_on=details.expires_on,
            renewal=version.renewal,
            corrects_version=version.corrects_version,
            photos=[
                PhotoView(side=side, key=photo.key, size=photo.size, media_type=photo.media_type, attached_at=photo.attached_at)
                for side in PHOTO_SIDES
                if (photo := version.photos.get(side)) is not None
            ],
            missing_photos=version.missing_photos,
            created_at=version.created_at,
            submitted_at=version.submitted_at,
            took_effect_at=version.took_effect_at,
            replaces_version=version.replaces_version,
            rejection_reason=version.rejection_reason,
            rejected_by_role=version.rejected_by_role,
            rejected_at=version.rejected_at,
            withdrawn_at=version.withdrawn_at,
            superseded_by=version.superseded_by,
            superseded_at=version.superseded_at,
            expired_at=version.expired_at,
            revoked_at=version.revoked_at,
            revocation_reason=version.revocation_reason,
            decisions=[
                DecisionView(
                    review_id=d.review_id, step=d.step, outcome=d.outcome, actor_id=d.actor_id, actor_role=d.actor_role,
                    reason=d.reason, differences=list(d.differences), decided_at=d.decided_at,
                )
                for d in version.decisions
            ],
        )


class CertificateView(BaseModel):
    certificate_id: str
    certificate_type: str
    certificate_type_name: str
    kind: CertificateKind | None = Field(description="None when the type was removed from the catalogue.")
    engineer_id: str
    status: VersionStatus = Field(description="in_effect while any version is in effect, else the latest version's status.")
    effective_version: int | None
    valid_from: date | None = Field(description="Issue date of the version in effect.")
    valid_until: date | None = Field(description="Last day in effect (China Standard Time) of the version in effect.")
    latest_version: int
    created_at: datetime
    versions: list[VersionView] = Field(description="Every version, newest first.")

    @classmethod
    def of(cls, certificate: Certificate, catalogue: Catalogue) -> "CertificateView":
        certificate_type = catalogue.certificates.get(certificate.certificate_type)
        effective = certificate.effective
        return cls(
            certificate_id=certificate.certificate_id,
            certificate_type=certificate.certificate_type,
            # An operator may drop a type from the catalogue while certificates of it remain.
            certificate_type_name=certificate_type.name if certificate_type else certificate.certificate_type,
            kind=certificate_type.kind if certificate_type else None,
            engineer_id=certificate.engineer_id,
            status=certificate.status,
            effective_version=effective.version if effective else None,
            valid_from=effective.details.issued_on if effective else None,
            valid_until=effective.details.expires_on if effective else None,
            latest_version=certificate.latest.version,
            created_at=certificate.created_at,
            versions=[VersionView.of(version) for version in reversed(certificate.versions)],
        )


class NotificationView(BaseModel):
    reminder_id: str
    subject: Literal["certificate"]
    certificate_id: str
    certificate_type: str
    certificate_type_name: str
    engineer_id: str
    engineer_name: str
    outlet_id: str
    version: int
    expires_on: date
    days_before: int
    created_at: datetime
    message: str = Field(description="Text shown to the reader.")
