"""Which qualifications each engineer has applied for, projected from qualifications.v1.

One document per engineer: ``applications.<qualification_type>`` contains the latest application's id
and status (applied, withdrawn, granted, lapsed). An exam may be started only while it is applied.

Where this process is the only writer (``single_writer``: on FerretDB, where the runtime serialises a
service's writes), the repository keeps the documents it last read or wrote, at most ``cache_size``.
Whether an event applies is then decided from that copy, and the update goes by ``_id`` alone, so the
updates of a batch's engineers go out as one ``update`` command. One update per event, each with its
conditions, made FerretDB write one transaction per event. Elsewhere each update carries its
conditions as before (``apply_once``), which also keeps concurrent writers on MongoDB apart.
"""

from collections.abc import Callable, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from bangke_runtime.idempotency import PROCESSED_FIELD, apply_once, mark_processed
from bangke_runtime.lru import LruCache

PRELOAD_CHUNK = 500
"""Maximum engineers read by one ``preload`` query."""


class ApplicationRepository:
    """The engineers' application documents.

    Only the qualifications subscriber writes them, and it applies one engineer's events one after
    the other, so a cached document is the stored one while this process is the only writer. Reads
    for HTTP requests may use the cache but never fill it: what they read may be older than a write
    made meanwhile.
    """

    def __init__(self, db: AsyncDatabase, cache_size: int = 0, single_writer: Callable[[], bool] = lambda: False) -> None:
        self.collection: AsyncCollection = db["applications"]
        self._cache: LruCache[dict[str, Any]] = LruCache(cache_size)
        self._single_writer = single_writer

    async def applications(self, engineer_id: str) -> dict[str, dict[str, Any]]:
        cached = self._cache.get(engineer_id) if self._single_writer() else None
        document = cached or await self.collection.find_one({"_id": engineer_id}, {"applications": 1})
        return (document or {}).get("applications") or {}

    async def preload(self, engineer_ids: Sequence[str]) -> None:
        """Read the engineers that are not cached into the cache, with one query per 500 of them."""
        if not self._single_writer():
            return
        missing = sorted({engineer_id for engineer_id in engineer_ids if self._cache.get(engineer_id) is None})
        for start in range(0, len(missing), PRELOAD_CHUNK):
            async for document in self.collection.find({"_id": {"$in": missing[start : start + PRELOAD_CHUNK]}}):
                self._cache.put(document["_id"], document)

    async def record_applied(self, engineer_id: str, qualification_type: str, qualification_id: str, event_id: str) -> bool:
        application = {"qualification_id": qualification_id, "status": "applied"}
        update = {"$set": {f"applications.{qualification_type}": application}}
        if not self._single_writer():
            return await apply_once(self.collection, {"_id": engineer_id}, event_id, update, upsert=True)
        document = await self._stored(engineer_id)
        if document is None:
            # The engineer's first application: the upsert creates the document, read again when needed.
            return await apply_once(self.collection, {"_id": engineer_id}, event_id, update, upsert=True)
        if event_id in (document.get(PROCESSED_FIELD) or ()):
            return False
        if await self._update(document, qualification_type, application, event_id, update):
            return True
        # The document was deleted since it was cached: create it again.
        return await apply_once(self.collection, {"_id": engineer_id}, event_id, update, upsert=True)

    async def record_status(
        self, engineer_id: str, qualification_type: str, qualification_id: str, status: str, event_id: str
    ) -> bool:
        """Set the status of the application ``qualification_id``; a later application is left alone."""
        update = {"$set": {f"applications.{qualification_type}.status": status}}
        if not self._single_writer():
            return await apply_once(
                self.collection,
                {"_id": engineer_id, f"applications.{qualification_type}.qualification_id": qualification_id},
                event_id,
                update,
            )
        document = await self._stored(engineer_id)
        if document is None or event_id in (document.get(PROCESSED_FIELD) or ()):
            return False
        current = ((document.get("applications") or {}).get(qualification_type)) or {}
        if current.get("qualification_id") != qualification_id:
            return False
        return await self._update(document, qualification_type, {**current, "status": status}, event_id, update)

    async def _stored(self, engineer_id: str) -> dict[str, Any] | None:
        """Return the engineer's document as stored, from the cache or read into it."""
        document = self._cache.get(engineer_id)
        if document is None:
            document = await self.collection.find_one({"_id": engineer_id})
            if document is not None:
                self._cache.put(engineer_id, document)
        return document

    async def _update(
        self, document: dict[str, Any], qualification_type: str, application: dict[str, Any], event_id: str,
        update: dict[str, Any],
    ) -> bool:
        """Store ``update`` and the event id by ``_id``; cache the document as it is stored then."""
        engineer_id = document["_id"]
        # Dropped first, so a write that fails or whose outcome is unknown leaves no copy behind.
        self._cache.forget(engineer_id)
        if not await self.collection.update_by_id(engineer_id, mark_processed(update, event_id), stored=document):
            return False
        self._cache.put(engineer_id, {
            **document,
            "applications": {**(document.get("applications") or {}), qualification_type: application},
            PROCESSED_FIELD: [*(document.get(PROCESSED_FIELD) or []), event_id],
        })
        return True
