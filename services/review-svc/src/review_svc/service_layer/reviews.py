"""Use cases of reviews: open and cancel a review from certificate events, and reviewers' decisions."""

import uuid
from collections.abc import Callable
from typing import Any

import structlog

from bangke_contracts.certificates import CertificateSubmitted, CertificateWithdrawn
from bangke_runtime.clock import Clock

from ..adapters.repository import ReviewRepository
from ..domain.review import Reviewer, ReviewStatus, ReviewTask, Role
from ..errors import ReviewChanged, ReviewNotFound
from .events import review_events

log = structlog.get_logger()

_REVIEW_NAMESPACE = uuid.UUID("6f0a5c4e-2d1b-4f8e-9a37-5b2c1e0d9f11")


def review_id_for(certificate_id: str, version: int) -> str:
    """Return the review id of a certificate version: the same id every time the submission is seen."""
    return uuid.uuid5(_REVIEW_NAMESPACE, f"{certificate_id}:{version}").hex


class ReviewService:
    def __init__(self, repository: ReviewRepository, clock: Clock, on_events: Callable[[], None]) -> None:
        self.repository = repository
        self.clock = clock
        self._on_events = on_events

    async def open_review(self, event: CertificateSubmitted) -> bool:
        """Create the review task of a submitted certificate version; False when seen before."""
        payload = event.payload
        task = ReviewTask(
            review_id=review_id_for(payload.certificate_id, payload.version),
            certificate_id=payload.certificate_id,
            version=payload.version,
            engineer_id=payload.engineer_id,
            outlet_id=payload.outlet_id,
            region_id=payload.region_id,
            certificate_type=payload.certificate_type,
            kind=payload.kind,
            registry_confirmable=payload.registry_confirmable,
            number=payload.number,
            holder_name=payload.holder_name,
            holder_id_number=payload.holder_id_number,
            issued_on=payload.issued_on,
            expires_on=payload.expires_on,
            photo_keys=tuple(payload.photo_keys),
            number_held_by=tuple(payload.number_held_by),
            renewal=payload.renewal,
            submitted_at=payload.submitted_at,
        )

        created = await self.repository.add(task, str(event.event_id))
        log.info("review.opened" if created else "review.open_skipped_duplicate", review_id=task.review_id,
                 certificate_id=task.certificate_id, version=task.version, kind=task.kind)
        return created

    async def cancel_review(self, event: CertificateWithdrawn) -> bool:
        """Cancel the open review of a withdrawn certificate version; False when there is none."""
        payload = event.payload
        task = await self.repository.get(review_id_for(payload.certificate_id, payload.version))
        if task is None or not task.cancel(self.clock.now()):
            log.info("review.cancel_skipped", certificate_id=payload.certificate_id, version=payload.version,
                     status=task.status.value if task else None)
            return False

        saved = await self.repository.save(task, [], event_id=str(event.event_id))
        if not saved:
            # A reviewer or the registry check changed the task meanwhile, or this event was applied
            # before; raising makes the subscriber retry against the new state.
            current = await self.repository.get(task.review_id)
            if current is None or not current.is_open:
                return False
            raise ReviewChanged(review_id=task.review_id)
        log.info("review.cancelled", review_id=task.review_id, certificate_id=payload.certificate_id, version=payload.version)
        return True

    async def get_for(self, reviewer: Reviewer, review_id: str) -> ReviewTask:
        task = await self.repository.get(review_id)
        if task is None or not task.in_scope_of(reviewer):
            raise ReviewNotFound(review_id=review_id)
        return task

    async def approve(self, reviewer: Reviewer, review_id: str) -> ReviewTask:
        task = await self.get_for(reviewer, review_id)

        task.approve(reviewer, self.clock.now())

        await self._save(task)
        log.info("review.approved", review_id=review_id, reviewer_id=reviewer.account_id, role=reviewer.role,
                 status=task.status.value)
        return task

    async def reject(self, reviewer: Reviewer, review_id: str, reason: str) -> ReviewTask:
        task = await self.get_for(reviewer, review_id)

        task.reject(reviewer, reason, self.clock.now())

        await self._save(task)
        log.info("review.rejected", review_id=review_id, reviewer_id=reviewer.account_id, role=reviewer.role)
        return task

    async def queue(self, reviewer: Reviewer, *, limit: int, offset: int) -> tuple[list[ReviewTask], int]:
        """Return the open tasks waiting for the reviewer: their outlet's, or their region's spot checks."""
        query: dict[str, Any]
        if reviewer.role == Role.OUTLET_MANAGER and reviewer.outlet_id:
            query = {"status": ReviewStatus.PENDING_OUTLET_REVIEW.value, "outlet_id": reviewer.outlet_id}
        elif reviewer.role == Role.TRAINING_MANAGER and reviewer.region_id:
            query = {"status": ReviewStatus.PENDING_SPOT_CHECK.value, "region_id": reviewer.region_id}
        else:
            return [], 0
        return await self.repository.queue(query, limit=limit, offset=offset)

    async def _save(self, task: ReviewTask) -> None:
        events = review_events(task, correlation_id=uuid.uuid4())
        if not await self.repository.save(task, events):
            raise ReviewChanged(review_id=task.review_id)
        self._on_events()
