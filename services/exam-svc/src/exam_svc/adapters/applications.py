"""Which qualifications each engineer has applied for, projected from qualifications.v1.

One document per engineer: ``applications.<qualification_type>`` contains the latest application's id
and status (applied, withdrawn, granted, lapsed). An exam may be started only while it is applied.
"""

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from bangke_runtime.idempotency import apply_once


class ApplicationRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["applications"]

    async def applications(self, engineer_id: str) -> dict[str, dict[str, Any]]:
        document = await self.collection.find_one({"_id": engineer_id}, {"applications": 1})
        return (document or {}).get("applications") or {}

    async def record_applied(self, engineer_id: str, qualification_type: str, qualification_id: str, event_id: str) -> bool:
        return await apply_once(
            self.collection,
            {"_id": engineer_id},
            event_id,
            {"$set": {f"applications.{qualification_type}": {"qualification_id": qualification_id, "status": "applied"}}},
            upsert=True,
        )

    async def record_status(
        self, engineer_id: str, qualification_type: str, qualification_id: str, status: str, event_id: str
    ) -> bool:
        """Set the status of the application ``qualification_id``; a later application is left alone."""
        return await apply_once(
            self.collection,
            {"_id": engineer_id, f"applications.{qualification_type}.qualification_id": qualification_id},
            event_id,
            {"$set": {f"applications.{qualification_type}.status": status}},
        )
