"""MongoDB repository of certificates, with optimistic concurrency on a revision counter.

A save sets the aggregate's fields, appends its new events to the outbox and, for a consumed event,
records the event id, all in one ``update_one`` filtered on the revision that was loaded. A save
that matches nothing lost a race with another writer (or the event was applied already), and the
caller reloads and decides again.

NOTE: FerretDB v1.24 on SQLite can lose one of two updates that hit the same document at the same
moment, although both report a match; the outbox relay's pop after publishing is such a concurrent
update. MongoDB applies each update atomically, so the revision filter is sound there.
"""

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from bangke_contracts.envelope import Event
from bangke_runtime.idempotency import PROCESSED_FIELD, mark_processed, not_processed
from bangke_runtime.outbox import new_document_outbox, with_outbox

from ..domain.errors import CertificateTypeExists
from ..domain.model import Certificate
from .documents import certificate_from_document, certificate_state


class CertificateRepository:
    def __init__(self, collection: AsyncCollection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        # One certificate per engineer and type: renewals and corrections are versions of it, so the
        # qualification rules always find a single current version per required type.
        await self.collection.create_index([("engineer_id", ASCENDING), ("certificate_type", ASCENDING)], unique=True)
        await self.collection.create_index([("certificate_type", ASCENDING), ("held_numbers", ASCENDING)])
        await self.collection.create_index([("effective_expires_on", ASCENDING)])
        await self.collection.create_index([("engineer_id", ASCENDING), ("created_at", DESCENDING)])

    async def add(self, certificate: Certificate) -> None:
        document = {"_id": certificate.certificate_id, **certificate_state(certificate), "revision": 0}
        try:
            await self.collection.insert_one({**document, **new_document_outbox([]), PROCESSED_FIELD: []})
        except DuplicateKeyError as error:
            existing = await self.collection.find_one(
                {"engineer_id": certificate.engineer_id, "certificate_type": certificate.certificate_type}, {"_id": 1}
            )
            raise CertificateTypeExists(
                field="certificate_type",
                certificate_type=certificate.certificate_type,
                certificate_id=existing["_id"] if existing else None,
            ) from error

    async def get(self, certificate_id: str) -> Certificate | None:
        document = await self.collection.find_one({"_id": certificate_id})
        return certificate_from_document(document) if document is not None else None

    async def get_for_event(self, certificate_id: str, event_id: Any) -> tuple[Certificate | None, bool]:
        """Return the certificate and whether it has already applied ``event_id``."""
        document = await self.collection.find_one({"_id": certificate_id})
        if document is None:
            return None, False
        return certificate_from_document(document), str(event_id) in document.get(PROCESSED_FIELD, [])

    async def list_for_engineer(self, engineer_id: str) -> list[Certificate]:
        cursor = self.collection.find({"engineer_id": engineer_id}).sort("created_at", DESCENDING)
        return [certificate_from_document(document) async for document in cursor]

    async def save(self, certificate: Certificate, events: list[Event[Any]], processed_event_id: Any = None) -> bool:
        """Store the aggregate with its events; return False when another write came first."""
        document_filter: dict[str, Any] = {"_id": certificate.certificate_id, "revision": certificate.revision}
        update = with_outbox({"$set": certificate_state(certificate), "$inc": {"revision": 1}}, events)
        if processed_event_id is not None:
            document_filter.update(not_processed(processed_event_id))
            update = mark_processed(update, processed_event_id)
        result = await self.collection.update_one(document_filter, update)
        if result.matched_count == 0:
            return False
        certificate.revision += 1
        certificate.events.clear()
        return True

    async def engineers_holding_number(self, certificate_type: str, number: str, excluding: str) -> list[str]:
        cursor = self.collection.find(
            {"certificate_type": certificate_type, "held_numbers": number, "engineer_id": {"$ne": excluding}},
            {"engineer_id": 1},
        )
        return sorted({document["engineer_id"] async for document in cursor})

    async def ids_expired_before(self, day: date) -> list[str]:
        """Ids of certificates whose version in effect has an expiry date before ``day``."""
        cursor = self.collection.find({"effective_expires_on": {"$lt": day.isoformat()}}, {"_id": 1})
        return [document["_id"] async for document in cursor]

    async def in_effect_expiring_between(self, first: date, last: date) -> AsyncIterator[Certificate]:
        cursor = self.collection.find(
            {"effective_expires_on": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
        )
        async for document in cursor:
            yield certificate_from_document(document)
