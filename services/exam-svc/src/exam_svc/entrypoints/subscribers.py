"""Kafka subscribers of exam-svc: which exams each engineer may take, from qualifications.v1.

Records arrive in batches and are committed once per batch. The batch's engineers are read with one
query, one engineer's events are applied in order, and engineers are handled side by side, so that
on FerretDB their updates go out as one command (adapters/applications.py).
"""

from typing import Any

from pydantic import SkipValidation, TypeAdapter

from bangke_contracts.qualifications import QualificationEvent, QualificationValidityChanged
from bangke_contracts.topics import QUALIFICATIONS
from bangke_runtime.batches import apply_by_key
from bangke_runtime.kafka import DeadLetterPolicy, batch_subscriber_options
from bangke_runtime.runtime import Runtime
from bangke_runtime.serialised import GROUP_LIMIT

from ..service_layer.handlers import ExamService

QUALIFICATION_BATCH = 200
"""Maximum qualification records handled together. A batch is what the consumer has fetched."""

GATHER_MS = 200
"""Milliseconds Kafka waits before it answers each fetch, so that a batch collects 200 ms of events."""

ENGINEERS_AT_ONCE = GROUP_LIMIT
"""Engineers of one batch whose events are applied side by side, as many as the runtime sends in one
``update`` command."""

_qualification_event: TypeAdapter[Any] = TypeAdapter(QualificationEvent)


def register_subscribers(runtime: Runtime, service: ExamService) -> None:
    settings = runtime.settings
    dead_letters = DeadLetterPolicy(settings)
    dead_letters.broker = runtime.broker

    async def apply_engineer(_engineer_id: str, events: list[Any]) -> None:
        for event in events:
            # A new validity does not change whether an exam may be taken.
            if not isinstance(event, QualificationValidityChanged):
                await service.on_qualification_event(event)

    @runtime.broker.subscriber(
        settings.topic(QUALIFICATIONS),
        **batch_subscriber_options(settings, "exam-applications", max_records=QUALIFICATION_BATCH, gather_ms=GATHER_MS),
    )
    async def on_qualifications(records: SkipValidation[QualificationEvent]) -> None:
        # ``records`` is the list of consumed ConsumerRecords, unparsed (decoder ``raw_records``), so
        # that one bad record does not fail the batch. The annotation documents each message's payload.
        await apply_by_key(
            records,  # type: ignore[arg-type]
            _qualification_event,
            lambda event: event.payload.engineer_id,
            apply_engineer,
            dead_letters,
            settings,
            at_once=ENGINEERS_AT_ONCE,
            prepare=service.applications.preload,
        )
