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

Updates by ``_id`` alone (``update_by_id``) are also sent together when a service is the only writer:
the calls that wait for the lock while a write is in flight go out as one ordered ``update`` command
when it is free. FerretDB applies the statements of a bulk one by one too, but a bulk of 8 to 50 updates by
``_id`` ran at 1,600 to 1,900 updates/s on this stack where one update at a time ran at 1,150/s.

A caller that knows the stored document (a cache that only this process's writes change) can pass it
to ``update_by_id``. The update then goes out as the whole document it leaves (``updated_document``):
the local stack's FerretDB build writes a replacement by ``_id`` without reading and decoding the
stored document first, which took most of an update's time. Listeners still hear the update itself.

The wrapper also tells the outbox relay which document received new events, and which events (the
update or the inserted document carries them): FerretDB v1 on SQLite evaluates every filter except
an ``_id`` equality by scanning the collection, so the relay publishes what the write handed over
and scans for forgotten outboxes only now and then. An update that matched no document is not
announced, so the relay never publishes events that were not stored.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure
from pymongo.results import UpdateResult

log = structlog.get_logger()

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

FAILED_WRITE = "failed"
"""The method name listeners hear for a write that raised and may have been applied, in part or whole."""

GROUP_LIMIT = 64
"""Maximum updates sent in one ``update`` command. Unpatched, FerretDB 1.24 never returned from an update
command of 100 or more statements (the local stack's build is patched, deploy/local/ferretdb)."""


SUSPECTS_KEPT = 10_000
"""Documents remembered as being in a failed grouped update; the oldest are forgotten beyond this."""


class GroupedWriteFailed(Exception):
    """An ``update`` command of several updates by ``_id`` failed; each of them may have been applied."""

    def __init__(self, collection: str, statements: int, write_errors: Any) -> None:
        super().__init__(f"grouped update of {statements} documents in {collection} failed: {write_errors!r}"[:500])


@dataclass(slots=True)
class _GroupedUpdate:
    document_id: Any
    update: dict[str, Any]
    done: "asyncio.Future[bool]"
    replacement: dict[str, Any] | None = None
    """Document that ``update`` leaves, sent in place of the update when the stored document is known."""

    @property
    def sent(self) -> dict[str, Any]:
        return self.update if self.replacement is None else self.replacement


_MODELLED = frozenset({"$set", "$unset", "$push", "$inc"})
_MISSING = object()


def updated_document(stored: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
    """Return the document, without ``_id``, that ``update`` leaves of ``stored``; None where not modelled.

    Models ``$set``, ``$unset``, ``$inc`` and ``$push`` (one value or a plain ``$each``) on field paths
    through embedded documents. Anything else returns None: another operator, an array index in a
    path, a path inside another path of the update, or a value the server would reject (``$inc`` of a
    non-number, ``$push`` onto a non-array). The caller then sends the update itself. ``stored`` is
    not changed, and the result shares the values that the update did not change.
    """
    if not update or not set(update) <= _MODELLED or not all(isinstance(fields, dict) for fields in update.values()):
        return None
    paths = [path for fields in update.values() for path in fields]
    for path in paths:
        if path == "_id" or path.startswith("_id.") or any(
            not part or part.isdigit() or part.startswith("$") for part in path.split(".")
        ):
            return None
    named = set(paths)
    if len(named) < len(paths) or any(
        ".".join(path.split(".")[:depth]) in named for path in paths for depth in range(1, path.count(".") + 1)
    ):
        return None
    result = {key: value for key, value in stored.items() if key != "_id"}
    for operator, fields in update.items():
        for path, value in fields.items():
            *parents, last = path.split(".")
            target = result
            for part in parents:
                child = target.get(part, _MISSING)
                if child is _MISSING and operator == "$unset":
                    break
                if child is _MISSING:
                    child = {}
                elif not isinstance(child, dict):
                    return None
                target[part] = child = dict(child)
                target = child
            else:
                if not _apply_operator(target, operator, last, value):
                    return None
    return result


def _apply_operator(target: dict[str, Any], operator: str, key: str, value: Any) -> bool:
    """Apply one operator to ``target[key]`` in place, and return False where its outcome is not modelled."""
    if operator == "$set":
        target[key] = value
    elif operator == "$unset":
        target.pop(key, None)
    elif operator == "$inc":
        current = target.get(key, 0)
        numbers = (int, float)
        if isinstance(current, bool) or isinstance(value, bool) or not isinstance(current, numbers) or not isinstance(value, numbers):
            return False
        target[key] = current + value
    else:
        current = target.get(key, [])
        if not isinstance(current, list):
            return False
        if isinstance(value, dict) and any(name.startswith("$") for name in value):
            if set(value) != {"$each"} or not isinstance(value["$each"], list):
                return False
            target[key] = [*current, *value["$each"]]
        else:
            target[key] = [*current, value]
    return True


class WritePolicy:
    """Whether writes are serialised, and who hears about them."""

    def __init__(self) -> None:
        self.serialise = True
        self.single_writer = False
        """True on FerretDB with serialised writes: then this process is the only writer of its
        database, and a document cannot change between a read and a write made under one lock."""
        self.listeners: list[WriteListener] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, list[_GroupedUpdate]] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        self._suspects: OrderedDict[tuple[str, Any], None] = OrderedDict()

    def lock(self, collection: str) -> asyncio.Lock:
        return self._locks.setdefault(collection, asyncio.Lock())

    def waiting(self, collection: str) -> list[_GroupedUpdate]:
        """Return the updates by ``_id`` of ``collection`` not sent yet, oldest first."""
        return self._waiting.setdefault(collection, [])

    def suspect(self, collection: str, document_ids: list[Any]) -> None:
        """Remember documents whose grouped update failed: their next update is sent alone."""
        for document_id in document_ids:
            self._suspects[(collection, document_id)] = None
        while len(self._suspects) > SUSPECTS_KEPT:
            self._suspects.popitem(last=False)

    def cleared_suspect(self, collection: str, document_id: Any) -> bool:
        """Return True once for a document remembered by ``suspect``."""
        try:
            del self._suspects[(collection, document_id)]
        except (KeyError, TypeError):
            return False
        return True

    def keep(self, task: "asyncio.Task[None]") -> None:
        """Hold a reference to a flush task until it ends, so it is not garbage-collected mid-write."""
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

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
            try:
                if policy.serialise:
                    async with policy.lock(collection_name):
                        result = await attribute(*args, **kwargs)
                else:
                    result = await attribute(*args, **kwargs)
            except BaseException as error:
                # A refused write changed nothing, but a bulk write may have applied part of itself, and
                # a lost connection or a cancelled call leaves the outcome unknown.
                if not isinstance(error, OperationFailure) or isinstance(error, BulkWriteError):
                    policy.notify(collection_name, FAILED_WRITE, args, kwargs)
                raise
            if not _changed_nothing(result):
                policy.notify(collection_name, name, args, kwargs)
            return result

        return write

    async def update_by_id(self, document_id: Any, update: dict[str, Any], stored: dict[str, Any] | None = None) -> bool:
        """Apply ``update`` to the document whose ``_id`` is ``document_id``; return whether it exists.

        ``stored`` is the document as it is stored now, where the caller knows it (a cache under the
        single writer). The update then goes out as the whole document it leaves, which the local
        stack's FerretDB writes without reading the stored one. Pass it only where nothing else can have
        changed the document: a wrong ``stored`` overwrites the document with it.

        With ``single_writer`` the call joins the other updates by ``_id`` of this collection that wait
        for its lock, and they are sent as one ordered ``update`` command, in the order of the calls.
        Nothing but this process writes the collection then, so a document that exists after the
        command existed during it. Otherwise, and for a document whose last grouped update failed, it
        is one ``update_one``. A call cancelled before its command is sent is not sent.

        Raises ``GroupedWriteFailed`` when the command of several updates failed: FerretDB 1.24 then
        reports a wrong statement index and no count, so each update of it may or may not have been
        applied, as with an ``update_one`` that lost its connection. The caller reads the document
        again and retries. The next update of each of those documents is sent alone, so one failing
        update does not fail its neighbours again.
        """
        policy = self._policy
        name = self._collection.name
        if not policy.single_writer or policy.cleared_suspect(name, document_id):
            result = await self.update_one({"_id": document_id}, update)
            return bool(result.matched_count)
        waiting = policy.waiting(name)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        replacement = updated_document(stored, update) if stored is not None else None
        waiting.append(_GroupedUpdate(document_id, update, done, replacement))
        if len(waiting) == 1:
            policy.keep(asyncio.create_task(self._send_waiting()))
        return await done

    async def _send_waiting(self) -> None:
        """Send the waiting updates by ``_id`` in commands under the collection's lock, until none wait."""
        name = self._collection.name
        waiting = self._policy.waiting(name)
        group: list[_GroupedUpdate] = []
        try:
            async with self._policy.lock(name):
                while waiting:
                    group = [item for item in waiting[:GROUP_LIMIT] if not item.done.cancelled()]
                    del waiting[:GROUP_LIMIT]
                    if group:
                        await self._send_group(group)
        except BaseException as error:
            # Cancelled at shutdown, or the look-up after a partial match failed: no call waits forever.
            for item in [*group, *waiting]:
                _settle(item, error if isinstance(error, Exception) else ConnectionAbortedError("write cancelled"))
            waiting.clear()
            if not isinstance(error, Exception):
                raise

    async def _send_group(self, group: list[_GroupedUpdate]) -> None:
        """Send one ``update`` command with the group's updates and settle each call's future."""
        name = self._collection.name
        try:
            if len(group) == 1 and group[0].replacement is not None:
                only = group[0]
                matched = (await self._collection.replace_one({"_id": only.document_id}, only.replacement)).matched_count
            elif len(group) == 1:
                matched = (await self._collection.update_one({"_id": group[0].document_id}, group[0].update)).matched_count
            else:
                statements = [{"q": {"_id": item.document_id}, "u": item.sent} for item in group]
                reply = await self._collection.database.command({"update": name, "updates": statements, "ordered": True})
                if reply.get("writeErrors") or "n" not in reply:
                    raise GroupedWriteFailed(name, len(group), reply.get("writeErrors"))
                matched = reply["n"]
        except Exception as error:
            log.warning(
                "mongo.grouped_update_failed", collection=name, documents=len(group),
                error_type=type(error).__name__, error=str(error)[:500],
            )
            if len(group) > 1:
                self._policy.suspect(name, [item.document_id for item in group])
            self._policy.notify(name, FAILED_WRITE, (), {})
            for item in group:
                _settle(item, error)
            return
        found = {item.document_id for item in group}
        if matched < len(group):
            # Fewer matched than sent: the documents that exist now are the ones that matched.
            cursor = self._collection.find({"_id": {"$in": list(found)}}, {"_id": 1})
            found = {document["_id"] async for document in cursor}
        for item in group:
            exists = item.document_id in found
            if exists:
                self._policy.notify(name, "update_one", ({"_id": item.document_id}, item.update), {})
            _settle(item, exists)

    def __getitem__(self, name: str) -> "SerialisedCollection":
        return SerialisedCollection(self._collection[name], self._policy)

    def __repr__(self) -> str:
        return f"SerialisedCollection({self._collection.full_name})"


def _settle(item: _GroupedUpdate, outcome: bool | BaseException) -> None:
    if item.done.done():
        return
    if isinstance(outcome, BaseException):
        item.done.set_exception(outcome)
    else:
        item.done.set_result(outcome)


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
