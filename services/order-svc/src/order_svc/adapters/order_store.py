"""Orders in MongoDB: one document per order, holding its state, evidence, job log and outbox.

Every change is one ``update_one`` guarded by the order's ``version``, pushing the job-log entry and the
outgoing events in the same write as the state change. The job log (``job_log``) is only ever
pushed to: no code path sets, pulls or pops it.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from bangke_contracts.envelope import Event
from bangke_runtime.idempotency import apply_once
from bangke_runtime.outbox import new_document_outbox, with_outbox

from ..domain.errors import OrderChangedConcurrently, OrderNotFound


def change(
    at: datetime,
    log: dict[str, Any],
    *,
    set_fields: dict[str, Any] | None = None,
    push: dict[str, Any] | None = None,
    events: Iterable[Event[Any]] = (),
) -> dict[str, Any]:
    """Build one order update: new fields, the job-log entry, extra pushes and the outbox events."""
    update: dict[str, Any] = {
        "$set": {**(set_fields or {}), "updated_at": at},
        "$push": {**(push or {}), "job_log": log},
        "$inc": {"version": 1},
    }
    return with_outbox(update, events)


class OrderStore:
    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.collection.create_index([("outlet_id", ASCENDING), ("status", ASCENDING)])
        await self.collection.create_index([("region_id", ASCENDING), ("status", ASCENDING)])
        await self.collection.create_index([("engineer_id", ASCENDING), ("status", ASCENDING)])
        await self.collection.create_index([("offered_to", ASCENDING), ("status", ASCENDING)])

    async def insert(self, document: dict[str, Any], events: Iterable[Event[Any]]) -> None:
        await self.collection.insert_one({**document, "version": 1, **new_document_outbox(events)})

    async def get(self, order_id: str) -> dict[str, Any]:
        document = await self.collection.find_one({"_id": order_id}, {"outbox": 0, "processed_events": 0})
        if document is None:
            raise OrderNotFound(order_id=order_id)
        return document

    async def update(self, document: dict[str, Any], update: dict[str, Any], extra_filter: dict[str, Any] | None = None) -> None:
        """Apply ``update`` if the order is still at the version that was read; else raise a conflict."""
        result = await self.collection.update_one(
            {"_id": document["_id"], "version": document["version"], **(extra_filter or {})}, update
        )
        if result.modified_count != 1:
            raise OrderChangedConcurrently(order_id=document["_id"])

    async def apply_event(self, order_id: str, event_id: Any, update: dict[str, Any]) -> bool:
        """Apply an update caused by a consumed event, once."""
        return await apply_once(self.collection, {"_id": order_id}, event_id, update)

    async def find(self, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        cursor = (
            self.collection.find(query, {"outbox": 0, "processed_events": 0, "job_log": 0})
            .sort("appointment_start", ASCENDING)
            .limit(limit)
        )
        return [document async for document in cursor]
