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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection


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


class SerialisedCollection:
    """The engineers collection as given to the outbox relay, whose updates then take the engineer's lock."""

    def __init__(self, collection: AsyncCollection, locks: KeyedLocks) -> None:
        self._collection = collection
        self._locks = locks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def update_one(self, document_filter: dict[str, Any], update: dict[str, Any], **kwargs: Any) -> Any:
        async with self._locks.hold(str(document_filter["_id"])):
            return await self._collection.update_one(document_filter, update, **kwargs)
