"""Apply an event's effect to a document exactly once.

The event id goes into the document's ``processed_events`` array in the same single-document update
as the effect, and the update's filter excludes documents that already list it. A redelivered event
therefore matches nothing and changes nothing.

NOTE: ``processed_events`` grows by one id per applied event. FerretDB v1 ignores ``$slice`` in
``$push``, so the array cannot be capped in the same update; documents here receive tens of events
in their life, which keeps the array small.
"""

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

PROCESSED_FIELD = "processed_events"


def not_processed(event_id: Any) -> dict[str, Any]:
    """Return the filter clause that excludes documents which already applied ``event_id``."""
    return {PROCESSED_FIELD: {"$ne": str(event_id)}}


def mark_processed(update: dict[str, Any], event_id: Any) -> dict[str, Any]:
    """Return ``update`` with the event id appended to ``processed_events``."""
    merged = {operator: dict(fields) for operator, fields in update.items()}
    merged.setdefault("$push", {})[PROCESSED_FIELD] = str(event_id)
    return merged


async def apply_once(
    collection: AsyncCollection,
    document_filter: dict[str, Any],
    event_id: Any,
    update: dict[str, Any],
    *,
    upsert: bool = False,
) -> bool:
    """Apply ``update`` to the document unless it already applied ``event_id``.

    Returns True when the update was applied, False when the event had been applied before or,
    without ``upsert``, when no document matches ``document_filter``.
    """
    try:
        result = await collection.update_one(
            {**document_filter, **not_processed(event_id)},
            mark_processed(update, event_id),
            upsert=upsert,
        )
    except DuplicateKeyError:
        # The upsert tried to insert because the filter excluded the existing document:
        # that document already lists this event.
        return False
    return result.modified_count == 1 or result.upserted_id is not None

