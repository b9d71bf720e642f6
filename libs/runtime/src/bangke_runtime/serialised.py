"""Serialised writes for FerretDB v1, and outbox hints for the relay.

FerretDB v1.24 on SQLite does not apply an update atomically: two concurrent updates of one document
both read it, change it and write it back, so one change is lost although both report success.
Measured on this stack: two clients each running 200 ``$inc`` on one document, and a third on another
field, left 147 and 54 instead of 400 and 200. A filter on a revision field does not prevent it,
because the filter is evaluated on the copy each request read.

So every write that goes through ``runtime.db`` takes a per-collection lock in this process when the
server is FerretDB. That makes single-document writes atomic with respect to each other as long as
one process writes a service's database, which is how the local stack and the tests run
(``WritePolicy.single_writer``). A filter with ``_id`` plus other conditions costs one round trip:
the local stack's FerretDB build answers ``_id`` conditions from its index (deploy/local/ferretdb).

NOTE: several replicas of one service on FerretDB v1 could still lose updates. Production runs on a
MongoDB replica set, where each single-document update is atomic and the lock is switched off.

The wrapper also tells the outbox relay which document received new events, and which events (the
update or the inserted document carries them): FerretDB v1 on SQLite evaluates every filter except
an ``_id`` equality by scanning the collection, so the relay publishes what the write handed over
and scans for forgotten outboxes only now and then. An update that matched no document is not
announced, so the relay never publishes events that were not stored.
"""

import asyncio
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.results import UpdateResult

WRITE_METHODS = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "bulk_write",
    }
)

WriteListener = Callable[[str, str, tuple[Any, ...], dict[str, Any]], None]


class WritePolicy:
    """Whether writes are serialised, and who hears about them."""

    def __init__(self) -> None:
        self.serialise = True
        self.single_writer = False
        """True on FerretDB with serialised writes: then this process is the only writer of its
        database, and a document cannot change between a read and a write made under one lock."""
        self.listeners: list[WriteListener] = []
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, collection: str) -> asyncio.Lock:
        return self._locks.setdefault(collection, asyncio.Lock())

    def notify(self, collection: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(collection, method, args, kwargs)


class SerialisedCollection:
    """An AsyncCollection whose writes take the collection's lock; everything else passes through."""

    def __init__(self, collection: AsyncCollection, policy: WritePolicy) -> None:
        self._collection = collection
        self._policy = policy

    @property
    def unwrapped(self) -> AsyncCollection:
        return self._collection

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if name not in WRITE_METHODS:
            return attribute
        collection_name = self._collection.name
        policy = self._policy

        async def write(*args: Any, **kwargs: Any) -> Any:
            if policy.serialise:
                async with policy.lock(collection_name):
                    result = await attribute(*args, **kwargs)
            else:
                result = await attribute(*args, **kwargs)
            if not _changed_nothing(result):
                policy.notify(collection_name, name, args, kwargs)
            return result

        return write

    def __getitem__(self, name: str) -> "SerialisedCollection":
        return SerialisedCollection(self._collection[name], self._policy)

    def __repr__(self) -> str:
        return f"SerialisedCollection({self._collection.full_name})"


def _changed_nothing(result: Any) -> bool:
    """Whether an update matched no document: listeners must not take its outbox entries as stored."""
    return isinstance(result, UpdateResult) and result.acknowledged and result.matched_count == 0 and result.upserted_id is None


class SerialisedDatabase:
    """An AsyncDatabase whose collections are SerialisedCollections."""

    def __init__(self, database: AsyncDatabase, policy: WritePolicy) -> None:
        self._database = database
        self._policy = policy
        self._collections: dict[str, SerialisedCollection] = {}

    @property
    def unwrapped(self) -> AsyncDatabase:
        return self._database

    def __getitem__(self, name: str) -> SerialisedCollection:
        if name not in self._collections:
            self._collections[name] = SerialisedCollection(self._database[name], self._policy)
        return self._collections[name]

    def get_collection(self, name: str, **kwargs: Any) -> SerialisedCollection:
        if kwargs:
            return SerialisedCollection(self._database.get_collection(name, **kwargs), self._policy)
        return self[name]

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._database, name)
        if isinstance(attribute, AsyncCollection):
            return self[name]
        return attribute


async def is_ferretdb(database: AsyncDatabase) -> bool:
    info = await database.client.admin.command("buildInfo")
    return "ferretdbVersion" in info
