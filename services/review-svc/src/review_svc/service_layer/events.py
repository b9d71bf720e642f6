"""Turn what a review task recorded into the events other services read on reviews.v1."""

from typing import Any
from uuid import UUID

from bangke_contracts.envelope import Event
from bangke_contracts.reviews import (
    ReviewCompleted,
    ReviewCompletedPayload,
    ReviewDecisionRecorded,
    ReviewDecisionRecordedPayload,
)

from ..domain.review import ReviewTask

PRODUCER = "review-svc"


def review_events(task: ReviewTask, *, correlation_id: UUID, causation_id: UUID | None = None) -> list[Event[Any]]:
    """Return one decision event per new decision, then the completion event if the review ended."""
    events: list[Event[Any]] = [
        ReviewDecisionRecorded(
            producer=PRODUCER,
            correlation_id=correlation_id,
            causation_id=causation_id,
            occurred_at=decision.decided_at,
            payload=ReviewDecisionRecordedPayload(
                review_id=task.review_id,
                certificate_id=task.certificate_id,
                version=task.version,
                engineer_id=task.engineer_id,
                step=decision.step.value,
                outcome=decision.outcome,
                actor_id=decision.actor_id,
                actor_role=decision.actor_role,
                reason=decision.reason,
                differences=[difference.field for difference in decision.differences],
                decided_at=decision.decided_at,
            ),
        )
        for decision in task.new_decisions
    ]
    if task.just_completed:
        assert task.completed_at is not None and task.completed_outcome in ("approved", "rejected")
        events.append(
            ReviewCompleted(
                producer=PRODUCER,
                correlation_id=correlation_id,
                causation_id=causation_id,
                occurred_at=task.completed_at,
                payload=ReviewCompletedPayload(
                    review_id=task.review_id,
                    certificate_id=task.certificate_id,
                    version=task.version,
                    engineer_id=task.engineer_id,
                    outcome=task.completed_outcome,
                    reason=task.completed_reason,
                    decided_by_role=task.completed_by_role or "",
                    completed_at=task.completed_at,
                ),
            )
        )
    return events
