"""MongoDB repository of review tasks.

One document per certificate version contains the task's state, its decisions (appended with
``$push``, never rewritten) and its outbox. Every save is one ``update_one`` guarded by the task's
revision, so a state change, its decisions and its events land together or not at all, and two
reviewers acting at once cannot both win.
"""

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from bangke_contracts.envelope import Event
from bangke_runtime.outbox import new_document_outbox, with_outbox

from ..domain.registry import Difference
from ..domain.review import Decision, ReviewStatus, ReviewTask, SpotCheckReason, Step

# Fields the registry check reads; the rest of the document stays on the server.
CHECK_PROJECTION = {"outbox": 0, "processed_events": 0}


class ReviewRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["review_tasks"]

    async def create_indexes(self) -> None:
        await self.collection.create_index([("status", ASCENDING), ("outlet_id", ASCENDING), ("submitted_at", ASCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("region_id", ASCENDING), ("submitted_at", ASCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("outlet_approved_at", ASCENDING)])
        await self.collection.create_index("certificate_id")

    async def add(self, task: ReviewTask, event_id: str) -> bool:
        """Insert a new task; return False when the submission was seen before."""
        document = {**to_document(task), "processed_events": [event_id], **new_document_outbox([])}
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, review_id: str) -> ReviewTask | None:
        document = await self.collection.find_one({"_id": review_id}, CHECK_PROJECTION)
        return from_document(document) if document is not None else None

    async def save(self, task: ReviewTask, events: list[Event[Any]], *, event_id: str | None = None) -> bool:
        """Store the task's changes, new decisions and events in one write; False if it changed meanwhile.

        With ``event_id``, the write also records that event as processed and skips a task that
        already processed it.
        """
        document_filter: dict[str, Any] = {"_id": task.review_id, "revision": task.revision}
        update: dict[str, Any] = {"$set": {**_mutable_fields(task), "revision": task.revision + 1}}
        if task.new_decisions:
            update["$push"] = {"decisions": {"$each": [_decision_document(d) for d in task.new_decisions]}}
        if event_id is not None:
            document_filter["processed_events"] = {"$ne": event_id}
            update.setdefault("$push", {})["processed_events"] = event_id
        result = await self.collection.update_one(document_filter, with_outbox(update, events))
        if result.modified_count != 1:
            return False
        task.revision += 1
        task.new_decisions.clear()
        return True

    async def queue(self, query: dict[str, Any], *, limit: int, offset: int) -> tuple[list[ReviewTask], int]:
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(query, CHECK_PROJECTION).sort([("submitted_at", ASCENDING), ("_id", ASCENDING)])
        documents = await cursor.skip(offset).limit(limit).to_list()
        return [from_document(document) for document in documents], total

    def registry_check_query(self, approved_before: datetime) -> dict[str, Any]:
        return {
            "status": ReviewStatus.AWAITING_REGISTRY_CHECK.value,
            "outlet_approved_at": {"$lte": approved_before},
        }

    async def count_awaiting_registry_check(self, approved_before: datetime) -> int:
        return await self.collection.count_documents(self.registry_check_query(approved_before))

    async def awaiting_registry_check(self, approved_before: datetime, batch_size: int = 1000) -> AsyncIterator[ReviewTask]:
        cursor = self.collection.find(self.registry_check_query(approved_before), CHECK_PROJECTION, batch_size=batch_size)
        async for document in cursor:
            yield from_document(document)


def to_document(task: ReviewTask) -> dict[str, Any]:
    return {
        "_id": task.review_id,
        "certificate_id": task.certificate_id,
        "version": task.version,
        "engineer_id": task.engineer_id,
        "outlet_id": task.outlet_id,
        "region_id": task.region_id,
        "certificate_type": task.certificate_type,
        "kind": task.kind,
        "registry_confirmable": task.registry_confirmable,
        "number": task.number,
        "holder_name": task.holder_name,
        "holder_id_number": task.holder_id_number,
        "issued_on": task.issued_on.isoformat(),
        "expires_on": task.expires_on.isoformat(),
        "photo_keys": list(task.photo_keys),
        "number_held_by": list(task.number_held_by),
        "renewal": task.renewal,
        "submitted_at": task.submitted_at,
        "revision": task.revision,
        "decisions": [_decision_document(d) for d in task.decisions],
        **_mutable_fields(task),
    }


def _mutable_fields(task: ReviewTask) -> dict[str, Any]:
    return {
        "status": task.status.value,
        "outlet_approved_at": task.outlet_approved_at,
        "spot_check_reason": task.spot_check_reason.value if task.spot_check_reason else None,
        "spot_check_from": task.spot_check_from.isoformat() if task.spot_check_from else None,
        "differences": [_difference_document(d) for d in task.differences],
        "completed_outcome": task.completed_outcome,
        "completed_reason": task.completed_reason,
        "completed_by_role": task.completed_by_role,
        "completed_at": task.completed_at,
        "cancelled_at": task.cancelled_at,
    }


def _decision_document(decision: Decision) -> dict[str, Any]:
    return {
        "step": decision.step.value,
        "outcome": decision.outcome,
        "actor_id": decision.actor_id,
        "actor_role": decision.actor_role,
        "decided_at": decision.decided_at,
        "reason": decision.reason,
        "differences": [_difference_document(d) for d in decision.differences],
    }


def _difference_document(difference: Difference) -> dict[str, str]:
    return {"field": difference.field, "uploaded": difference.uploaded, "registry": difference.registry}


def _difference(document: dict[str, str]) -> Difference:
    return Difference(document["field"], document["uploaded"], document["registry"])


def from_document(document: dict[str, Any]) -> ReviewTask:
    spot_check_from = document.get("spot_check_from")
    reason = document.get("spot_check_reason")
    return ReviewTask(
        review_id=document["_id"],
        certificate_id=document["certificate_id"],
        version=document["version"],
        engineer_id=document["engineer_id"],
        outlet_id=document["outlet_id"],
        region_id=document["region_id"],
        certificate_type=document["certificate_type"],
        kind=document["kind"],
        registry_confirmable=document["registry_confirmable"],
        number=document["number"],
        holder_name=document["holder_name"],
        holder_id_number=document["holder_id_number"],
        issued_on=date.fromisoformat(document["issued_on"]),
        expires_on=date.fromisoformat(document["expires_on"]),
        photo_keys=tuple(document.get("photo_keys") or ()),
        number_held_by=tuple(document.get("number_held_by") or ()),
        renewal=document.get("renewal", False),
        submitted_at=document["submitted_at"],
        status=ReviewStatus(document["status"]),
        revision=document.get("revision", 0),
        outlet_approved_at=document.get("outlet_approved_at"),
        spot_check_reason=SpotCheckReason(reason) if reason else None,
        spot_check_from=date.fromisoformat(spot_check_from) if spot_check_from else None,
        differences=tuple(_difference(d) for d in document.get("differences") or ()),
        decisions=[
            Decision(
                step=Step(d["step"]),
                outcome=d["outcome"],
                actor_id=d["actor_id"],
                actor_role=d["actor_role"],
                decided_at=d["decided_at"],
                reason=d.get("reason"),
                differences=tuple(_difference(x) for x in d.get("differences") or ()),
            )
            for d in document.get("decisions") or ()
        ],
        completed_outcome=document.get("completed_outcome"),
        completed_reason=document.get("completed_reason"),
        completed_by_role=document.get("completed_by_role"),
        completed_at=document.get("completed_at"),
        cancelled_at=document.get("cancelled_at"),
    )
