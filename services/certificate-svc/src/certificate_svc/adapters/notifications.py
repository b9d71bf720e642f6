"""Stored expiry reminders, each inserted with its outgoing event in one document.

The reminder id is the document id, so issuing the same reminder twice inserts nothing the second time.
"""

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from bangke_contracts.notifications import ExpiryReminderIssued
from bangke_runtime.outbox import new_document_outbox

LIST_LIMIT = 200


class NotificationStore:
    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("engineer_id", ASCENDING), ("created_at", DESCENDING)])
        await self.collection.create_index([("outlet_id", ASCENDING), ("created_at", DESCENDING)])

    async def issue(self, notification: dict[str, Any], event: ExpiryReminderIssued) -> bool:
        """Store the reminder and its event; return False when the reminder was issued before."""
        try:
            await self.collection.insert_one({**notification, **new_document_outbox([event])})
        except DuplicateKeyError:
            return False
        return True

    async def list(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        cursor = self.collection.find(query, {"outbox": 0, "outbox_pending": 0}).sort("created_at", DESCENDING)
        return [document async for document in cursor.limit(LIST_LIMIT)]
