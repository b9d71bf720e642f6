"""Transactional outbox inside the aggregate document, and the relay that publishes it.

A use case writes its state change and the events it caused in one ``update_one``: the events are
pushed onto the document's ``outbox`` array and ``outbox_pending`` is set. The relay publishes each
pending document's outbox in order and pops each event only after Kafka acknowledged it, so a crash
between publish and pop publishes that event again (consumers are idempotent), and nothing is lost.
"""

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.collection import AsyncCollection

from bangke_contracts.envelope import Event

from .batches import all_ended
from .serialised import FAILED_WRITE
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


def with_trimmed_outbox(
    update: dict[str, Any], stored: list[dict[str, Any]], published: set[str], events: Iterable[Event[Any]]
) -> dict[str, Any]:
    """Return ``update`` extended to store the outbox without its published entries, plus ``events``.

    For collections registered with ``lazy_clear``. ``stored`` is the outbox as the caller loaded it,
    and the caller must make sure it is still the stored one when the write applies (a lock held from
    the load, or a filter on the outbox). ``published`` are the event ids the relay confirmed
    (``OutboxRelay.published_ids``); every other stored entry is kept, in its order, before the new
    ones. When nothing stored was published this is ``with_outbox``, a plain ``$push``.
    """
    unpublished = [entry for entry in stored if str(entry.get("event_id")) not in published]
    if len(unpublished) == len(stored):
        return with_outbox(update, events)
    entries = [*unpublished, *(outbox_entry(event) for event in events)]
    merged = {operator: dict(fields) for operator, fields in update.items()}
    merged.setdefault("$set", {}).update({OUTBOX_FIELD: entries, PENDING_FIELD: bool(entries)})
    return merged


def outbox_after(update: dict[str, Any], stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the outbox that ``update`` (from ``with_outbox`` or ``with_trimmed_outbox``) leaves on ``stored``."""
    replaced = update.get("$set", {}).get(OUTBOX_FIELD)
    if replaced is not None:
        return list(replaced)
    return [*stored, *(_pushed_entries(update) or [])]


def outbox_unchanged(stored: list[dict[str, Any]]) -> dict[str, Any]:
    """Return filter conditions that hold while the stored outbox is still ``stored``.

    Entries are appended at the end and removed from the start, and event ids are unique, so the
    size and the first event id identify the outbox. Add them to the filter of a write made with
    ``with_trimmed_outbox`` unless a lock held since the load keeps every other writer out.
    """
    conditions: dict[str, Any] = {OUTBOX_FIELD: {"$size": len(stored)}}
    if stored:
        conditions[f"{OUTBOX_FIELD}.0.event_id"] = stored[0].get("event_id")
    return conditions


def new_document_outbox(events: Iterable[Event[Any]]) -> dict[str, Any]:
    """Return the outbox fields of a document that is inserted together with its first events."""
    entries = [outbox_entry(event) for event in events]
    return {OUTBOX_FIELD: entries, PENDING_FIELD: bool(entries)}


async def ensure_outbox_index(collection: AsyncCollection) -> None:
    await collection.create_index(PENDING_FIELD)


@dataclass(slots=True)
class _Published:
    """Event ids of one document that Kafka acknowledged and that may still be in its stored outbox."""

    event_ids: list[str]
    """In publish order, which is the order of the stored outbox."""
    since: float
    """Loop time of the oldest of them."""


class OutboxRelay:
    """Publish the outboxes of the registered collections.

    Writes through ``runtime.db`` tell the relay which document received events (see
    ``serialised.py``). When the write names the document by ``_id`` and carries the outbox entries
    (``with_outbox`` and ``new_document_outbox`` do), the relay publishes those entries as handed over
    and does not read the document; otherwise it reads the document by ``_id``. By default it then
    clears the published entries with one conditional write.

    A collection registered with ``lazy_clear`` is not cleared at once. The relay remembers, in
    memory, which event ids of each document Kafka acknowledged (``published_ids``); the document's
    next save leaves them out of the outbox in the write it makes anyway (``with_trimmed_outbox``).
    The relay clears what is left of the documents that were not saved again, with one conditional
    write per document and at most ``CLEAR_BATCH`` per pass. It does so after ``CLEAR_QUIET_S`` without
    new work, or for a document whose published entries are older than ``CLEAR_MAX_AGE_S``. Scans skip
    the entries this process has seen acknowledged. After a restart that memory is empty, so a published entry that was
    not cleared is published once more (consumers apply each event id once) and then cleared.

    A full scan of every registered collection runs at start, before any announced document is
    published. So an outbox left by a process that crashed after its write goes out before newer events
    of the same document. The scan runs again whenever a write set ``outbox_pending`` without naming
    its document by ``_id``, after a write to a registered collection raised (it may have been applied
    without being announced), after a failed round of publishing, and every
    ``outbox_full_scan_interval_s`` as a safety net. Those later scans run beside
    the publishing: a scan only announces the documents it found with unpublished entries, and the
    next round of publishing reads and publishes them like any other announced document. On FerretDB v1
    a scan reads every document of the collection, which takes seconds under load, and publishing
    waited for it before.

    NOTE: lazily cleared documents stay pending until cleared, so under load a scan still reads most
    of such a collection: 0.6 to 2.7 s for qualification-svc's 1,750 engineers during `make bench`,
    with FerretDB's CPU taken by it meanwhile. Hence scans only on those occasions and a long interval.
    """

    PUBLISH_CONCURRENCY = 8
    """Documents whose outboxes are published at once; the events of one document go out in order."""

    SCAN_BATCH = 500
    """Documents per batch of a scan's cursor."""

    CLEAR_QUIET_S = 1.0
    """Seconds without new work after which the published entries of lazily cleared documents are cleared."""
    CLEAR_MAX_AGE_S = 30.0
    """Seconds after which a document's published entries are cleared even under load."""
    CLEAR_BATCH = 50
    """Maximum documents cleared per pass of the relay loop, so publishing waits for at most this many clears."""

    def __init__(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        self._broker = broker
        self._settings = settings
        self._collections: dict[str, AsyncCollection] = {}
        self._lazy: set[str] = set()
        # Per lazily cleared collection, per document id, oldest first.
        self._published: dict[str, dict[Any, _Published]] = {}
        # Per collection, per document id: the entries handed over by the writes, in write order, or
        # None when some write did not hand its entries over and the document must be read.
        self._hints: dict[str, dict[Any, list[dict[str, Any]] | None]] = {}
        # Documents whose published entries the relay is removing itself (not counted as trimmed by saves).
        self._clearing: set[tuple[str, Any]] = set()
        self._swept_since_start = False
        self._scan_requested = True
        self._last_scan = 0.0
        self._scan_task: asyncio.Task[int] | None = None
        # The announcements the running round of publish_hinted took over, by collection and document id.
        self._publishing: dict[str, dict[Any, list[dict[str, Any]] | None]] = {}
        self._last_work = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._clear_retry_at = 0.0
        self.published = 0
        self.clear_writes = 0
        """Writes the relay made to remove published entries (immediate or lazy clears)."""
        self.trimmed_by_saves = 0
        """Published entries that other writes removed (lazy clearing only)."""

    def register(self, collection: AsyncCollection, *, lazy_clear: bool = False) -> None:
        """Publish ``collection``'s outboxes; with ``lazy_clear`` its saves remove published entries.

        Only for collections whose every write of an outbox goes through ``with_trimmed_outbox`` with
        the stored outbox it loaded, or ``with_outbox``; see the class documentation.
        """
        self._collections[collection.name] = collection
        if lazy_clear:
            self._lazy.add(collection.name)
            self._published.setdefault(collection.name, {})

    def kick(self) -> None:
        """Wake the relay now; use cases call this after writing events."""
        self._note_work()
        self._wake.set()

    def published_ids(self, collection: str, document_id: Any) -> set[str]:
        """Return the document's event ids that Kafka acknowledged (acks=all) and that are not cleared yet.

        Only lazily cleared collections have them. A save may leave exactly these out of the stored outbox.
        """
        known = self._published.get(collection, {}).get(document_id)
        return set(known.event_ids) if known is not None else set()

    def uncleared_documents(self) -> int:
        """Documents whose published entries this process has not seen removed yet."""
        return sum(len(documents) for documents in self._published.values())

    def _note_work(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._last_work = asyncio.get_running_loop().time()

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
        self._note_work()
        self._wake.set()

    def on_write(self, collection: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Turn a write that set ``outbox_pending`` into a hint; registered as a write listener.

        A write that raised may still have been applied without being announced, so it requests a scan.
        """
        if collection not in self._collections:
            return
        if method == FAILED_WRITE:
            self._scan_requested = True
            self._wake.set()
            return
        lazy = collection in self._lazy
        if method == "insert_one" and args:
            documents = [args[0]]
        elif method == "insert_many" and args:
            documents = list(args[0])
        elif method in ("update_one", "find_one_and_update", "update_many") and len(args) >= 2:
            document_id = _plain_id(args[0])
            stored = _set_outbox(args[1])
            if lazy and stored is not None:
                if document_id is None or method == "update_many":
                    self._published[collection].clear()
                else:
                    by_relay = (collection, document_id) in self._clearing
                    self._forget_removed(collection, document_id, stored, by_relay=by_relay)
                    # A waiting hint may still list entries this write removed: they were published,
                    # and once forgotten here they must not go out again.
                    waiting = self._hints.get(collection, {}).get(document_id)
                    if waiting:
                        left = {entry.get("event_id") for entry in stored if isinstance(entry, dict)}
                        still_stored = [entry for entry in waiting if entry.get("event_id") in left]
                        if still_stored:
                            self._hints[collection][document_id] = still_stored
                        else:
                            del self._hints[collection][document_id]
            if not _sets_pending(args[1]):
                return
            if document_id is None or method == "update_many":
                self._scan_requested = True
                self._wake.set()
            else:
                # find_one_and_update may have matched nothing; the relay then reads the document.
                # A lazily cleared save that rewrote the outbox hands over every entry it kept: the
                # published ones are skipped, so the unpublished ones go out in their stored order.
                entries = _pushed_entries(args[1]) if method == "update_one" else None
                if entries is None and lazy and method == "update_one" and stored is not None:
                    entries = stored
                self.note_pending(collection, document_id, entries)
            return
        elif method in ("replace_one", "find_one_and_replace") and len(args) >= 2:
            documents = [{"_id": _plain_id(args[0]), **args[1]}]
        else:
            return
        for document in documents:
            if not isinstance(document, dict):
                continue
            if lazy and document.get("_id") is not None:
                self._published[collection].pop(document["_id"], None)
            if document.get(PENDING_FIELD):
                if document.get("_id") is None:
                    self._scan_requested = True
                    self._wake.set()
                else:
                    entries = document.get(OUTBOX_FIELD)
                    self.note_pending(
                        collection, document["_id"], list(entries) if method.startswith("insert") and isinstance(entries, list) else None
                    )

    def _forget_removed(self, collection: str, document_id: Any, stored: list[dict[str, Any]], *, by_relay: bool) -> None:
        """Keep in memory only the published ids still in the stored outbox ``stored``."""
        documents = self._published[collection]
        known = documents.get(document_id)
        if known is None:
            return
        left = {str(entry.get("event_id")) for entry in stored if isinstance(entry, dict)}
        remaining = [event_id for event_id in known.event_ids if event_id in left]
        if not by_relay:
            self.trimmed_by_saves += len(known.event_ids) - len(remaining)
        if remaining:
            known.event_ids = remaining
        else:
            del documents[document_id]

    def _remember_published(self, collection: str, document_id: Any, event_id: str) -> None:
        documents = self._published[collection]
        known = documents.get(document_id)
        if known is None:
            documents[document_id] = _Published([event_id], asyncio.get_running_loop().time())
        elif event_id not in known.event_ids:
            known.event_ids.append(event_id)

    async def start(self) -> None:
        for collection in self._collections.values():
            await ensure_outbox_index(collection)
        self._scan_requested = True
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        log.info("outbox.relay_started", collections=sorted(self._collections), lazy_clear=sorted(self._lazy))

    async def stop(self) -> None:
        if self._task is None:
            return
        for task in (self._task, self._scan_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._scan_task = None
        log.info("outbox.relay_stopped", published=self.published, uncleared_documents=self.uncleared_documents())

    async def _run(self) -> None:
        while True:
            timeout = self._settings.outbox_poll_interval_s
            try:
                if not self._swept_since_start:
                    await self.sweep_all()
                    self._swept_since_start = True
                    self._scan_requested = False
                    self._last_scan = asyncio.get_running_loop().time()
                await self.publish_hinted()
                loop_time = asyncio.get_running_loop().time()
                scan_due = self._scan_requested or self._periodic_scan_due(loop_time)
                if scan_due and (self._scan_task is None or self._scan_task.done()):
                    self._scan_requested = False
                    self._last_scan = loop_time
                    self._scan_task = asyncio.create_task(self._scan_beside(), name="outbox-scan")
                if not self._hints:
                    await self.clear_due()
                timeout = min(timeout, self._until_clear_due())
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Kafka or MongoDB is unavailable; the events stay in their outboxes until it returns.
                log.warning("outbox.publish_failed", error_type=type(error).__name__, error=str(error)[:500])
                self._scan_requested = True
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()

    def _periodic_scan_due(self, loop_time: float) -> bool:
        """Return whether the scan that runs every ``outbox_full_scan_interval_s`` is due at ``loop_time``.

        Once the interval has passed, the scan waits for ``CLEAR_QUIET_S`` without new work, for at
        most one more interval. It reads every pending document: during ``make bench`` at 200 events
        per second one such scan took 2.3 s and announced 301 documents, and new events waited behind
        them for up to 0.6 s. A scan that a failed write requested does not wait.
        """
        interval = self._settings.outbox_full_scan_interval_s
        since = loop_time - self._last_scan
        if since < interval:
            return False
        return loop_time - self._last_work >= self.CLEAR_QUIET_S or since >= 2 * interval

    def _until_clear_due(self) -> float:
        """Seconds until some lazily cleared document is due, 0 when one is due now, inf when none."""
        oldest = [known.since for documents in self._published.values() for known in documents.values()][:1]
        if not oldest:
            return float("inf")
        now = asyncio.get_running_loop().time()
        quiet = self._last_work + self.CLEAR_QUIET_S - now
        aged = oldest[0] + self.CLEAR_MAX_AGE_S - now
        return max(0.0, min(quiet, aged), self._clear_retry_at - now)

    async def clear_due(self, *, force: bool = False) -> int:
        """Clear the published entries of lazily cleared documents that are due; return the writes made.

        All documents are due once the relay had no new work for ``CLEAR_QUIET_S`` (or with
        ``force``), otherwise only those whose entries are older than ``CLEAR_MAX_AGE_S``. At most
        ``CLEAR_BATCH`` documents per call, oldest first, cleared side by side: where the writes go
        through ``update_by_id`` they leave as one command, and publishing waits for one round trip
        instead of one per document.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < self._clear_retry_at and not force:
            return 0
        quiet = force or now - self._last_work >= self.CLEAR_QUIET_S
        due: list[tuple[str, Any]] = []
        for name, documents in self._published.items():
            for document_id, known in list(documents.items())[: self.CLEAR_BATCH - len(due)]:
                if not quiet and now - known.since < self.CLEAR_MAX_AGE_S:
                    # Oldest first: no later document of this collection is older.
                    break
                due.append((name, document_id))
        if not due:
            return 0

        async def clear(name: str, document_id: Any) -> int:
            self._clearing.add((name, document_id))
            try:
                return await self._clear_published(name, document_id)
            finally:
                self._clearing.discard((name, document_id))

        return sum(await all_ended(*(clear(name, document_id) for name, document_id in due)))

    async def _clear_published(self, name: str, document_id: Any) -> int:
        """Remove the document's published entries with one conditional write; read it only when that fails."""
        collection = self._collections[name]
        documents = self._published[name]
        known = documents.get(document_id)
        if known is None:
            return 0
        event_ids = list(known.event_ids)
        # Entries are appended at the end and removed from the start, and publishing follows the stored
        # order, so an outbox of this size that starts with the first published id is exactly those ids.
        cleared = await collection.update_one(
            {"_id": document_id, OUTBOX_FIELD: {"$size": len(event_ids)}, f"{OUTBOX_FIELD}.0.event_id": event_ids[0]},
            {"$set": {OUTBOX_FIELD: [], PENDING_FIELD: False}},
        )
        self.clear_writes += 1
        if cleared.modified_count == 1:
            documents.pop(document_id, None)
            return 1
        # The outbox also contains unpublished entries, or a save removed some of the published ones.
        document = await collection.find_one({"_id": document_id}, {OUTBOX_FIELD: 1})
        stored = list(document.get(OUTBOX_FIELD) or []) if document is not None else []
        self._forget_removed(name, document_id, stored, by_relay=True)
        known = documents.get(document_id)
        if known is None or not stored:
            return 1
        published = set(known.event_ids)
        unpublished = [entry for entry in stored if str(entry.get("event_id")) not in published]
        cleared = await collection.update_one(
            {"_id": document_id, **outbox_unchanged(stored)},
            {"$set": {OUTBOX_FIELD: unpublished}} if unpublished else {"$set": {OUTBOX_FIELD: [], PENDING_FIELD: False}},
        )
        self.clear_writes += 1
        if cleared.modified_count != 1:
            # Another write came in between the read and this write: try again a second later.
            log.info("outbox.clear_conflict", collection=name, document_id=str(document_id))
            self._clear_retry_at = asyncio.get_running_loop().time() + 1.0
        return 2

    async def publish_hinted(self) -> int:
        """Publish the outboxes of the documents that writes announced."""
        hints, self._hints = self._hints, {}
        self._publishing = hints
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
                    # A lazily cleared document is read again instead: a save may meanwhile remove
                    # entries this round published, and the handed-over list would then be stale.
                    if name in self._lazy:
                        entries = None
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
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._publishing = {}
        published = sum(result for result in results if isinstance(result, int))
        self.published += published
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return published

    async def sweep_all(self) -> int:
        """Scan every registered collection, then publish what it found. Returns the events published.

        Runs at start, before any announced document is published: the scan hands over the stored
        outbox of each pending document, so that entries left before a crash go out before newer ones.
        """
        await self.scan(hand_over=True)
        return await self.publish_hinted()

    async def sweep(self) -> int:
        """Announce every pending outbox found by scanning, then publish. Returns the events published."""
        await self.scan()
        return await self.publish_hinted()

    async def scan(self, *, hand_over: bool = False) -> int:
        """Announce the documents whose stored outbox contains entries not known as published, and count them.

        One cursor per collection. With ``hand_over`` (the scan at start, before anything is
        published) the entries read go to the publisher, which then needs no read, and a document that
        a write announced already is read again by the publisher to keep its order. Later scans run
        beside the publishing, where a read may be stale by the time a round publishes it: they skip
        the documents already announced or being published, and the publisher reads the others.
        """
        announced = 0
        for name, collection in self._collections.items():
            cursor = collection.find({PENDING_FIELD: True}, {OUTBOX_FIELD: 1}).batch_size(self.SCAN_BATCH)
            async for document in cursor:
                entries = list(document.get(OUTBOX_FIELD) or [])
                if name in self._lazy and entries:
                    # Lazily cleared documents stay pending after publishing until their entries are cleared.
                    published = self.published_ids(name, document["_id"])
                    if all(str(entry.get("event_id")) in published for entry in entries):
                        continue
                waiting = document["_id"] in self._hints.get(name, {})
                if not hand_over and (waiting or document["_id"] in self._publishing.get(name, {})):
                    # A write announced it, and the next round, or the running one, publishes it.
                    continue
                self.note_pending(name, document["_id"], entries if hand_over and entries and not waiting else None)
                announced += 1
        return announced

    async def _scan_beside(self) -> int:
        """Run one scan beside the publishing and log how long it took. After a failure, request another."""
        started = asyncio.get_running_loop().time()
        try:
            announced = await self.scan()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("outbox.scan_failed", error_type=type(error).__name__, error=str(error)[:500])
            self._scan_requested = True
            return 0
        seconds = asyncio.get_running_loop().time() - started
        log.info("outbox.scan_finished", collections=len(self._collections), announced=announced, seconds=round(seconds, 3))
        return announced

    async def _drain(self, collection: AsyncCollection, document: dict[str, Any], handed: bool = False) -> int:
        """Publish ``document``'s outbox entries in order, then remove them from the stored outbox.

        With ``handed`` the entries are those a write appended, not read from the document: the
        stored outbox may also contain newer entries, which the clear below leaves in place. In a lazily
        cleared collection the entries this process has seen acknowledged are skipped, and nothing is
        removed here.
        """
        entries = document.get(OUTBOX_FIELD) or []
        lazy = collection.name in self._lazy
        sent = 0
        for entry in entries:
            if lazy and entry["event_id"] in self.published_ids(collection.name, document["_id"]):
                continue
            await self._broker.publish(
                entry["value"].encode(),
                topic=self._settings.topic(entry["topic"]),
                key=entry["key"].encode(),
                headers={"content-type": "application/json", "event-id": entry["event_id"]},
            )
            sent += 1
            if lazy:
                # The broker returned, so Kafka acknowledged the event (acks=all): a save may drop it now.
                self._remember_published(collection.name, document["_id"], entry["event_id"])
        if not entries:
            await self._clear_pending(collection, document["_id"])
            return 0
        if lazy:
            return sent
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
        self.clear_writes += 1
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


def _set_outbox(update: Any) -> list[dict[str, Any]] | None:
    """Return the outbox an update stores with ``$set``, or None when it does not replace the outbox."""
    if not isinstance(update, dict) or not isinstance(update.get("$set"), dict):
        return None
    value = update["$set"].get(OUTBOX_FIELD)
    return list(value) if isinstance(value, list) else None


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
