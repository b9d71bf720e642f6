"""Transactional outbox inside the aggregate document, and the relay that publishes it.

A use case writes its state change and the events it caused in one ``update_one``: the events are
pushed onto the document's ``outbox`` array and ``outbox_pending`` is set. The relay publishes each
pending document's outbox in order and pops each event only after Kafka acknowledged it, so a crash
between publish and pop publishes that event again (consumers are idempotent), and nothing is lost.
"""

import asyncio
import contextlib
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
    """Publish the outboxes of the registered collections.

    Writes through ``runtime.db`` tell the relay which document received events (see
    ``serialised.py``). When the write names the document by ``_id`` and carries the outbox entries
    (``with_outbox`` and ``new_document_outbox`` do), the relay publishes those entries as handed over
    and does not read the document; otherwise it reads the document by ``_id``. Either way it clears
    the published entries with one conditional write.

    A full scan of every registered collection runs at start, before any announced document is
    published. So an outbox left by a process that crashed after its write goes out before newer events
    of the same document. The scan runs again every ``outbox_full_scan_interval_s``, and whenever a
    write set ``outbox_pending`` without naming its document by ``_id``.
    """

    PUBLISH_CONCURRENCY = 8
    """Documents whose outboxes are published at once; the events of one document go out in order."""

    SCAN_BATCH = 500

    def __init__(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        self._broker = broker
        self._settings = settings
        self._collections: dict[str, AsyncCollection] = {}
        # Per collection, per document id: the entries handed over by the writes, in write order, or
        # None when some write did not hand its entries over and the document must be read.
        self._hints: dict[str, dict[Any, list[dict[str, Any]] | None]] = {}
        self._swept_since_start = False
        self._scan_requested = True
        self._last_scan = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def register(self, collection: AsyncCollection) -> None:
        self._collections[collection.name] = collection

    def kick(self) -> None:
        """Wake the relay now; use cases call this after writing events."""
        self._wake.set()

    def note_pending(self, collection: str, document_id: Any, entries: list[dict[str, Any]] | None = None) -> None:
        """Remember that document ``document_id`` of ``collection`` has events to publish.

        ``entries`` are the outbox entries the write appended, in order; without them the relay reads
        the document before publishing.
        """
        documents = self._hints.setdefault(collection, {})
        if document_id in documents:
            known = documents[document_id]
            documents[document_id] = None if known is None or entries is None else [*known, *entries]
        else:
            documents[document_id] = None if entries is None else list(entries)
        self._wake.set()

    def on_write(self, collection: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Turn a write that set ``outbox_pending`` into a hint; registered as a write listener."""
        if collection not in self._collections:
            return
        if method == "insert_one" and args:
            documents = [args[0]]
        elif method == "insert_many" and args:
            documents = list(args[0])
        elif method in ("update_one", "find_one_and_update", "update_many") and len(args) >= 2:
            if not _sets_pending(args[1]):
                return
            document_id = _plain_id(args[0])
            if document_id is None or method == "update_many":
                self._scan_requested = True
                self._wake.set()
            else:
                # find_one_and_update may have matched nothing; the relay then reads the document.
                entries = _pushed_entries(args[1]) if method == "update_one" else None
                self.note_pending(collection, document_id, entries)
            return
        elif method in ("replace_one", "find_one_and_replace") and len(args) >= 2:
            documents = [{"_id": _plain_id(args[0]), **args[1]}]
        else:
            return
        for document in documents:
            if isinstance(document, dict) and document.get(PENDING_FIELD):
                if document.get("_id") is None:
                    self._scan_requested = True
                    self._wake.set()
                else:
                    entries = document.get(OUTBOX_FIELD)
                    self.note_pending(
                        collection, document["_id"], list(entries) if method.startswith("insert") and isinstance(entries, list) else None
                    )

    async def start(self) -> None:
        for collection in self._collections.values():
            await ensure_outbox_index(collection)
        self._scan_requested = True
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        log.info("outbox.relay_started", collections=sorted(self._collections))

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
                if not self._swept_since_start:
                    await self.sweep_all()
                    self._swept_since_start = True
                await self.publish_hinted()
                loop_time = asyncio.get_running_loop().time()
                if self._scan_requested or loop_time - self._last_scan >= self._settings.outbox_full_scan_interval_s:
                    self._scan_requested = False
                    self._last_scan = loop_time
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Kafka or MongoDB is unavailable; the events stay in their outboxes until it returns.
                log.warning("outbox.publish_failed", error_type=type(error).__name__, error=str(error)[:500])
                self._scan_requested = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.outbox_poll_interval_s)
            self._wake.clear()

    async def publish_hinted(self) -> int:
        """Publish the outboxes of the documents that writes announced."""
        hints, self._hints = self._hints, {}
        limit = asyncio.Semaphore(self.PUBLISH_CONCURRENCY)

        async def publish_one(name: str, document_id: Any, entries: list[dict[str, Any]] | None) -> int:
            collection = self._collections[name]
            async with limit:
                try:
                    if entries is not None:
                        return await self._drain(collection, {"_id": document_id, OUTBOX_FIELD: entries}, handed=True)
                    document = await collection.find_one({"_id": document_id}, {OUTBOX_FIELD: 1, PENDING_FIELD: 1})
                    if document is not None and document.get(PENDING_FIELD):
                        return await self._drain(collection, document)
                    return 0
                except BaseException:
                    # Keep the hint so the next round tries the document again. Entries handed over
                    # go before those of writes announced since, which keeps the document's order.
                    later = self._hints.setdefault(name, {})
                    if document_id in later:
                        newer = later.pop(document_id)
                        later[document_id] = None if entries is None or newer is None else [*entries, *newer]
                    else:
                        later[document_id] = entries
                    raise

        tasks = [
            publish_one(name, document_id, entries)
            for name, documents in hints.items()
            if name in self._collections
            for document_id, entries in documents.items()
        ]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        published = sum(result for result in results if isinstance(result, int))
        self.published += published
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return published

    async def sweep_all(self) -> int:
        """Scan until no pending outbox is left; run at start, before announced documents."""
        published = 0
        while True:
            found, sent = await self._sweep_round()
            published += sent
            if found < self.SCAN_BATCH:
                return published

    async def sweep(self) -> int:
        """Publish every pending outbox found by scanning; return how many events were published."""
        _found, published = await self._sweep_round()
        return published

    async def _sweep_round(self) -> tuple[int, int]:
        """Return the largest number of pending documents one collection had, and the events published."""
        published = found = 0
        for collection in self._collections.values():
            documents = 0
            async for document in collection.find({PENDING_FIELD: True}, {OUTBOX_FIELD: 1}).limit(self.SCAN_BATCH):
                documents += 1
                sent = await self._drain(collection, document)
                published += sent
                self.published += sent
            found = max(found, documents)
        return found, published

    async def _drain(self, collection: AsyncCollection, document: dict[str, Any], handed: bool = False) -> int:
        """Publish ``document``'s outbox entries in order, then remove them from the stored outbox.

        With ``handed`` the entries are those a write appended, not read from the document: the
        stored outbox may also hold newer entries, which the clear below leaves in place.
        """
        entries = document.get(OUTBOX_FIELD) or []
        for entry in entries:
            await self._broker.publish(
                entry["value"].encode(),
                topic=self._settings.topic(entry["topic"]),
                key=entry["key"].encode(),
                headers={"content-type": "application/json", "event-id": entry["event_id"]},
            )
        if not entries:
            await self._clear_pending(collection, document["_id"])
            return 0
        # Clear the whole outbox in one write when it contains exactly what was published. A writer
        # may have appended events since the read, so otherwise pop the published ones one by one,
        # each only if it is still at the head, and leave the new ones for the next round.
        cleared = await collection.update_one(
            {
                "_id": document["_id"],
                OUTBOX_FIELD: {"$size": len(entries)},
                f"{OUTBOX_FIELD}.0.event_id": entries[0]["event_id"],
            },
            {"$set": {OUTBOX_FIELD: [], PENDING_FIELD: False}},
        )
        if cleared.modified_count == 1:
            return len(entries)
        for entry in entries:
            popped = await collection.update_one(
                {"_id": document["_id"], f"{OUTBOX_FIELD}.0.event_id": entry["event_id"]},
                {"$pop": {OUTBOX_FIELD: -1}},
            )
            if handed and popped.modified_count == 0:
                # The stored outbox does not start with what was handed over (a scan published it
                # already, or older entries are waiting): let a read of the document decide.
                self.note_pending(collection.name, document["_id"])
                break
        await self._clear_pending(collection, document["_id"])
        return len(entries)

    async def _clear_pending(self, collection: AsyncCollection, document_id: Any) -> None:
        await collection.update_one(
            {"_id": document_id, OUTBOX_FIELD: {"$size": 0}},
            {"$set": {PENDING_FIELD: False}},
        )


def _pushed_entries(update: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Return the outbox entries an update appends with ``$push`` and ``$each``, or None."""
    pushed = update.get("$push", {}).get(OUTBOX_FIELD) if isinstance(update.get("$push"), dict) else None
    if isinstance(pushed, dict) and isinstance(pushed.get("$each"), list) and set(pushed) == {"$each"}:
        return list(pushed["$each"])
    return None


def _sets_pending(update: Any) -> bool:
    return isinstance(update, dict) and bool(update.get("$set", {}).get(PENDING_FIELD))


def _plain_id(document_filter: Any) -> Any:
    """Return the filter's ``_id`` when it is a plain value, not an operator expression."""
    if not isinstance(document_filter, dict):
        return None
    value = document_filter.get("_id")
    if value is None or (isinstance(value, dict) and any(key.startswith("$") for key in value)):
        return None
    return value
