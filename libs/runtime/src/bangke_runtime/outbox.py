"""Transactional outbox inside the aggregate document, and the relay that publishes it.

A use case writes its state change and the events it caused in one ``update_one``: the events are
pushed onto the document's ``outbox`` array and ``outbox_pending`` is set. The relay publishes each
pending document's outbox in order and pops each event only after Kafka acknowledged it, so a crash
between publish and pop publishes that event again (consumers are idempotent), and nothing is lost.
"""

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.collection import AsyncCollection

from bangke_contracts.envelope import Event

from .settings import ServiceSettings

log = structlog.get_logger()

OUTBOX_FIELD = "outbox"
PENDING_FIELD = "outbox_pending"


def outbox_entry(event: Event[Any]) -> dict[str, Any]:
    """Serialise ``event`` for storage in an outbox array."""
    if not event.topic:
        raise ValueError(f"{type(event).__name__} declares no topic")
    return {
        "event_id": str(event.event_id),
        "topic": event.topic,
        "key": event.key(),
        "value": event.model_dump_json(),
    }


def with_outbox(update: dict[str, Any], events: Iterable[Event[Any]]) -> dict[str, Any]:
    """Return ``update`` extended to push ``events`` onto the document's outbox in the same write."""
    entries = [outbox_entry(event) for event in events]
    merged = {operator: dict(fields) for operator, fields in update.items()}
    if not entries:
        return merged
    merged.setdefault("$push", {})[OUTBOX_FIELD] = {"$each": entries}
    merged.setdefault("$set", {})[PENDING_FIELD] = True
    return merged


def new_document_outbox(events: Iterable[Event[Any]]) -> dict[str, Any]:
    """Return the outbox fields of a document that is inserted together with its first events."""
    entries = [outbox_entry(event) for event in events]
    return {OUTBOX_FIELD: entries, PENDING_FIELD: bool(entries)}


async def ensure_outbox_index(collection: AsyncCollection) -> None:
    await collection.create_index(PENDING_FIELD)


class OutboxRelay:
    """Publish the outboxes of the registered collections, on a poll interval or when kicked."""

    def __init__(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        self._broker = broker
        self._settings = settings
        self._collections: list[AsyncCollection] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def register(self, collection: AsyncCollection) -> None:
        self._collections.append(collection)

    @property
    def collections(self) -> list[AsyncCollection]:
        return list(self._collections)

    def kick(self) -> None:
        """Ask for a sweep now; use cases call this after writing events."""
        self._wake.set()

    async def start(self) -> None:
        for collection in self._collections:
            await ensure_outbox_index(collection)
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        log.info("outbox.relay_started", collections=[c.name for c in self._collections])

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        log.info("outbox.relay_stopped", published=self.published)

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Kafka or MongoDB is unavailable; the events stay in their outboxes until it returns.
                log.warning("outbox.sweep_failed", error_type=type(error).__name__, error=str(error)[:500])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.outbox_poll_interval_s)
            self._wake.clear()

    async def sweep(self) -> int:
        """Publish every pending outbox once; return how many events were published."""
        published = 0
        for collection in self._collections:
            async for document in collection.find({PENDING_FIELD: True}, {OUTBOX_FIELD: 1}).limit(500):
                published += await self._drain(collection, document)
        self.published += published
        return published

    async def _drain(self, collection: AsyncCollection, document: dict[str, Any]) -> int:
        entries = document.get(OUTBOX_FIELD) or []
        for entry in entries:
            await self._broker.publish(
                entry["value"].encode(),
                topic=self._settings.topic(entry["topic"]),
                key=entry["key"].encode(),
                headers={"content-type": "application/json", "event-id": entry["event_id"]},
            )
            # Pop only the head, and only if it is still this event: a concurrent relay may have
            # popped it already, and new events are appended behind it.
            await collection.update_one(
                {"_id": document["_id"], f"{OUTBOX_FIELD}.0.event_id": entry["event_id"]},
                {"$pop": {OUTBOX_FIELD: -1}},
            )
        await collection.update_one(
            {"_id": document["_id"], OUTBOX_FIELD: {"$size": 0}},
            {"$set": {PENDING_FIELD: False}},
        )
        return len(entries)


def decode_entry_value(entry: dict[str, Any]) -> dict[str, Any]:
    return json.loads(entry["value"])
