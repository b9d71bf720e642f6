"""The eligibility projection in MongoDB: one document per engineer and qualification type.

FerretDB v1 on SQLite pushes only equality filters down to SQLite, as ``json_each`` sub-queries that
no index serves, so every query reads its whole collection (measured: about 0.7 s for an ``_id``
lookup in a collection of 200,000 documents). The projection is therefore partitioned: one collection
per (qualification type, outlet) and one per (qualification type, region), each holding one document
per engineer (``_id`` is the engineer id). The eligibility query for an order reads one partition of
at most a few thousand documents. On MongoDB the partitions cost nothing extra, and each carries an
index on ``effective_until`` that serves the same query.

Both partitions of a holding are written from the same event with ``apply_once``, so a redelivered
event changes neither twice and a crash between the two writes is repaired by the redelivery.
"""

import hashlib
from datetime import date
from typing import Any, Literal

import structlog
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from bangke_runtime.idempotency import apply_once

from ..domain.eligibility import Holding, HoldingStatus

log = structlog.get_logger()

Area = Literal["outlet", "region"]


def partition_name(area: Area, qualification_type: str, area_id: str) -> str:
    """Return the collection name of one partition; ids are hashed so any id makes a valid name."""
    digest = hashlib.sha256(f"{qualification_type}\x00{area_id}".encode()).hexdigest()[:24]
    return f"eligibility_{area}_{digest}"


def holding_fields(holding: Holding, engineer_name: str | None) -> dict[str, Any]:
    return {
        "engineer_id": holding.engineer_id,
        "engineer_name": engineer_name,
        "qualification_id": holding.qualification_id,
        "qualification_type": holding.qualification_type,
        "outlet_id": holding.outlet_id,
        "region_id": holding.region_id,
        "status": holding.status.value,
        "valid_until": holding.valid_until.isoformat() if holding.valid_until else None,
        # ISO dates compare as strings; None matches no range filter, so only holdings in effect match.
        "effective_until": holding.effective_until.isoformat() if holding.effective_until else None,
        "ended_at": holding.ended_at,
        "end_reason": holding.end_reason,
    }


def holding_from_document(document: dict[str, Any]) -> Holding:
    valid_until = document.get("valid_until")
    return Holding(
        engineer_id=document["engineer_id"],
        qualification_id=document["qualification_id"],
        qualification_type=document["qualification_type"],
        outlet_id=document["outlet_id"],
        region_id=document["region_id"],
        status=HoldingStatus(document["status"]),
        valid_until=date.fromisoformat(valid_until) if valid_until else None,
        ended_at=document.get("ended_at"),
        end_reason=document.get("end_reason"),
    )


class EligibilityStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self._indexed: set[str] = set()

    def engineers(self) -> AsyncCollection:
        return self._db["engineers"]

    async def _partition(self, area: Area, qualification_type: str, area_id: str) -> AsyncCollection:
        name = partition_name(area, qualification_type, area_id)
        collection = self._db[name]
        if name not in self._indexed:
            # Creating an existing index is a no-op, so each process does this once per partition.
            await collection.create_index([("effective_until", DESCENDING)])
            self._indexed.add(name)
        return collection

    async def holding(self, area: Area, qualification_type: str, area_id: str, engineer_id: str) -> Holding | None:
        """Return the engineer's holding of ``qualification_type`` among the engineers of that area."""
        collection = self._db[partition_name(area, qualification_type, area_id)]
        document = await collection.find_one({"_id": engineer_id})
        return holding_from_document(document) if document else None

    async def save(self, holding: Holding, event_id: Any, engineer_name: str | None) -> bool:
        """Write ``holding`` to its outlet and region partitions; return False when both had the event."""
        fields = holding_fields(holding, engineer_name)
        applied = False
        for area, area_id in (("outlet", holding.outlet_id), ("region", holding.region_id)):
            collection = await self._partition(area, holding.qualification_type, area_id)
            applied |= await apply_once(collection, {"_id": holding.engineer_id}, event_id, {"$set": fields}, upsert=True)
        return applied

    async def eligible(
        self, area: Area, qualification_type: str, area_id: str, last_day: date, limit: int
    ) -> list[dict[str, Any]]:
        """Return the engineers of the area whose qualification is in effect through ``last_day``.

        Longest validity first. This is the query the dispatch API runs and the benchmark measures.
        """
        collection = self._db[partition_name(area, qualification_type, area_id)]
        cursor = (
            collection.find(
                {"effective_until": {"$gte": last_day.isoformat()}},
                {"engineer_id": 1, "engineer_name": 1, "effective_until": 1, "outlet_id": 1},
            )
            .sort([("effective_until", DESCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [document async for document in cursor]

    async def engineer_name(self, engineer_id: str) -> str | None:
        # NOTE: "engineers" is not partitioned, so on FerretDB v1 this lookup reads the whole collection.
        # It runs once per qualification event, never on the dispatch path.
        document = await self.engineers().find_one({"_id": engineer_id}, {"name": 1})
        return document.get("name") if document else None

    async def record_engineer(self, event_id: Any, engineer_id: str, fields: dict[str, Any]) -> bool:
        return await apply_once(self.engineers(), {"_id": engineer_id}, event_id, {"$set": fields}, upsert=True)

    async def backfill_name(
        self, engineer_id: str, name: str, outlet_id: str, region_id: str, qualification_types: list[str]
    ) -> None:
        """Set the engineer's name on holdings that were projected before the registration arrived."""
        for qualification_type in qualification_types:
            for area, area_id in (("outlet", outlet_id), ("region", region_id)):
                collection = self._db[partition_name(area, qualification_type, area_id)]
                await collection.update_one({"_id": engineer_id}, {"$set": {"engineer_name": name}})
