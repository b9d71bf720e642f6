"""Events of review-svc: each review decision and the final outcome of a review."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from . import topics
from .common import Id
from .envelope import Event, Payload

ReviewStep = Literal["outlet_review", "registry_check", "spot_check"]
DecisionOutcome = Literal["approved", "rejected", "found_matching", "not_found", "mismatch"]


class ReviewDecisionRecordedPayload(Payload):
    review_id: Id
    certificate_id: Id
    version: int
    engineer_id: Id
    step: ReviewStep
    outcome: DecisionOutcome
    actor_id: Id = Field(description="Reviewer's account id, or 'registry-check' for the nightly job.")
    actor_role: str
    reason: str | None = None
    differences: list[str] = Field(default_factory=list, description="Fields that differ from the registry.")
    decided_at: datetime


class ReviewDecisionRecorded(Event[ReviewDecisionRecordedPayload]):
    topic: ClassVar[str] = topics.REVIEWS
    type: Literal["review.decision_recorded"] = "review.decision_recorded"
    payload: ReviewDecisionRecordedPayload


class ReviewCompletedPayload(Payload):
    review_id: Id
    certificate_id: Id
    version: int
    engineer_id: Id
    outcome: Literal["approved", "rejected"]
    reason: str | None = Field(None, description="Rejection reason the engineer reads.")
    decided_by_role: str
    completed_at: datetime


class ReviewCompleted(Event[ReviewCompletedPayload]):
    topic: ClassVar[str] = topics.REVIEWS
    type: Literal["review.completed"] = "review.completed"
    payload: ReviewCompletedPayload


ReviewEvent = Annotated[ReviewDecisionRecorded | ReviewCompleted, Field(discriminator="type")]
