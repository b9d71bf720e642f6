"""Kafka subscribers of qualification-svc: identity, certificates and exam scores.

Each subscriber has its own consumer group and commits after its handler returned; the handlers
record the event id in the engineer's document in the same write as the effect.

Certificate events arrive in batches: the events of one engineer are applied in order with one load
and one save, engineers are handled side by side, and the offsets are committed once the whole batch
is stored. A record that cannot be parsed, or whose engineer keeps failing when its events are
applied one by one, goes to the dead-letter topic and the rest of the batch goes on.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import SkipValidation, TypeAdapter, ValidationError

from bangke_contracts.certificates import CertificateEvent
from bangke_contracts.exams import ExamEvent
from bangke_contracts.identity import EngineerAuthenticated, EngineerEvent, EngineerRegistered
from bangke_contracts.topics import CERTIFICATES, EXAMS, IDENTITY_ENGINEERS
from bangke_runtime.kafka import DeadLetterPolicy, PermanentError, batch_subscriber_options, subscriber_options
from bangke_runtime.runtime import Runtime
from bangke_runtime.settings import ServiceSettings

from ..service_layer.handlers import QualificationService

log = structlog.get_logger()

CERTIFICATE_BATCH = 200
"""Maximum certificate records handled together. A batch is what the consumer has fetched, and it is
not held back to fill up."""

ENGINEERS_AT_ONCE = 8
"""Engineers of one batch handled side by side, so that one's read overlaps another's write. More did
not help on FerretDB v1 on SQLite, where writes of one process go one at a time."""

_certificate_event: TypeAdapter[Any] = TypeAdapter(CertificateEvent)


async def _with_retries(settings: ServiceSettings, work: Callable[[], Awaitable[Any]]) -> None:
    """Run ``work`` up to ``handler_attempts`` times with the subscriber's backoff; raise the last error."""
    delay = settings.handler_retry_backoff_s
    for attempt in range(1, settings.handler_attempts + 1):
        try:
            await work()
            return
        except asyncio.CancelledError:
            raise
        except (ValidationError, PermanentError):
            raise
        except Exception as error:
            if attempt == settings.handler_attempts:
                raise
            log.warning("message.retrying", attempt=attempt, error_type=type(error).__name__, error=str(error)[:500])
            await asyncio.sleep(delay)
            delay *= 2


async def handle_certificate_records(
    records: list[Any], service: QualificationService, dead_letters: DeadLetterPolicy, settings: ServiceSettings
) -> None:
    """Apply a batch of consumed certificate records; return once every applicable one is stored."""
    by_engineer: dict[str, list[tuple[Any, Any]]] = {}
    for record in records:
        try:
            event = _certificate_event.validate_json(record.value or b"")
        except (ValidationError, ValueError) as error:
            log.warning("message.rejected", error_type=type(error).__name__, error=str(error)[:500])
            await dead_letters.dead_letter_record(record, error, 1)
            continue
        # Records keep their order within a partition, and an engineer's events share a partition.
        by_engineer.setdefault(event.payload.engineer_id, []).append((record, event))

    try:
        await service.preload(list(by_engineer))
    except asyncio.CancelledError:
        raise
    except Exception as error:
        # Only a saving: each engineer is then read on its own, with retries.
        log.warning("qualification.preload_failed", error_type=type(error).__name__, error=str(error)[:500])

    limit = asyncio.Semaphore(ENGINEERS_AT_ONCE)

    async def apply_engineer(engineer_id: str, items: list[tuple[Any, Any]]) -> None:
        async with limit:
            try:
                await _with_retries(settings, lambda: service.on_certificate_events(engineer_id, [e for _r, e in items]))
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if len(items) == 1:
                    await _dead_letter_failed(dead_letters, settings, items[0][0], error)
                    return
                log.warning("qualification.batch_failed", engineer_id=engineer_id, events=len(items),
                            error_type=type(error).__name__)
            # Find the event that fails: apply them one by one, in order, and dead-letter the failing ones.
            for record, event in items:
                try:
                    await _with_retries(settings, lambda event=event: service.on_certificate_events(engineer_id, [event]))
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    await _dead_letter_failed(dead_letters, settings, record, error)

    results = await asyncio.gather(
        *(apply_engineer(engineer_id, items) for engineer_id, items in by_engineer.items()), return_exceptions=True
    )
    for result in results:
        # Only a failed dead-letter publish gets here: the batch is not committed and comes again.
        if isinstance(result, BaseException):
            raise result


async def _dead_letter_failed(dead_letters: DeadLetterPolicy, settings: ServiceSettings, record: Any, error: Exception) -> None:
    permanent = isinstance(error, (ValidationError, PermanentError))
    attempts = 1 if permanent else settings.handler_attempts
    log.error("message.failed", attempts=attempts, error_type=type(error).__name__, error=str(error)[:500])
    await dead_letters.dead_letter_record(record, error, attempts)


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
