"""Apply a batch of consumed Kafka records grouped by key, several keys at once, each key's in order.

For batch subscribers (``batch_subscriber_options``) whose records carry an aggregate's id as key:
the events of one aggregate share a partition and keep their order, so they can be applied in order
while other aggregates are applied beside them. A record that cannot be parsed goes to the
dead-letter topic at once. A group that keeps failing is applied again event by event, and only the
failing events are dead-lettered. The function returns once every other event is applied, so the
subscriber commits the offsets after it.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import structlog
from pydantic import TypeAdapter, ValidationError

from .kafka import DeadLetterPolicy, PermanentError
from .settings import ServiceSettings

log = structlog.get_logger()

E = TypeVar("E")


async def with_retries(settings: ServiceSettings, work: Callable[[], Awaitable[Any]]) -> None:
    """Run ``work`` up to ``handler_attempts`` times with the subscriber's backoff; raise the last error.

    A validation error or a ``PermanentError`` is raised at once: running again would fail the same way.
    """
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


async def all_ended(*steps: Awaitable[Any]) -> list[Any]:
    """Run ``steps`` side by side until every one has ended, then raise the first failure or return the results.

    Unlike a plain ``gather``, no step is still running when this raises, so a retry of the whole
    never runs beside a step of the attempt before it.
    """
    outcomes = await asyncio.gather(*steps, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


async def apply_by_key(
    records: Sequence[Any],
    schema: TypeAdapter[E],
    key: Callable[[E], str],
    apply_group: Callable[[str, list[E]], Awaitable[Any]],
    dead_letters: DeadLetterPolicy,
    settings: ServiceSettings,
    *,
    at_once: int,
    prepare: Callable[[list[str]], Awaitable[Any]] | None = None,
) -> None:
    """Parse ``records`` with ``schema``, group them by ``key`` and run ``apply_group`` per key.

    ``apply_group`` receives one key's events in record order and must be safe to run again on the
    same events. ``prepare``, when given, runs first with every key of the batch; it only saves work,
    so its failure is logged and the batch goes on. Raises only when a dead-letter publish failed, so
    that the batch is not committed and comes again.
    """
    groups: dict[str, list[tuple[Any, E]]] = {}
    for record in records:
        try:
            event = schema.validate_json(record.value or b"")
        except (ValidationError, ValueError) as error:
            log.warning("message.rejected", error_type=type(error).__name__, error=str(error)[:500])
            await dead_letters.dead_letter_record(record, error, 1)
            continue
        groups.setdefault(key(event), []).append((record, event))

    if prepare is not None and groups:
        try:
            await prepare(list(groups))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("batch.prepare_failed", keys=len(groups), error_type=type(error).__name__, error=str(error)[:500])

    limit = asyncio.Semaphore(at_once)

    async def apply(group_key: str, items: list[tuple[Any, E]]) -> None:
        async with limit:
            try:
                await with_retries(settings, lambda: apply_group(group_key, [event for _record, event in items]))
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if len(items) == 1:
                    await _dead_letter_failed(dead_letters, settings, items[0][0], error)
                    return
                log.warning("batch.group_failed", key=group_key, events=len(items), error_type=type(error).__name__)
            # Find the events that fail: apply them one by one, in order, and dead-letter those.
            for record, event in items:
                try:
                    await with_retries(settings, lambda event=event: apply_group(group_key, [event]))
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    await _dead_letter_failed(dead_letters, settings, record, error)

    results = await asyncio.gather(*(apply(k, items) for k, items in groups.items()), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _dead_letter_failed(dead_letters: DeadLetterPolicy, settings: ServiceSettings, record: Any, error: Exception) -> None:
    permanent = isinstance(error, (ValidationError, PermanentError))
    attempts = 1 if permanent else settings.handler_attempts
    log.error("message.failed", attempts=attempts, error_type=type(error).__name__, error=str(error)[:500])
    await dead_letters.dead_letter_record(record, error, attempts)
