"""Kafka subscribers: certificate submissions open reviews, withdrawals cancel them.

certificates.v1 carries every certificate event, and most of them (took effect, expired, ...) are
certificate-svc's own outcomes that review-svc ignores. So the subscriber takes records in batches
and commits once per batch, instead of a commit round trip for every ignored event. One engineer's
events are applied in order, and engineers are handled side by side.
"""

from typing import Any

from faststream.kafka import KafkaBroker
from pydantic import SkipValidation, TypeAdapter

from bangke_contracts.certificates import CertificateEvent, CertificateSubmitted, CertificateWithdrawn
from bangke_contracts.topics import CERTIFICATES
from bangke_runtime.batches import apply_by_key
from bangke_runtime.kafka import DeadLetterPolicy, batch_subscriber_options

from ..service_layer.reviews import ReviewService
from ..settings import ReviewSettings

CERTIFICATE_BATCH = 200
"""Maximum certificate records handled together. A batch is what the consumer has fetched."""

GATHER_MS = 200
"""Milliseconds Kafka waits before it answers each fetch, so that a batch collects 200 ms of events."""

ENGINEERS_AT_ONCE = 8
"""Engineers of one batch whose events are applied side by side."""

_certificate_event: TypeAdapter[Any] = TypeAdapter(CertificateEvent)


def register_subscribers(broker: KafkaBroker, settings: ReviewSettings, service: ReviewService) -> None:
    dead_letters = DeadLetterPolicy(settings)
    dead_letters.broker = broker

    async def apply_engineer(_engineer_id: str, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, CertificateSubmitted):
                await service.open_review(event)
            elif isinstance(event, CertificateWithdrawn):
                await service.cancel_review(event)

    @broker.subscriber(
        settings.topic(CERTIFICATES),
        **batch_subscriber_options(settings, "review-certificates", max_records=CERTIFICATE_BATCH, gather_ms=GATHER_MS),
    )
    async def on_certificates(records: SkipValidation[CertificateEvent]) -> None:
        # ``records`` is the list of consumed ConsumerRecords, unparsed (decoder ``raw_records``), so
        # that one bad record does not fail the batch. The annotation documents each message's payload.
        await apply_by_key(
            records,  # type: ignore[arg-type]
            _certificate_event,
            lambda event: event.payload.engineer_id,
            apply_engineer,
            dead_letters,
            settings,
            at_once=ENGINEERS_AT_ONCE,
        )
