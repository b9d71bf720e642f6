"""Per-engineer serialisation of writes inside one process.

FerretDB v1 on SQLite does not apply ``update_one`` atomically. Two concurrent updates of the same
document both read it, change it and write it back, so one of them is lost, and a filter on
``revision`` does not prevent it. Measured on FerretDB 1.x with ``--handler=sqlite``: 200 ``$inc``
of field a and 200 of field b from two clients at once left a=66 and b=137. So every write to an
engineer's document, the outbox relay's included, goes through one lock per engineer in this process.

NOTE: this covers one replica only. Several replicas on FerretDB v1 can still lose an update;
MongoDB applies each single-document update atomically, and there the revision guard in the
repository is what keeps concurrent writers apart.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.results import UpdateResult

from bangke_runtime.document_filter import UnsupportedFilter, check_supported, matches
from bangke_runtime.serialised import updated_document


class KeyedLocks:
    """One asyncio lock per key, dropped when no task holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]


class KnownOutboxes:
    """The event ids in each engineer document's stored outbox, as this process last wrote them.

    Kept only with ``in_process_guard``, where this process is the only writer and every write of an
    engineer document holds the engineer's lock. The repository records the outbox that a save left,
    and the relay's conditional writes are checked against it instead of reading the document again.
    An engineer is forgotten once its outbox is empty, or when a write failed in an unknown state.
    """

    def __init__(self) -> None:
        self._ids: dict[str, list[str]] = {}

    def get(self, engineer_id: str) -> list[str] | None:
        return self._ids.get(engineer_id)

    def set(self, engineer_id: str, event_ids: list[str]) -> None:
        if event_ids:
            self._ids[engineer_id] = list(event_ids)
        else:
            self._ids.pop(engineer_id, None)

    def forget(self, engineer_id: str) -> None:
        self._ids.pop(engineer_id, None)

    def __len__(self) -> int:
        return len(self._ids)


_OUTBOX_KEYS = frozenset({"outbox", "outbox.0.event_id"})


class SerialisedCollection:
    """The engineers collection as given to the outbox relay, whose updates then take the engineer's lock.

    With ``in_process_guard`` (FerretDB, see ``repository.py``) the relay's conditional updates are
    checked here under the engineer's lock and written by ``_id``: every writer of an engineer
    document in this process holds that lock, so the check stays true until the write. The check
    uses the outbox that the last save left (``KnownOutboxes``) and reads the document only when that
    is not known, so publishing a saved outbox costs one write and no read. The read, when needed,
    runs outside the collection's write lock and does not hold up other engineers' writes.
    ``before_write`` hears of every write, under the engineer's lock, so caches of the document can
    drop it.

    Where the repository's cache holds the whole stored document (``cached``), the write goes out as
    the document it leaves, through the runtime's ``update_by_id``: the relay's clear of a published
    outbox then costs FerretDB a write without a read, and ``after_write`` caches the new document.
    """

    def __init__(
        self,
        collection: AsyncCollection,
        locks: KeyedLocks,
        in_process_guard: Callable[[], bool] = lambda: False,
        known: KnownOutboxes | None = None,
        before_write: Callable[[str], None] = lambda _engineer_id: None,
        cached: Callable[[str], dict[str, Any] | None] = lambda _engineer_id: None,
        after_write: Callable[[str, dict[str, Any]], None] = lambda _engineer_id, _document: None,
    ) -> None:
        self._collection = collection
        self._locks = locks
        self._in_process_guard = in_process_guard
        self._known = known
        self._before_write = before_write
        self._cached = cached
        self._after_write = after_write

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def update_one(self, document_filter: dict[str, Any], update: dict[str, Any], **kwargs: Any) -> Any:
        document_id = document_filter["_id"]
        async with self._locks.hold(str(document_id)):
            key = str(document_id)
            whole = self._cached(key) if self._in_process_guard() else None
            # Under the lock, so no load of this engineer runs between this and the write.
            self._before_write(key)
            rest = {key: value for key, value in document_filter.items() if key != "_id"}
            if kwargs or not self._in_process_guard() or not _supported(rest):
                return await self._collection.update_one(document_filter, update, **kwargs)
            known = self._known.get(key) if self._known is not None else None
            if rest:
                if whole is not None:
                    current: dict[str, Any] | None = whole
                elif known is not None and set(rest) <= _OUTBOX_KEYS:
                    current = {"outbox": [{"event_id": event_id} for event_id in known]}
                else:
                    current = await self._collection.find_one({"_id": document_id})
                if current is None or not matches(current, rest):
                    return UpdateResult({"n": 0, "nModified": 0, "ok": 1.0}, acknowledged=True)
            if self._known is not None:
                self._known.forget(key)
            after = updated_document(whole, update) if whole is not None else None
            if after is not None:
                found = await self._collection.update_by_id(document_id, update, stored=whole)
                result = UpdateResult({"n": int(found), "nModified": int(found), "ok": 1.0}, acknowledged=True)
                if found:
                    self._after_write(key, after)
            else:
                result = await self._collection.update_one({"_id": document_id}, update)
            if self._known is not None and known is not None and result.matched_count == 1:
                self._known_after(key, known, update)
            return result

    def _known_after(self, key: str, before: list[str], update: dict[str, Any]) -> None:
        """Record the outbox left by the relay's clear or pop; forget it after any other update."""
        assert self._known is not None
        if update.get("$set", {}).get("outbox") == [] and set(update) == {"$set"}:
            self._known.set(key, [])
        elif update == {"$pop": {"outbox": -1}}:
            self._known.set(key, before[1:])
        elif "outbox" not in update.get("$set", {}) and not any(
            "outbox" in fields for operator, fields in update.items() if operator != "$set"
        ):
            self._known.set(key, before)


def _supported(document_filter: dict[str, Any]) -> bool:
    try:
        check_supported(document_filter)
    except UnsupportedFilter:
        return False
    return True
