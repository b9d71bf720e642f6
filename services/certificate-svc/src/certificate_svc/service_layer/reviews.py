"""Review outcomes from review-svc: a version takes effect or is rejected; decisions join its history.

Each event is applied at most once: its id is recorded in the certificate's document in the same
write as the effect. An event about a version that is no longer under review (withdrawn, say) is
logged and skipped, because the engineer's later action wins over a review of what they took back.
"""

from collections.abc import Callable

import structlog

from bangke_contracts.reviews import ReviewCompleted, ReviewDecisionRecorded
from bangke_runtime.kafka import PermanentError

from ..domain.errors import ConcurrentUpdate
from ..domain.model import Certificate, Decision
from .dependencies import Dependencies, envelopes

log = structlog.get_logger()

SAVE_ATTEMPTS = 5
"""Reloads after losing a race with another write to the same certificate, before the message is retried."""


async def on_review_completed(deps: Dependencies, event: ReviewCompleted) -> None:
    payload = event.payload

    def apply(certificate: Certificate) -> bool:
        return certificate.complete_review(
            payload.version, payload.outcome == "approved", payload.reason, payload.decided_by_role,
            payload.review_id, deps.clock.now(),
        )

    await _apply(deps, event, payload.certificate_id, payload.engineer_id, payload.version, apply)


async def on_decision_recorded(deps: Dependencies, event: ReviewDecisionRecorded) -> None:
    payload = event.payload
    decision = Decision(
        review_id=payload.review_id,
        step=payload.step,
        outcome=payload.outcome,
        actor_id=payload.actor_id,
        actor_role=payload.actor_role,
        reason=payload.reason,
        differences=tuple(payload.differences),
        decided_at=payload.decided_at,
    )

    await _apply(
        deps, event, payload.certificate_id, payload.engineer_id, payload.version,
        lambda certificate: certificate.record_decision(payload.version, decision),
    )


async def _apply(
    deps: Dependencies,
    event: ReviewCompleted | ReviewDecisionRecorded,
    certificate_id: str,
    engineer_id: str,
    version: int,
    apply: Callable[[Certificate], bool],
) -> None:
    for _attempt in range(SAVE_ATTEMPTS):
        certificate, already_applied = await deps.certificates.get_for_event(certificate_id, event.event_id)
        if certificate is None or certificate.engineer_id != engineer_id:
            # Retrying cannot create the certificate; keep the message in the dead-letter topic.
            raise PermanentError(f"review event {event.type} names unknown certificate {certificate_id}")
        if already_applied:
            log.info("review.duplicate_skipped", certificate_id=certificate_id, version=version, type=event.type)
            return

        if not apply(certificate):
            current = certificate.version(version)
            log.warning("review.ignored_not_under_review", certificate_id=certificate_id, version=version,
                        type=event.type, status=current.status.value if current else None)
            return

        now = deps.clock.now()
        if await deps.certificates.save(certificate, envelopes(certificate.events, now, event), event.event_id):
            deps.relay.kick()
            log.info("review.applied", certificate_id=certificate_id, version=version, type=event.type,
                     status=certificate.version(version).status.value)
            return
    raise ConcurrentUpdate(certificate_id=certificate_id)
