"""Kafka subscribers of qualification-svc: identity, certificates and exam scores.

Each subscriber has its own consumer group and commits after its handler returned; the handlers
record the event id in the engineer's document in the same write as the effect.

Certificate events arrive in batches: the events of one engineer are applied in order with one load
and one save, engineers are handled side by side, and the offsets are committed once the whole batch
is stored. A record that cannot be parsed, or whose engineer keeps failing when its events are
applied one by one, goes to the dead-letter topic and the rest of the batch goes on.
"""

from typing import Any

from pydantic import SkipValidation, TypeAdapter

from bangke_contracts.certificates import CertificateEvent
from bangke_contracts.exams import ExamEvent
from bangke_contracts.identity import EngineerAuthenticated, EngineerEvent, EngineerRegistered
from bangke_contracts.topics import CERTIFICATES, EXAMS, IDENTITY_ENGINEERS
from bangke_runtime.batches import apply_by_key
from bangke_runtime.kafka import DeadLetterPolicy, batch_subscriber_options, subscriber_options
from bangke_runtime.runtime import Runtime
from bangke_runtime.serialised import GROUP_LIMIT
from bangke_runtime.settings import ServiceSettings

from ..service_layer.handlers import QualificationService

CERTIFICATE_BATCH = 200
"""Maximum certificate records handled together. A batch is what the consumer has fetched, and it is
not held back to fill up."""

ENGINEERS_AT_ONCE = GROUP_LIMIT
"""Engineers of one batch handled side by side, as many as the runtime sends in one ``update``
command. Before saves went out together, 8 gave the highest recalculation rate of 4, 8 and 16
(docs/benchmarks/qualification-svc.md). Now each group of 8 would cost the batch one more round trip
to FerretDB."""

_certificate_event: TypeAdapter[Any] = TypeAdapter(CertificateEvent)


async def handle_certificate_records(
    records: list[Any], service: QualificationService, dead_letters: DeadLetterPolicy, settings: ServiceSettings
) -> None:
    """Apply a batch of consumed certificate records; return once every applicable one is stored."""
    await apply_by_key(
        records,
        _certificate_event,
        lambda event: event.payload.engineer_id,
        service.on_certificate_events,
        dead_letters,
        settings,
        at_once=ENGINEERS_AT_ONCE,
        prepare=service.preload,
    )


def register_subscribers(runtime: Runtime, service: QualificationService) -> None:
    settings = runtime.settings
    broker = runtime.broker

    @broker.subscriber(settings.topic(IDENTITY_ENGINEERS), **subscriber_options(settings, "qualification-identity"))
    async def on_identity_engineers(event: EngineerEvent) -> None:
        match event:
            case EngineerRegistered():
                await service.on_engineer_registered(event)
            case EngineerAuthenticated():
                await service.on_engineer_authenticated(event)

    dead_letters = DeadLetterPolicy(settings)
    dead_letters.broker = broker

    @broker.subscriber(
        settings.topic(CERTIFICATES),
        **batch_subscriber_options(settings, "qualification-certificates", max_records=CERTIFICATE_BATCH),
    )
    async def on_certificates(records: SkipValidation[CertificateEvent]) -> None:
        # ``records`` is the list of consumed ConsumerRecords, unparsed, because the decoder is
        # ``raw_records`` and validation is skipped: each record is parsed on its own, so that one bad
        # record does not fail the batch. The annotation only documents each message's payload (one
        # certificate event) in the AsyncAPI schema.
        await handle_certificate_records(records, service, dead_letters, settings)  # type: ignore[arg-type]

    @broker.subscriber(settings.topic(EXAMS), **subscriber_options(settings, "qualification-exams"))
    async def on_exams(event: ExamEvent) -> None:
        await service.on_exam_score(event)
