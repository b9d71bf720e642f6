"""Kafka set-up: an idempotent producer, subscribers that commit after their work, and dead letters.

Delivery is at least once. A subscriber's offset is committed only after its handler returned, so
work that was stored but not committed is seen again after a crash; handlers make that harmless by
recording the event id in the same document write as their effect (see ``idempotency.py``).

A message whose handler keeps failing is not retried forever: after ``handler_attempts`` tries, or at
once when the message cannot be parsed or validated, it is copied to ``<topic>.dlq`` with the error
and the attempt count in its headers, and the partition moves on.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import AckPolicy
from faststream._internal.middlewares import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from pydantic import ValidationError

from bangke_contracts.topics import dead_letter_topic

from .settings import ServiceSettings

log = structlog.get_logger()

HEADER_ERROR = "x-dead-letter-error"
HEADER_ERROR_TYPE = "x-dead-letter-error-type"
HEADER_ATTEMPTS = "x-dead-letter-attempts"
HEADER_ORIGINAL_TOPIC = "x-original-topic"
HEADER_ORIGINAL_PARTITION = "x-original-partition"
HEADER_ORIGINAL_OFFSET = "x-original-offset"
HEADER_SERVICE = "x-dead-letter-service"


class PermanentError(Exception):
    """A handler error that retrying cannot fix; the message goes straight to the dead-letter topic."""


_PERMANENT = (ValidationError, json.JSONDecodeError, UnicodeDecodeError, PermanentError)


def _envelope_ids(body: bytes) -> dict[str, str]:
    """Pull event and correlation ids out of a raw message for logging, tolerating garbage."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        name: str(data[name])
        for name in ("event_id", "correlation_id", "type")
        if isinstance(data.get(name), (str, int))
    }


class DeadLetterPolicy:
    """Retry and dead-letter settings, plus the broker used to publish dead letters."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.broker: KafkaBroker | None = None

    def middleware(self) -> type[BaseMiddleware]:
        policy = self

        class DeadLetterMiddleware(BaseMiddleware):
            async def consume_scope(
                self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
            ) -> Any:
                return await policy.consume(call_next, msg)

        return DeadLetterMiddleware

    async def consume(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        record = msg.raw_message
        if isinstance(record, (tuple, list)):
            # A batch subscriber's message: its handler dead-letters single records itself
            # (``dead_letter_record``); here only a failure of the whole batch is handled.
            return await self._consume_with_retries(call_next, msg, getattr(record[0], "topic", "") if record else "", {})
        topic = getattr(record, "topic", "")
        ids = _envelope_ids(msg.body)
        structlog.contextvars.bind_contextvars(
            topic=topic,
            partition=getattr(record, "partition", None),
            offset=getattr(record, "offset", None),
            event_id=ids.get("event_id"),
            correlation_id=ids.get("correlation_id"),
        )
        try:
            return await self._consume_with_retries(call_next, msg, topic, ids)
        finally:
            structlog.contextvars.unbind_contextvars("topic", "partition", "offset", "event_id", "correlation_id")

    async def _consume_with_retries(
        self,
        call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
        msg: StreamMessage[Any],
        topic: str,
        ids: dict[str, str],
    ) -> Any:
        attempts = self.settings.handler_attempts
        delay = self.settings.handler_retry_backoff_s
        for attempt in range(1, attempts + 1):
            try:
                return await call_next(msg)
            except asyncio.CancelledError:
                raise
            except _PERMANENT as error:
                # Retrying cannot make a malformed or unknown message valid.
                log.warning("message.rejected", error_type=type(error).__name__, error=str(error)[:500])
                await self.dead_letter(msg, topic, error, attempt)
                return None
            except Exception as error:
                if attempt == attempts:
                    log.error("message.failed", attempts=attempt, error_type=type(error).__name__, error=str(error)[:500])
                    await self.dead_letter(msg, topic, error, attempt)
                    return None
                log.warning("message.retrying", attempt=attempt, error_type=type(error).__name__, error=str(error)[:500])
                await asyncio.sleep(delay)
                delay *= 2
        return None

    async def dead_letter(self, msg: StreamMessage[Any], topic: str, error: BaseException, attempts: int) -> None:
        """Copy the message to its dead-letter topic; raising here makes the message be redelivered.

        A batch message is copied record by record, each with its own partition and offset.
        """
        record = msg.raw_message
        if isinstance(record, (tuple, list)):
            for single in record:
                await self.dead_letter_record(single, error, attempts)
            return
        await self._dead_letter(msg.body, record, topic, error, attempts)

    async def dead_letter_record(self, record: Any, error: BaseException, attempts: int) -> None:
        """Copy one consumed record (aiokafka ``ConsumerRecord``) to its dead-letter topic.

        Batch handlers call this for a record they cannot apply, and go on with the rest of the batch.
        """
        await self._dead_letter(record.value or b"", record, record.topic, error, attempts)

    async def _dead_letter(self, body: bytes, record: Any, topic: str, error: BaseException, attempts: int) -> None:
        if self.broker is None:
            raise RuntimeError("dead-letter policy has no broker yet")
        headers = {
            HEADER_ERROR: str(error)[:2000],
            HEADER_ERROR_TYPE: type(error).__name__,
            HEADER_ATTEMPTS: str(attempts),
            HEADER_ORIGINAL_TOPIC: topic,
            HEADER_ORIGINAL_PARTITION: str(getattr(record, "partition", "")),
            HEADER_ORIGINAL_OFFSET: str(getattr(record, "offset", "")),
            HEADER_SERVICE: self.settings.service_name,
        }
        await self.broker.publish(
            body,
            topic=dead_letter_topic(topic),
            key=getattr(record, "key", None),
            headers=headers,
        )
        log.error("message.dead_lettered", dead_letter_topic=dead_letter_topic(topic), attempts=attempts)


def create_broker(settings: ServiceSettings, policy: DeadLetterPolicy) -> KafkaBroker:
    """Create the service's broker: idempotent producer with acks=all, dead-letter middleware."""
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        client_id=settings.service_name,
        enable_idempotence=True,
        acks="all",
        middlewares=[policy.middleware()],
        # A standard-library logger, so that its records reach the structlog renderer set up in logging.py.
        logger=logging.getLogger("faststream.bangke"),
    )
    policy.broker = broker
    return broker


async def raw_records(msg: StreamMessage[Any]) -> list[Any]:
    """Decoder of a batch subscriber whose handler parses each record itself: the consumed records.

    With it one malformed record does not fail the decoding of the whole batch.
    """
    return list(msg.raw_message)


GATHER_MIN_BYTES = 1 << 20
"""Minimum bytes a gathering subscriber requests per fetch: more than arrives in ``gather_ms`` at normal
rates, so Kafka answers after ``gather_ms``, or at once when a backlog fills it."""


def batch_subscriber_options(
    settings: ServiceSettings, group: str, *, max_records: int = 200, wait_ms: int = 10, gather_ms: int = 0
) -> dict[str, Any]:
    """Return the options of a batch subscriber: those of ``subscriber_options`` plus batching.

    The handler receives the list of consumed ``ConsumerRecord``s, at most ``max_records`` from what
    the consumer has fetched, without waiting for more. When nothing is there, FastStream waits
    ``wait_ms`` for a record and then sleeps ``wait_ms``, so an idle subscriber adds up to that much
    latency. The offsets are committed after the handler returned.

    Records that arrive one by one make batches of one, each with its own commit round trip and log
    lines. With ``gather_ms`` Kafka holds each fetch until that many milliseconds passed (or a backlog
    filled it), so batches collect what arrived meanwhile. Use it where that much added latency does
    not matter.

    The handler must dead-letter the records it cannot apply with ``DeadLetterPolicy.dead_letter_record``
    and apply the rest. A handler that raises gets the whole batch again, and after
    ``handler_attempts`` every record of the batch is dead-lettered.
    """
    return {
        **subscriber_options(settings, group),
        "batch": True,
        "max_records": max_records,
        "batch_timeout_ms": wait_ms,
        "decoder": raw_records,
        **({"fetch_max_wait_ms": gather_ms, "fetch_min_bytes": GATHER_MIN_BYTES} if gather_ms > 0 else {}),
    }


def subscriber_options(settings: ServiceSettings, group: str) -> dict[str, Any]:
    """Options every subscriber uses: a named group, no auto-commit, commit after the handler."""
    return {
        "group_id": settings.group(group),
        "auto_offset_reset": "earliest",
        # Commit only after the handler returned. An exception that escapes the dead-letter
        # middleware (the dead-letter publish itself failed) rewinds the partition instead.
        "ack_policy": AckPolicy.NACK_ON_ERROR,
    }
