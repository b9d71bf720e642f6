"""The engineer aggregate: identity, certificate projection and qualifications in one document.

Everything that the qualification rules read lives here, so that a request or an event is decided
from one document and its outcome (state and outgoing events) is stored in one write. Methods
record the events they cause in ``events``; the repository writes them to the outbox.
"""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from bangke_contracts.certificates import CertificateTookEffectPayload
from bangke_contracts.envelope import Event
from bangke_contracts.exams import PASS_MARK, ExamScoreCollectedPayload
from bangke_contracts.qualifications import (
    QualificationApplied,
    QualificationGranted,
    QualificationLapsed,
    QualificationValidityChanged,
    QualificationWithdrawn,
)
from bangke_runtime.clock import china_date

from .errors import (
    CertificatesMissing,
    EngineerNotAuthenticated,
    QualificationAlreadyHeld,
    QualificationLimitReached,
    QualificationNotFound,
    QualificationNotPending,
)
from .validity import HeldCertificate, Validity, calculate_validity

PRODUCER = "qualification-svc"
MAX_QUALIFICATIONS = 10
"""Pending and granted qualifications together, per engineer."""

LapseReason = Literal["expired", "certificate_expired", "certificate_revoked"]


class Status(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    LAPSED = "lapsed"


ACTIVE = frozenset({Status.PENDING, Status.GRANTED})


@dataclass(frozen=True, slots=True)
class ExamResult:
    attempt_id: str
    score: int
    passed: bool
    finished_at: datetime


@dataclass(slots=True)
class Qualification:
    qualification_id: str
    qualification_type: str
    required_certificates: tuple[str, ...]
    """Certificate types the catalogue required when the engineer applied; later catalogue edits do not
    change what an existing qualification depends on."""
    status: Status
    applied_at: datetime
    granted_at: datetime | None = None
    valid_until: date | None = None
    limiting_certificate_type: str | None = None
    limiting_certificate_id: str | None = None
    passed_score: int | None = None
    exam_results: list[ExamResult] = field(default_factory=list)
    withdrawn_at: datetime | None = None
    lapsed_at: datetime | None = None
    lapse_reason: str | None = None
    validity_changed_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def has_result(self, attempt_id: str) -> bool:
        return any(result.attempt_id == attempt_id for result in self.exam_results)


@dataclass
class Engineer:
    engineer_id: str
    provider_id: str | None = None
    outlet_id: str | None = None
    region_id: str | None = None
    name: str | None = None
    authenticated: bool = False
    certificates: list[HeldCertificate] = field(default_factory=list)
    qualifications: list[Qualification] = field(default_factory=list)
    events: list[Event[Any]] = field(default_factory=list)
    """Events recorded since the aggregate was loaded; stored with the next write."""

    # --- identity -------------------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self.outlet_id is not None and self.region_id is not None

    def register(self, provider_id: str, outlet_id: str, region_id: str, name: str) -> None:
        self.provider_id, self.outlet_id, self.region_id, self.name = provider_id, outlet_id, region_id, name

    def authenticate(self) -> None:
        self.authenticated = True

    # --- queries --------------------------------------------------------------------------------

    def find(self, qualification_id: str) -> Qualification:
        for qualification in self.qualifications:
            if qualification.qualification_id == qualification_id:
                return qualification
        raise QualificationNotFound(qualification_id)

    def active_of_type(self, qualification_type: str) -> Qualification | None:
        for qualification in self.qualifications:
            if qualification.qualification_type == qualification_type and qualification.active:
                return qualification
        return None

    def active_count(self) -> int:
        return sum(1 for qualification in self.qualifications if qualification.active)

    def validity_of(self, qualification: Qualification, today: date) -> Validity:
        return calculate_validity(qualification.required_certificates, self.certificates, today)

    # --- applications ---------------------------------------------------------------------------

    def apply(
        self, qualification_type: str, required_certificates: tuple[str, ...], now: datetime
    ) -> Qualification:
        """Open a pending application, or raise the rule it breaks."""
        if not (self.registered and self.authenticated):
            raise EngineerNotAuthenticated(self.engineer_id)
        existing = self.active_of_type(qualification_type)
        if existing is not None:
            raise QualificationAlreadyHeld(
                existing.qualification_id, qualification_type, existing.status, existing.valid_until
            )
        if self.active_count() >= MAX_QUALIFICATIONS:
            raise QualificationLimitReached(MAX_QUALIFICATIONS)
        validity = calculate_validity(required_certificates, self.certificates, china_date(now))
        if not validity.complete:
            raise CertificatesMissing(qualification_type, validity.missing)

        qualification = Qualification(
            qualification_id=uuid.uuid4().hex,
            qualification_type=qualification_type,
            required_certificates=tuple(required_certificates),
            status=Status.PENDING,
            applied_at=now,
        )
        self.qualifications.append(qualification)
        self._record(QualificationApplied, qualification, now, None, applied_at=now)
        return qualification

    def withdraw(self, qualification_id: str, now: datetime) -> Qualification:
        qualification = self.find(qualification_id)
        if qualification.status != Status.PENDING:
            raise QualificationNotPending(qualification_id, qualification.status)
        qualification.status = Status.WITHDRAWN
        qualification.withdrawn_at = now
        self._record(QualificationWithdrawn, qualification, now, None, withdrawn_at=now)
        return qualification

    # --- exam scores ----------------------------------------------------------------------------

    def record_exam_score(self, score: ExamScoreCollectedPayload, now: datetime, cause: Event[Any]) -> str:
        """Apply a collected exam score; return what happened, for the log.

        Only a pending application takes a score. A score seen before (same attempt), a score of an
        attempt finished before this application, and any score once granted change nothing.
        """
        qualification = self.active_of_type(score.qualification_type)
        if qualification is None:
            return "no_application"
        if qualification.status == Status.GRANTED:
            return "already_granted"
        if qualification.has_result(score.attempt_id):
            return "duplicate_attempt"
        if score.finished_at < qualification.applied_at:
            return "attempt_before_application"

        # The pass mark is the contract's, not the producer's flag, so both services agree on 80.
        passed = score.score >= PASS_MARK
        qualification.exam_results.append(ExamResult(score.attempt_id, score.score, passed, score.finished_at))
        if not passed:
            return "failed"
        qualification.passed_score = score.score
        validity = self.validity_of(qualification, china_date(now))
        if not validity.complete:
            # Granted when the missing certificate takes effect again (see ``_recalculate``).
            return "passed_waiting_for_certificate"
        self._grant(qualification, validity, now, cause)
        return "granted"

    def _grant(self, qualification: Qualification, validity: Validity, now: datetime, cause: Event[Any] | None) -> None:
        assert validity.valid_until is not None and qualification.passed_score is not None
        qualification.status = Status.GRANTED
        qualification.granted_at = now
        self._set_validity(qualification, validity)
        self._record(
            QualificationGranted, qualification, now, cause,
            valid_until=validity.valid_until,
            limiting_certificate_type=qualification.limiting_certificate_type,
            score=qualification.passed_score,
            granted_at=now,
        )

    # --- certificate projection -----------------------------------------------------------------

    def certificate_took_effect(self, payload: CertificateTookEffectPayload, now: datetime, cause: Event[Any]) -> None:
        """Add the version that took effect; it replaces every earlier version of the same certificate."""
        same = [c for c in self.certificates if c.certificate_id == payload.certificate_id]
        if any(c.version >= payload.version for c in same):
            # A newer version is in effect already; an older one arriving late must not replace it.
            return
        self.certificates = [c for c in self.certificates if c.certificate_id != payload.certificate_id]
        self.certificates.append(
            HeldCertificate(payload.certificate_id, payload.version, payload.certificate_type, payload.expires_on)
        )
        self._recalculate(now, cause, lapse_reason="certificate_expired")

    def certificate_superseded(self, certificate_id: str, version: int, now: datetime, cause: Event[Any]) -> None:
        """Drop ``version`` only once its successor is in the projection.

        Dropping it earlier would leave the type without an effective version for a moment and
        lapse qualifications that the renewal is about to extend.
        """
        successor_present = any(
            c.certificate_id == certificate_id and c.version > version for c in self.certificates
        )
        if successor_present:
            self._drop(certificate_id, version)
            self._recalculate(now, cause, lapse_reason="certificate_expired")

    def certificate_ended(
        self, certificate_id: str, version: int, reason: LapseReason, now: datetime, cause: Event[Any]
    ) -> None:
        """Drop a version that expired or was revoked, and lapse what depended on it alone."""
        self._drop(certificate_id, version)
        self._recalculate(now, cause, lapse_reason=reason)

    def _drop(self, certificate_id: str, version: int) -> None:
        self.certificates = [
            c for c in self.certificates if not (c.certificate_id == certificate_id and c.version == version)
        ]

    def _recalculate(self, now: datetime, cause: Event[Any] | None, lapse_reason: LapseReason) -> None:
        """Bring every active qualification in line with the certificate projection."""
        today = china_date(now)
        for qualification in self.qualifications:
            validity = self.validity_of(qualification, today)
            if qualification.status == Status.PENDING:
                if qualification.passed_score is not None and validity.complete:
                    self._grant(qualification, validity, now, cause)
                continue
            if qualification.status == Status.LAPSED:
                if self._restorable(qualification, validity, today):
                    # Renewing the certificate, not applying again, restores a qualification that
                    # lapsed with it: the exam was passed, and the certificates are complete again.
                    qualification.lapse_reason = None
                    self._grant(qualification, validity, now, cause)
                continue
            if qualification.status != Status.GRANTED:
                continue
            if not validity.complete:
                self._lapse(qualification, lapse_reason, now, cause)
                continue
            self._change_validity(qualification, validity, now, cause)

    def _restorable(self, qualification: Qualification, validity: Validity, today: date) -> bool:
        """Return True when a lapsed qualification may take effect again on its earlier exam pass."""
        return (
            qualification.passed_score is not None
            and validity.complete
            and validity.valid_until is not None
            and validity.valid_until >= today
            and self.active_of_type(qualification.qualification_type) is None
            and self.active_count() < MAX_QUALIFICATIONS
        )

    def _change_validity(
        self, qualification: Qualification, validity: Validity, now: datetime, cause: Event[Any] | None
    ) -> None:
        limiting_type = validity.limiting.certificate_type if validity.limiting else None
        previous = qualification.valid_until
        unchanged = previous == validity.valid_until and qualification.limiting_certificate_type == limiting_type
        limiting_id = validity.limiting.certificate_id if validity.limiting else None
        if unchanged:
            qualification.limiting_certificate_id = limiting_id
            return
        self._set_validity(qualification, validity)
        qualification.validity_changed_at = now
        assert previous is not None and validity.valid_until is not None
        self._record(
            QualificationValidityChanged, qualification, now, cause,
            valid_until=validity.valid_until,
            previous_valid_until=previous,
            limiting_certificate_type=limiting_type,
            changed_at=now,
        )

    @staticmethod
    def _set_validity(qualification: Qualification, validity: Validity) -> None:
        qualification.valid_until = validity.valid_until
        qualification.limiting_certificate_type = validity.limiting.certificate_type if validity.limiting else None
        qualification.limiting_certificate_id = validity.limiting.certificate_id if validity.limiting else None

    # --- expiry ---------------------------------------------------------------------------------

    def lapse_expired(self, now: datetime) -> int:
        """Lapse every granted qualification whose validity ended before today (China Standard Time)."""
        today = china_date(now)
        lapsed = 0
        for qualification in self.qualifications:
            if qualification.status != Status.GRANTED:
                continue
            validity = self.validity_of(qualification, today)
            ended = qualification.valid_until is not None and qualification.valid_until < today
            if ended or not validity.complete:
                self._lapse(qualification, "expired", now, None)
                lapsed += 1
            else:
                self._change_validity(qualification, validity, now, None)
        return lapsed

    def _lapse(self, qualification: Qualification, reason: LapseReason, now: datetime, cause: Event[Any] | None) -> None:
        qualification.status = Status.LAPSED
        qualification.lapsed_at = now
        qualification.lapse_reason = reason
        self._record(QualificationLapsed, qualification, now, cause, reason=reason, lapsed_at=now)

    # --- events ---------------------------------------------------------------------------------

    def _record(
        self,
        event_cls: type[Event[Any]],
        qualification: Qualification,
        now: datetime,
        cause: Event[Any] | None,
        **fields: Any,
    ) -> None:
        assert self.outlet_id is not None and self.region_id is not None
        payload_cls = event_cls.model_fields["payload"].annotation
        payload = payload_cls(
            qualification_id=qualification.qualification_id,
            engineer_id=self.engineer_id,
            outlet_id=self.outlet_id,
            region_id=self.region_id,
            qualification_type=qualification.qualification_type,
            **fields,
        )
        if cause is not None:
            event = event_cls(
                producer=PRODUCER, payload=payload, occurred_at=now,
                correlation_id=cause.correlation_id, causation_id=cause.event_id,
            )
        else:
            event = event_cls(producer=PRODUCER, payload=payload, occurred_at=now)
        self.events.append(event)
