"""The certificate aggregate: its versions and their state machine.

One certificate contains every version of one licence type for one engineer, so that a renewal taking
effect and the version it supersedes change in the same single-document write. A version is frozen
once submitted: correcting a rejected or withdrawn version creates the next version, which keeps
every review decision attached to exactly the details and photos that were reviewed.

Version states::

    draft -> under_review -> in_effect -> superseded | expired | revoked
                          -> rejected  (corrected as a new version)
                          -> withdrawn (corrected as a new version)

The methods record the contract events they cause in ``events``; the service layer stores them in
the document's outbox with the state change.
"""

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from bangke_contracts.catalogue import CertificateType
from bangke_contracts.certificates import (
    CertificateExpired,
    CertificateExpiredPayload,
    CertificateRejected,
    CertificateRejectedPayload,
    CertificateRevoked,
    CertificateRevokedPayload,
    CertificateSubmitted,
    CertificateSubmittedPayload,
    CertificateSuperseded,
    CertificateSupersededPayload,
    CertificateTookEffect,
    CertificateTookEffectPayload,
    CertificateWithdrawn,
    CertificateWithdrawnPayload,
)
from bangke_contracts.envelope import Event, Payload
from bangke_runtime.clock import china_date

from .errors import (
    NoDraft,
    NothingToCorrect,
    NothingUnderReview,
    NotInEffect,
    PhotosMissing,
    RenewalNotPossible,
    VersionAlreadyOpen,
)
from .validation import Details, EngineerIdentity, validate_details

PHOTO_SIDES = ("front", "back")


class VersionStatus(StrEnum):
    DRAFT = "draft"
    UNDER_REVIEW = "under_review"
    IN_EFFECT = "in_effect"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    REVOKED = "revoked"


OPEN_STATUSES = frozenset({VersionStatus.DRAFT, VersionStatus.UNDER_REVIEW})
CORRECTABLE_STATUSES = frozenset({VersionStatus.REJECTED, VersionStatus.WITHDRAWN})
NUMBER_HOLDING_STATUSES = frozenset({VersionStatus.UNDER_REVIEW, VersionStatus.IN_EFFECT})
"""A version in these states claims its certificate number; duplicates among them are flagged."""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event the aggregate caused, before the service layer wraps it in an envelope."""

    event_cls: type[Event[Any]]
    payload: Payload


@dataclass(frozen=True, slots=True)
class Photo:
    key: str
    size: int
    media_type: str
    attached_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """One reviewer's or the registry check's decision on a version, as review-svc recorded it."""

    review_id: str
    step: str
    outcome: str
    actor_id: str
    actor_role: str
    reason: str | None
    differences: tuple[str, ...]
    decided_at: datetime


@dataclass(slots=True)
class Version:
    version: int
    status: VersionStatus
    details: Details
    created_at: datetime
    photos: dict[str, Photo] = field(default_factory=dict)
    renewal: bool = False
    corrects_version: int | None = None
    submitted_at: datetime | None = None
    number_held_by: list[str] = field(default_factory=list)
    review_id: str | None = None
    took_effect_at: datetime | None = None
    replaces_version: int | None = None
    rejection_reason: str | None = None
    rejected_by_role: str | None = None
    rejected_at: datetime | None = None
    withdrawn_at: datetime | None = None
    superseded_by: int | None = None
    superseded_at: datetime | None = None
    expired_at: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    decisions: list[Decision] = field(default_factory=list)

    @property
    def missing_photos(self) -> list[str]:
        return [side for side in PHOTO_SIDES if side not in self.photos]


@dataclass(slots=True)
class Certificate:
    certificate_id: str
    engineer_id: str
    certificate_type: str
    outlet_id: str
    region_id: str
    created_at: datetime
    versions: list[Version]
    revision: int = 0
    events: list[RecordedEvent] = field(default_factory=list)

    # --- creation ------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        certificate_id: str,
        engineer: EngineerIdentity,
        certificate_type: CertificateType,
        details: Details,
        now: datetime,
    ) -> "Certificate":
        """Create a certificate whose first version is a draft with checked details."""
        details = validate_details(details, certificate_type, engineer, china_date(now))
        return cls(
            certificate_id=certificate_id,
            engineer_id=engineer.engineer_id,
            certificate_type=certificate_type.code,
            outlet_id=engineer.outlet_id,
            region_id=engineer.region_id,
            created_at=now,
            versions=[Version(version=1, status=VersionStatus.DRAFT, details=details, created_at=now)],
        )

    # --- queries -------------------------------------------------------------------------------

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def effective(self) -> Version | None:
        """The version in effect now, if any; at most one version is in effect at a time."""
        return next((v for v in self.versions if v.status is VersionStatus.IN_EFFECT), None)

    @property
    def open_version(self) -> Version | None:
        """The draft or the version under review; only the latest version can be open."""
        return self.latest if self.latest.status in OPEN_STATUSES else None

    @property
    def held_numbers(self) -> list[str]:
        return sorted({v.details.number for v in self.versions if v.status in NUMBER_HOLDING_STATUSES})

    @property
    def status(self) -> VersionStatus:
        """Status shown for the certificate as a whole: in effect while any version is in effect."""
        effective = self.effective
        return effective.status if effective is not None else self.latest.status

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.version == number), None)

    def require_draft(self) -> Version:
        """Return the draft version, or raise when the latest version is no longer editable."""
        if self.latest.status is not VersionStatus.DRAFT:
            raise NoDraft(certificate_id=self.certificate_id, status=self.latest.status.value)
        return self.latest

    def _renewal_base(self) -> Version | None:
        """The version a renewal replaces: the one in effect, else the latest that expired."""
        effective = self.effective
        if effective is not None:
            return effective
        expired = [v for v in self.versions if v.status is VersionStatus.EXPIRED]
        return expired[-1] if expired else None

    # --- engineer commands ---------------------------------------------------------------------

    def update_draft(
        self, changes: dict[str, Any], certificate_type: CertificateType, engineer: EngineerIdentity, now: datetime
    ) -> None:
        draft = self.require_draft()
        base = self._renewal_base() if draft.renewal else None
        details = replace(draft.details, **changes)
        draft.details = validate_details(
            details, certificate_type, engineer, china_date(now), base.details if base else None
        )

    def attach_photo(self, side: str, photo: Photo) -> None:
        if side not in PHOTO_SIDES:
            raise ValueError(f"unknown photo side {side!r}")
        self.require_draft().photos[side] = photo

    def submit(
        self,
        certificate_type: CertificateType,
        engineer: EngineerIdentity,
        number_held_by: list[str],
        now: datetime,
    ) -> None:
        """Send the draft to review; the details are checked again because dates and identity move."""
        draft = self.require_draft()
        if draft.missing_photos:
            raise PhotosMissing(field="photos", missing=draft.missing_photos)
        base = self._renewal_base() if draft.renewal else None
        draft.details = validate_details(
            draft.details, certificate_type, engineer, china_date(now), base.details if base else None
        )

        draft.status = VersionStatus.UNDER_REVIEW
        draft.submitted_at = now
        draft.number_held_by = sorted(set(number_held_by) - {self.engineer_id})
        self.outlet_id, self.region_id = engineer.outlet_id, engineer.region_id
        self._record(
            CertificateSubmitted,
            CertificateSubmittedPayload(
                **self._ref(draft),
                outlet_id=self.outlet_id,
                region_id=self.region_id,
                kind=certificate_type.kind,
                registry_confirmable=certificate_type.registry_confirmable,
                number=draft.details.number,
                holder_name=draft.details.holder_name,
                holder_id_number=draft.details.holder_id_number,
                issued_on=draft.details.issued_on,
                expires_on=draft.details.expires_on,
                photo_keys=[draft.photos[side].key for side in PHOTO_SIDES],
                number_held_by=draft.number_held_by,
                renewal=draft.renewal,
                corrects_version=draft.corrects_version,
                replaces_version=base.version if base is not None else None,
                submitted_at=now,
            ),
        )

    def withdraw(self, now: datetime) -> None:
        current = self.latest
        if current.status is not VersionStatus.UNDER_REVIEW:
            raise NothingUnderReview(certificate_id=self.certificate_id, status=current.status.value)
        current.status = VersionStatus.WITHDRAWN
        current.withdrawn_at = now
        self._record(CertificateWithdrawn, CertificateWithdrawnPayload(**self._ref(current), withdrawn_at=now))

    def start_renewal(
        self, details: Details, certificate_type: CertificateType, engineer: EngineerIdentity, now: datetime
    ) -> Version:
        """Open a renewal draft; the version it renews stays in effect until the renewal takes effect."""
        if self.open_version is not None:
            raise VersionAlreadyOpen(certificate_id=self.certificate_id, version=self.latest.version)
        base = self._renewal_base()
        if base is None:
            raise RenewalNotPossible(certificate_id=self.certificate_id, status=self.status.value)
        details = validate_details(details, certificate_type, engineer, china_date(now), base.details)
        return self._append_draft(details, now, renewal=True)

    def start_correction(
        self, changes: dict[str, Any], certificate_type: CertificateType, engineer: EngineerIdentity, now: datetime
    ) -> Version:
        """Open a new draft from a rejected or withdrawn version, keeping its photos until replaced."""
        previous = self.latest
        if previous.status not in CORRECTABLE_STATUSES:
            raise NothingToCorrect(certificate_id=self.certificate_id, status=previous.status.value)
        base = self._renewal_base() if previous.renewal else None
        details = validate_details(
            replace(previous.details, **changes), certificate_type, engineer, china_date(now),
            base.details if base else None,
        )
        draft = self._append_draft(details, now, renewal=previous.renewal)
        draft.photos = dict(previous.photos)
        draft.corrects_version = previous.version
        return draft

    def _append_draft(self, details: Details, now: datetime, *, renewal: bool) -> Version:
        draft = Version(
            version=self.latest.version + 1, status=VersionStatus.DRAFT, details=details, created_at=now, renewal=renewal
        )
        self.versions.append(draft)
        return draft

    # --- review outcomes -----------------------------------------------------------------------

    def complete_review(
        self, version: int, approved: bool, reason: str | None, reviewer_role: str, review_id: str, now: datetime
    ) -> bool:
        """Apply review-svc's final outcome; return False when the version is no longer under review."""
        target = self.version(version)
        if target is None or target.status is not VersionStatus.UNDER_REVIEW:
            return False
        target.review_id = review_id
        if approved:
            self._take_effect(target, now)
        else:
            self._reject(target, reason or "", reviewer_role, now)
        return True

    def record_decision(self, version: int, decision: Decision) -> bool:
        """Append a decision to the version's history; return False when it no longer applies.

        A decision applies while the version is under review, or when it belongs to the review that
        completed the version (its outcome may arrive before the last decision).
        """
        target = self.version(version)
        if target is None:
            return False
        if target.status is not VersionStatus.UNDER_REVIEW and target.review_id != decision.review_id:
            return False
        target.decisions.append(decision)
        return True

    def _take_effect(self, target: Version, now: datetime) -> None:
        previous = self.effective
        if previous is not None:
            previous.status = VersionStatus.SUPERSEDED
            previous.superseded_by = target.version
            previous.superseded_at = now
            self._record(
                CertificateSuperseded,
                CertificateSupersededPayload(
                    **self._ref(previous), superseded_by_version=target.version, superseded_at=now
                ),
            )
        target.status = VersionStatus.IN_EFFECT
        target.took_effect_at = now
        target.replaces_version = previous.version if previous is not None else None
        self._record(
            CertificateTookEffect,
            CertificateTookEffectPayload(
                **self._ref(target),
                issued_on=target.details.issued_on,
                expires_on=target.details.expires_on,
                replaces_version=target.replaces_version,
                took_effect_at=now,
            ),
        )
        # An approval that arrives after the version's own expiry date ends it at once.
        self.expire_if_due(now)

    def _reject(self, target: Version, reason: str, reviewer_role: str, now: datetime) -> None:
        target.status = VersionStatus.REJECTED
        target.rejection_reason = reason
        target.rejected_by_role = reviewer_role
        target.rejected_at = now
        self._record(
            CertificateRejected,
            CertificateRejectedPayload(**self._ref(target), reason=reason, reviewer_role=reviewer_role, rejected_at=now),
        )

    # --- time and operators --------------------------------------------------------------------

    def expire_if_due(self, now: datetime) -> bool:
        """Expire the version in effect once its expiry date has passed in China Standard Time.

        A certificate valid until 2027-06-30 is in effect through that whole day, so it expires from
        2027-07-01 00:00 Asia/Shanghai.
        """
        effective = self.effective
        if effective is None or effective.details.expires_on >= china_date(now):
            return False
        effective.status = VersionStatus.EXPIRED
        effective.expired_at = now
        self._record(
            CertificateExpired,
            CertificateExpiredPayload(**self._ref(effective), expired_on=effective.details.expires_on, expired_at=now),
        )
        return True

    def revoke(self, reason: str, now: datetime) -> None:
        effective = self.effective
        if effective is None:
            raise NotInEffect(certificate_id=self.certificate_id)
        effective.status = VersionStatus.REVOKED
        effective.revoked_at = now
        effective.revocation_reason = reason
        self._record(CertificateRevoked, CertificateRevokedPayload(**self._ref(effective), reason=reason, revoked_at=now))

    def days_until_expiry(self, today: date) -> int | None:
        effective = self.effective
        return (effective.details.expires_on - today).days if effective is not None else None

    # --- helpers -------------------------------------------------------------------------------

    def _ref(self, version: Version) -> dict[str, Any]:
        return {
            "certificate_id": self.certificate_id,
            "version": version.version,
            "engineer_id": self.engineer_id,
            "certificate_type": self.certificate_type,
        }

    def _record(self, event_cls: type[Event[Any]], payload: Payload) -> None:
        self.events.append(RecordedEvent(event_cls, payload))
