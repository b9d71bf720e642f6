"""The review of one certificate version: its steps, who may act, and where it goes next.

Routing:

- every certificate starts with the outlet manager of the engineer's outlet;
- temporary certificates then go to a training manager of the region for a spot check;
- long-term certificates of a type the safety registry holds wait for the nightly registry check.
  Found and matching, the review ends approved. Not found, a training manager spot-checks it from
  the calendar day after the outlet approval (China Standard Time). Found but not matching, a
  training manager spot-checks it with the differences shown, at once;
- long-term certificates of a type the registry does not hold go straight to a spot check, under
  the same day-after rule as a certificate the registry did not find.

Any reviewer may reject, with a reason the engineer reads. Decisions are appended, never changed.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from bangke_runtime.clock import china_date

from ..errors import (
    RejectionReasonMissing,
    RejectionReasonTooLong,
    ReviewNotAtStep,
    SelfReviewForbidden,
    SpotCheckTooEarly,
)
from .registry import Difference, RegistryVerdict

REGISTRY_ACTOR_ID = "registry-check"
MAX_REASON_LENGTH = 500


class ReviewStatus(StrEnum):
    PENDING_OUTLET_REVIEW = "pending_outlet_review"
    AWAITING_REGISTRY_CHECK = "awaiting_registry_check"
    PENDING_SPOT_CHECK = "pending_spot_check"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


OPEN_STATUSES = (
    ReviewStatus.PENDING_OUTLET_REVIEW,
    ReviewStatus.AWAITING_REGISTRY_CHECK,
    ReviewStatus.PENDING_SPOT_CHECK,
)


class SpotCheckReason(StrEnum):
    TEMPORARY = "temporary"
    REGISTRY_NOT_FOUND = "registry_not_found"
    REGISTRY_MISMATCH = "registry_mismatch"
    NOT_REGISTRY_CONFIRMABLE = "not_registry_confirmable"


class Role(StrEnum):
    OUTLET_MANAGER = "outlet_manager"
    TRAINING_MANAGER = "training_manager"
    REGISTRY_CHECK = "registry_check"


class Step(StrEnum):
    OUTLET_REVIEW = "outlet_review"
    REGISTRY_CHECK = "registry_check"
    SPOT_CHECK = "spot_check"


@dataclass(frozen=True, slots=True)
class Reviewer:
    """A person acting on reviews, with the scope their token grants."""

    account_id: str
    role: str
    outlet_id: str | None = None
    region_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision of a review; kept for good once recorded."""

    step: Step
    outcome: str
    actor_id: str
    actor_role: str
    decided_at: datetime
    reason: str | None = None
    differences: tuple[Difference, ...] = ()


@dataclass(slots=True)
class ReviewTask:
    review_id: str
    certificate_id: str
    version: int
    engineer_id: str
    outlet_id: str
    region_id: str
    certificate_type: str
    kind: str
    registry_confirmable: bool
    number: str
    holder_name: str
    holder_id_number: str
    issued_on: date
    expires_on: date
    photo_keys: tuple[str, ...]
    number_held_by: tuple[str, ...]
    renewal: bool
    submitted_at: datetime
    status: ReviewStatus = ReviewStatus.PENDING_OUTLET_REVIEW
    revision: int = 0
    outlet_approved_at: datetime | None = None
    spot_check_reason: SpotCheckReason | None = None
    spot_check_from: date | None = None
    differences: tuple[Difference, ...] = ()
    decisions: list[Decision] = field(default_factory=list)
    completed_outcome: str | None = None
    completed_reason: str | None = None
    completed_by_role: str | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    new_decisions: list[Decision] = field(default_factory=list)
    """Decisions made since the task was loaded; the repository appends them."""
    storage: str = "task"
    """Repository bookkeeping, like ``revision``: the collection of the task and how its next state is written."""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def number_shared(self) -> bool:
        return bool(self.number_held_by)

    @property
    def just_completed(self) -> bool:
        """True when a decision since loading ended the review."""
        return self.completed_at is not None and bool(self.new_decisions)

    def in_scope_of(self, reviewer: Reviewer) -> bool:
        """Return whether the reviewer may see this task: their outlet, or their region."""
        if reviewer.role == Role.OUTLET_MANAGER:
            return reviewer.outlet_id is not None and reviewer.outlet_id == self.outlet_id
        if reviewer.role == Role.TRAINING_MANAGER:
            return reviewer.region_id is not None and reviewer.region_id == self.region_id
        return False

    def spot_check_allowed_on(self, today: date) -> bool:
        return self.spot_check_from is None or today >= self.spot_check_from

    # Decisions of people.

    def approve(self, reviewer: Reviewer, now: datetime) -> None:
        step = self._step_of(reviewer, now)
        self._record(Decision(step, "approved", reviewer.account_id, reviewer.role, now))
        if step == Step.SPOT_CHECK:
            self._complete("approved", None, reviewer.role, now)
            return

        self.outlet_approved_at = now
        if self.kind == "temporary":
            self._send_to_spot_check(SpotCheckReason.TEMPORARY, None)
        elif not self.registry_confirmable:
            self._send_to_spot_check(SpotCheckReason.NOT_REGISTRY_CONFIRMABLE, first_spot_check_day(now))
        else:
            self.status = ReviewStatus.AWAITING_REGISTRY_CHECK

    def reject(self, reviewer: Reviewer, reason: str, now: datetime) -> None:
        reason = normalise_reason(reason)
        step = self._step_of(reviewer, now)
        self._record(Decision(step, "rejected", reviewer.account_id, reviewer.role, now, reason=reason))
        self._complete("rejected", reason, reviewer.role, now)

    def _step_of(self, reviewer: Reviewer, now: datetime) -> Step:
        """Return the step the reviewer acts at, or raise why they may not act now."""
        if reviewer.account_id == self.engineer_id:
            raise SelfReviewForbidden(review_id=self.review_id)
        if reviewer.role == Role.OUTLET_MANAGER and self.status == ReviewStatus.PENDING_OUTLET_REVIEW:
            return Step.OUTLET_REVIEW
        if reviewer.role == Role.TRAINING_MANAGER and self.status == ReviewStatus.PENDING_SPOT_CHECK:
            if not self.spot_check_allowed_on(china_date(now)):
                assert self.spot_check_from is not None
                raise SpotCheckTooEarly(self.review_id, self.spot_check_from)
            return Step.SPOT_CHECK
        raise ReviewNotAtStep(review_id=self.review_id, status=self.status.value, role=reviewer.role)

    # Decisions of the nightly registry check.

    def record_registry_result(self, verdict: RegistryVerdict, now: datetime) -> None:
        if self.status != ReviewStatus.AWAITING_REGISTRY_CHECK:
            raise ReviewNotAtStep(review_id=self.review_id, status=self.status.value, role=Role.REGISTRY_CHECK.value)
        self._record(
            Decision(
                Step.REGISTRY_CHECK, verdict.outcome, REGISTRY_ACTOR_ID, Role.REGISTRY_CHECK.value, now,
                differences=verdict.differences,
            )
        )
        if verdict.outcome == "found_matching":
            self._complete("approved", None, Role.REGISTRY_CHECK.value, now)
        elif verdict.outcome == "not_found":
            assert self.outlet_approved_at is not None
            self._send_to_spot_check(SpotCheckReason.REGISTRY_NOT_FOUND, first_spot_check_day(self.outlet_approved_at))
        else:
            self.differences = verdict.differences
            self._send_to_spot_check(SpotCheckReason.REGISTRY_MISMATCH, None)

    # The certificate was withdrawn.

    def cancel(self, now: datetime) -> bool:
        """Cancel an open review; return False when the review had already ended."""
        if not self.is_open:
            return False
        self.status = ReviewStatus.CANCELLED
        self.cancelled_at = now
        return True

    def _record(self, decision: Decision) -> None:
        self.decisions.append(decision)
        self.new_decisions.append(decision)

    def _send_to_spot_check(self, reason: SpotCheckReason, first_day: date | None) -> None:
        self.status = ReviewStatus.PENDING_SPOT_CHECK
        self.spot_check_reason = reason
        self.spot_check_from = first_day

    def _complete(self, outcome: str, reason: str | None, role: str, now: datetime) -> None:
        self.status = ReviewStatus.APPROVED if outcome == "approved" else ReviewStatus.REJECTED
        self.completed_outcome = outcome
        self.completed_reason = reason
        self.completed_by_role = role
        self.completed_at = now


def first_spot_check_day(outlet_approved_at: datetime) -> date:
    """Return the first China calendar day on which a training manager may spot-check.

    It is the day after the outlet approval's date in Asia/Shanghai, whatever the hour: an approval
    at 23:59 on D and one at 00:00 on D both allow action from 00:00 on D+1.
    """
    return china_date(outlet_approved_at) + timedelta(days=1)


def normalise_reason(reason: str | None) -> str:
    """Return the trimmed rejection reason, or raise when it is blank or too long."""
    text = (reason or "").strip()
    if not text:
        raise RejectionReasonMissing(field="reason", hint="请填写驳回原因，例如：照片模糊，请重新拍摄上传")
    if len(text) > MAX_REASON_LENGTH:
        raise RejectionReasonTooLong(field="reason", max_length=MAX_REASON_LENGTH, length=len(text))
    return text
