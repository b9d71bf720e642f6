"""Projection of identity-svc's engineers: real name, ID number digest, outlet and region.

certificate-svc checks a certificate's holder against it and learns the engineer's outlet and region
from it. Each identity event is applied once (its id is recorded in the same upsert).
"""

from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection

from bangke_contracts.identity import EngineerAuthenticated, EngineerRegistered
from bangke_runtime.idempotency import apply_once

from ..domain.validation import EngineerIdentity


class EngineerDirectory:
    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def get(self, engineer_id: str) -> EngineerIdentity | None:
        document = await self.collection.find_one({"_id": engineer_id})
        # An authentication event may arrive before the registration is projected: no identity yet.
        if document is None or "name" not in document:
            return None
        return EngineerIdentity(
            engineer_id=engineer_id,
            provider_id=document["provider_id"],
            outlet_id=document["outlet_id"],
            region_id=document["region_id"],
            name=document["name"],
            id_number_sha256=document["id_number_sha256"],
        )

    async def names(self, engineer_ids: list[str]) -> dict[str, str]:
        cursor = self.collection.find({"_id": {"$in": engineer_ids}}, {"name": 1})
        return {document["_id"]: document.get("name", "") async for document in cursor}

    async def apply_registered(self, event: EngineerRegistered, now: datetime) -> bool:
        payload = event.payload
        fields = payload.model_dump(exclude={"engineer_id"})
        return await apply_once(
            self.collection, {"_id": payload.engineer_id}, event.event_id,
            {"$set": {**fields, "updated_at": now}}, upsert=True,
        )

    async def apply_authenticated(self, event: EngineerAuthenticated, now: datetime) -> bool:
        payload = event.payload
        return await apply_once(
            self.collection, {"_id": payload.engineer_id}, event.event_id,
            {"$set": {"authenticated_at": payload.authenticated_at, "authentication_method": payload.method, "updated_at": now}},
            upsert=True,
        )
