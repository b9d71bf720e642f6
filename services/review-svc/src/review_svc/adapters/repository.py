"""MongoDB repository of review tasks.

A task lives in one of two collections, and saving one task is one single-document write:

- ``review_tasks``: from the submission until the task leaves the registry check (or leaves the
  review without one). A task's decisions are appended with ``$push``, never rewritten, and every
  update is guarded by the task's revision, so two reviewers acting at once cannot both win.
- ``registry_results``: the task's state from the moment it leaves the registry check, by the
  check's result or by a withdrawal while it waited, under the same ``_id``. That first state is
  an insert; whoever inserts first (the check or the withdrawal) wins, the other gets a duplicate
  key and reads the winner's state. The task's document in ``review_tasks`` keeps the status
  ``awaiting_registry_check`` and is not written again; later decisions (the spot check) update
  the document in ``registry_results``. A task's current state is its ``registry_results``
  document if there is one, else its ``review_tasks`` document, both read by exact ``_id``.

Why inserts: FerretDB v1.24 on SQLite scans the collection for every update, even by ``_id``
(measured 5.7 ms at 1,000 documents and 58 ms at 20,000), while an insert and a read by exact
``_id`` stay cheap. The nightly check writes up to 100,000 results, so it writes them in batches:

1. insert a small intent (``registry_batch_intents``): the batch id and its task ids;
2. insert the result documents into ``registry_results`` with ``insert_many(ordered=False)``; a
   duplicate key means a withdrawal won, and that result does not take effect;
3. insert the batch document (``registry_batches``) whose outbox carries the events of the results
   that took effect, so the relay publishes them and clears one document's outbox;
4. delete the intent. Deletes go to the intents collection only, which contains a few documents.

A crash leaves the intent. ``recover_registry_batches`` (at start-up and before each check) then
inserts the batch document if it is missing, with the events rebuilt from the result documents
that name the batch, and deletes the intent. Results that step 2 did not write leave their tasks
awaiting the check, so the next run looks them up again. The batch document's insert is the only
place a batch's events enter an outbox, so they are published once (consumers are idempotent
against the relay's own redelivery).
"""

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from bangke_contracts.envelope import Event
from bangke_runtime.outbox import new_document_outbox, with_outbox

from ..domain.registry import Difference
from ..domain.review import Decision, ReviewStatus, ReviewTask, Role, SpotCheckReason, Step
from ..service_layer.events import review_events

# Fields the use cases read; the rest of the document stays on the server.
CHECK_PROJECTION = {"outbox": 0, "processed_events": 0}

DUPLICATE_KEY = 11000

# Values of ReviewTask.storage.
IN_TASKS = "task"
"""In ``review_tasks``; the next state is an update there."""
LEAVING_CHECK = "awaiting_check"
"""In ``review_tasks``, awaiting the registry check; the next state is inserted into ``registry_results``."""
IN_RESULTS = "result"
"""In ``registry_results``; the next state is an update there."""

# Statuses a task can have in registry_results; queues of other statuses read review_tasks alone.
RESULT_STATUSES = frozenset(
    {ReviewStatus.PENDING_SPOT_CHECK, ReviewStatus.APPROVED, ReviewStatus.REJECTED, ReviewStatus.CANCELLED}
)

RegistryResult = tuple[ReviewTask, list[Event[Any]]]


class ReviewRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["review_tasks"]
        self.results: AsyncCollection = db["registry_results"]
        self.intents: AsyncCollection = db["registry_batch_intents"]
        self.batches: AsyncCollection = db["registry_batches"]

    @property
    def outbox_collections(self) -> list[AsyncCollection]:
        """The collections whose documents carry outboxes; register each with the relay."""
        return [self.collection, self.results, self.batches]

    async def create_indexes(self) -> None:
        for collection in (self.collection, self.results):
            await collection.create_index([("status", ASCENDING), ("outlet_id", ASCENDING), ("submitted_at", ASCENDING)])
            await collection.create_index([("status", ASCENDING), ("region_id", ASCENDING), ("submitted_at", ASCENDING)])
            await collection.create_index([("status", ASCENDING), ("outlet_approved_at", ASCENDING)])
            await collection.create_index("certificate_id")

    async def add(self, task: ReviewTask, event_id: str) -> bool:
        """Insert a new task; return False when the submission was seen before."""
        document = {**to_document(task), "processed_events": [event_id], **new_document_outbox([])}
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, review_id: str) -> ReviewTask | None:
        """Return the task's current state: its registry_results document if any, else its review_tasks one."""
        document = await self.results.find_one({"_id": review_id}, CHECK_PROJECTION)
        if document is not None:
            return from_document(document, storage=IN_RESULTS)
        document = await self.collection.find_one({"_id": review_id}, CHECK_PROJECTION)
        return from_document(document) if document is not None else None

    async def save(self, task: ReviewTask, events: list[Event[Any]], *, event_id: str | None = None) -> bool:
        """Store the task's changes, new decisions and events in one write; False if it changed meanwhile.

        With ``event_id``, the write also records that event as processed and skips a task that
        already processed it.
        """
        if task.storage == LEAVING_CHECK:
            saved = await self._insert_result(task, events, event_id)
        else:
            saved = await self._update(task, events, event_id)
        if not saved:
            return False
        task.revision += 1
        task.new_decisions.clear()
        if task.storage == LEAVING_CHECK:
            task.storage = IN_RESULTS
        return True

    async def _insert_result(self, task: ReviewTask, events: list[Event[Any]], event_id: str | None) -> bool:
        document = {
            **result_document(task),
            "processed_events": [event_id] if event_id is not None else [],
            **new_document_outbox(events),
        }
        try:
            await self.results.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def _update(self, task: ReviewTask, events: list[Event[Any]], event_id: str | None) -> bool:
        collection = self.results if task.storage == IN_RESULTS else self.collection
        document_filter: dict[str, Any] = {"_id": task.review_id, "revision": task.revision}
        update: dict[str, Any] = {"$set": {**_mutable_fields(task), "revision": task.revision + 1}}
        if task.new_decisions:
            update["$push"] = {"decisions": {"$each": [_decision_document(d) for d in task.new_decisions]}}
        if event_id is not None:
            document_filter["processed_events"] = {"$ne": event_id}
            update.setdefault("$push", {})["processed_events"] = event_id
        result = await collection.update_one(document_filter, with_outbox(update, events))
        return result.modified_count == 1

    async def queue(self, query: dict[str, Any], *, limit: int, offset: int) -> tuple[list[ReviewTask], int]:
        """Return one page of the tasks matching ``query``, oldest submission first, and their total.

        A task is in one collection or, with another status, frozen in review_tasks, so the two
        collections' matches never overlap and the page is a merge of both.
        """
        sources = [(self.collection, IN_TASKS)]
        if query.get("status") in RESULT_STATUSES:
            sources.append((self.results, IN_RESULTS))
        total = 0
        found: list[tuple[dict[str, Any], str]] = []
        for collection, storage in sources:
            total += await collection.count_documents(query)
            cursor = collection.find(query, CHECK_PROJECTION).sort([("submitted_at", ASCENDING), ("_id", ASCENDING)])
            found += [(document, storage) for document in await cursor.limit(offset + limit).to_list()]
        found.sort(key=lambda item: (item[0]["submitted_at"], item[0]["_id"]))
        return [from_document(document, storage=storage) for document, storage in found[offset : offset + limit]], total

    # The nightly registry check.

    def registry_check_query(self, approved_before: datetime) -> dict[str, Any]:
        return {
            "status": ReviewStatus.AWAITING_REGISTRY_CHECK.value,
            "outlet_approved_at": {"$lte": approved_before},
        }

    async def count_awaiting_registry_check(self, approved_before: datetime) -> tuple[int, set[str]]:
        """Count the tasks still awaiting the check; return the count and the ids of tasks that left it.

        A task's review_tasks document keeps the status awaiting_registry_check after it left the
        check, so this reads ids only (FerretDB v1 scans the collection for this filter anyway).
        """
        left = {document["_id"] async for document in self.results.find({}, {"_id": 1}, batch_size=10_000)}
        cursor = self.collection.find(self.registry_check_query(approved_before), {"_id": 1}, batch_size=10_000)
        awaiting = sum([1 async for document in cursor if document["_id"] not in left])
        return awaiting, left

    async def awaiting_registry_check(
        self, approved_before: datetime, left: set[str], batch_size: int = 1000
    ) -> AsyncIterator[ReviewTask]:
        """Yield the tasks still awaiting the check, skipping those in ``left`` (they have a result).

        NOTE: the cursor still sends every task that ever left the check, because its review_tasks
        document is not updated. That traffic grows with the history; a run with nothing to do skips it.
        """
        cursor = self.collection.find(self.registry_check_query(approved_before), CHECK_PROJECTION, batch_size=batch_size)
        async for document in cursor:
            if document["_id"] not in left:
                yield from_document(document)

    async def store_registry_results(
        self, batch_id: str, results: list[RegistryResult], *, correlation_id: str, now: datetime
    ) -> list[bool]:
        """Store one batch of check results and their events; return, per result, whether it took effect.

        A result does not take effect when the task left the check meanwhile (a withdrawal).
        """
        await self.intents.insert_one(
            {"_id": batch_id, "review_ids": [task.review_id for task, _ in results], "correlation_id": correlation_id,
             "created_at": now}
        )
        documents = [result_document(task, batch_id=batch_id) for task, _ in results]
        duplicates: set[int] = set()
        try:
            await self.results.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            # The batch id is new, so a duplicate is another write's: the task left the check meanwhile.
            duplicates = _duplicate_indexes(error)
        applied = [index not in duplicates for index in range(len(results))]
        events = [event for (_, task_events), took_effect in zip(results, applied, strict=True) if took_effect for event in task_events]
        await self._insert_batch(batch_id, [d["_id"] for d in documents], applied, events, now)
        await self.intents.delete_one({"_id": batch_id})
        for (task, _), took_effect in zip(results, applied, strict=True):
            if took_effect:
                task.revision += 1
                task.new_decisions.clear()
                task.storage = IN_RESULTS
        return applied

    async def recover_registry_batches(self) -> int:
        """Complete the batches a crash left half-written; return how many. Safe to run at any time.

        The events of a result are rebuilt from its registry_results document. They were never
        published, because the batch document that would carry them does not exist.
        """
        recovered = 0
        async for intent in self.intents.find({}):
            batch_id = intent["_id"]
            if await self.batches.find_one({"_id": batch_id}, {"_id": 1}) is None:
                review_ids: list[str] = intent["review_ids"]
                applied: list[bool] = []
                events: list[Event[Any]] = []
                for review_id in review_ids:
                    document = await self.results.find_one({"_id": review_id}, CHECK_PROJECTION)
                    took_effect = document is not None and document.get("batch_id") == batch_id
                    applied.append(took_effect)
                    if took_effect:
                        assert document is not None
                        events += registry_result_events(from_document(document, storage=IN_RESULTS), intent["correlation_id"])
                try:
                    await self._insert_batch(batch_id, review_ids, applied, events, intent["created_at"])
                except DuplicateKeyError:
                    pass  # Another process completed this batch at the same time.
            await self.intents.delete_one({"_id": batch_id})
            recovered += 1
        return recovered

    async def _insert_batch(
        self, batch_id: str, review_ids: list[str], applied: list[bool], events: list[Event[Any]], created_at: datetime
    ) -> None:
        await self.batches.insert_one(
            {
                "_id": batch_id,
                "created_at": created_at,
                "applied": [r for r, took_effect in zip(review_ids, applied, strict=True) if took_effect],
                "skipped": [r for r, took_effect in zip(review_ids, applied, strict=True) if not took_effect],
                **new_document_outbox(events),
            }
        )


def _duplicate_indexes(error: BulkWriteError) -> set[int]:
    """Return the positions that failed on a duplicate key; raise the error if anything else failed."""
    errors = error.details.get("writeErrors", [])
    if any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise error
    return {e["index"] for e in errors}


def registry_result_events(task: ReviewTask, correlation_id: str) -> list[Event[Any]]:
    """Rebuild the events of the registry decision of a task read from registry_results.

    The task may have changed since (a spot check, a withdrawal), so only the registry decision is
    new, and the review counts as just completed only when the registry's match completed it.
    """
    decision = next(d for d in task.decisions if d.step == Step.REGISTRY_CHECK)
    task.new_decisions = [decision]
    if task.completed_by_role != Role.REGISTRY_CHECK.value:
        task.completed_at = None
    return review_events(task, correlation_id=UUID(correlation_id))


def result_document(task: ReviewTask, *, batch_id: str | None = None) -> dict[str, Any]:
    """Return the registry_results document of a task that just left the check (next revision)."""
    document = {**to_document(task), "revision": task.revision + 1, "processed_events": [], **new_document_outbox([])}
    if batch_id is not None:
        document["batch_id"] = batch_id
    return document


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


def from_document(document: dict[str, Any], *, storage: str | None = None) -> ReviewTask:
    """Rebuild a task; ``storage`` names its collection (review_tasks when None)."""
    if storage is None or storage == IN_TASKS:
        awaiting = document["status"] == ReviewStatus.AWAITING_REGISTRY_CHECK.value
        storage = LEAVING_CHECK if awaiting else IN_TASKS
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
        storage=storage,
    )
