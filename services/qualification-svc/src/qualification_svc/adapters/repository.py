"""MongoDB storage of the engineer aggregate: one document per engineer.

The document holds the identity, the certificate projection, the qualifications, the ids of the
events already applied and the outbox. Every change is one ``update_one`` guarded by ``revision``
(optimistic concurrency between HTTP requests and Kafka consumers) and, for incoming events, by
their ids not being listed yet, so a redelivered event changes nothing.

On FerretDB the caller holds the engineer's lock from the load to the save, and this process is the
only writer (FerretDB v1 loses concurrent updates from several processes anyway), so the document
cannot have changed since the load: ``in_process_guard`` then writes by ``_id`` alone, after the
load already checked the revision and the event ids.
For the same reason the repository can keep what it last read or wrote of each engineer
(``EngineerCache``), and a load then costs no read of the database.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from bangke_runtime.idempotency import PROCESSED_FIELD, mark_processed, not_processed
from bangke_runtime.lru import LruCache
from bangke_runtime.outbox import (
    OUTBOX_FIELD,
    PENDING_FIELD,
    new_document_outbox,
    outbox_after,
    outbox_unchanged,
    with_trimmed_outbox,
)
from bangke_runtime.serialised import SerialisedCollection

from .serialised import KnownOutboxes
from ..domain.model import Engineer, ExamResult, Qualification, Status
from ..domain.validity import HeldCertificate

COLLECTION = "engineers"
PRELOAD_CHUNK = 500
"""Maximum engineers read by one ``preload`` query. The patched FerretDB serves an ``_id`` ``$in`` of
up to 1,000 values from its index."""


@dataclass(slots=True)
class Loaded:
    engineer: Engineer
    revision: int
    """0 for an engineer not stored yet."""
    processed: frozenset[str]
    outbox: tuple[dict[str, Any], ...] = ()
    """The stored outbox when loaded: entries not yet published, or published and not yet cleared."""


@dataclass(frozen=True, slots=True)
class _Stored:
    """The stored document of one engineer, reduced to what a load needs."""

    fields: dict[str, Any]
    """Fields other than the four below, with ``_id`` when read from the database."""
    revision: int
    processed: tuple[str, ...]
    """In stored order."""
    outbox: tuple[dict[str, Any], ...]
    pending: bool

    def document(self) -> dict[str, Any]:
        """Return the whole stored document, without ``_id``."""
        return {
            **{key: value for key, value in self.fields.items() if key != "_id"},
            "revision": self.revision,
            PROCESSED_FIELD: list(self.processed),
            OUTBOX_FIELD: list(self.outbox),
            PENDING_FIELD: self.pending,
        }


class EngineerCache(LruCache[_Stored]):
    """The engineer documents this process last read or wrote, at most ``size``, least recent dropped.

    Valid only while this process is the only writer of the collection and every write of an
    engineer's document holds that engineer's lock (``in_process_guard``). The repository fills it
    from loads and saves made under the lock. The outbox relay's writes drop the engineer
    (``forget``), and so does a save that fails or whose outcome is unknown.
    """


_NOT_STATE = frozenset({PROCESSED_FIELD, OUTBOX_FIELD, PENDING_FIELD, "revision"})


def _state_of(document: dict[str, Any]) -> dict[str, Any]:
    """Return the document without the fields that ``_Stored`` keeps apart, so the cache stores each once."""
    return {key: value for key, value in document.items() if key not in _NOT_STATE}


def _stored_from(document: dict[str, Any]) -> _Stored:
    return _Stored(
        _state_of(document),
        int(document.get("revision", 0)),
        tuple(document.get(PROCESSED_FIELD) or ()),
        tuple(document.get(OUTBOX_FIELD) or ()),
        bool(document.get(PENDING_FIELD)),
    )


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _instant(value: datetime | None) -> datetime | None:
    """Return ``value`` as BSON stores it: in UTC, to the millisecond.

    Saved state is cached as written, so it must equal what a later read of the document returns.
    """
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _qualification_to_document(q: Qualification) -> dict[str, Any]:
    """Return the stored form of ``q``, leaving out empty fields.

    The engineer's document is written whole on every event, and the server's cost grows with the
    number of fields. A pending qualification has nine of its seventeen fields empty. Reads treat a
    missing field as empty, so documents stored with the empty fields read the same.
    """
    document = {
        "qualification_id": q.qualification_id,
        "qualification_type": q.qualification_type,
        "required_certificates": list(q.required_certificates),
        "status": q.status.value,
        "applied_at": _instant(q.applied_at),
        "granted_at": _instant(q.granted_at),
        # Calendar days are stored as ISO strings: they compare in date order and carry no time zone.
        "valid_until": q.valid_until.isoformat() if q.valid_until else None,
        "limiting_certificate_type": q.limiting_certificate_type,
        "limiting_certificate_id": q.limiting_certificate_id,
        "passed_score": q.passed_score,
        "exam_results": [
            {"attempt_id": r.attempt_id, "score": r.score, "passed": r.passed, "finished_at": _instant(r.finished_at)}
            for r in q.exam_results
        ],
        "withdrawn_at": _instant(q.withdrawn_at),
        "lapsed_at": _instant(q.lapsed_at),
        "lapse_reason": q.lapse_reason,
        "validity_changed_at": _instant(q.validity_changed_at),
    }
    return {key: value for key, value in document.items() if value is not None and value != []}


def _qualification_from_document(d: dict[str, Any]) -> Qualification:
    return Qualification(
        qualification_id=d["qualification_id"],
        qualification_type=d["qualification_type"],
        required_certificates=tuple(d.get("required_certificates") or ()),
        status=Status(d["status"]),
        applied_at=d["applied_at"],
        granted_at=d.get("granted_at"),
        valid_until=_day(d.get("valid_until")),
        limiting_certificate_type=d.get("limiting_certificate_type"),
        limiting_certificate_id=d.get("limiting_certificate_id"),
        passed_score=d.get("passed_score"),
        exam_results=[
            ExamResult(r["attempt_id"], r["score"], r["passed"], r["finished_at"]) for r in d.get("exam_results") or []
        ],
        withdrawn_at=d.get("withdrawn_at"),
        lapsed_at=d.get("lapsed_at"),
        lapse_reason=d.get("lapse_reason"),
        validity_changed_at=d.get("validity_changed_at"),
    )


def state_fields(engineer: Engineer) -> dict[str, Any]:
    """Return the document fields that hold the aggregate's state."""
    return {
        "provider_id": engineer.provider_id,
        "outlet_id": engineer.outlet_id,
        "region_id": engineer.region_id,
        "name": engineer.name,
        "authenticated": engineer.authenticated,
        "certificates": [
            {
                "certificate_id": c.certificate_id,
                "version": c.version,
                "certificate_type": c.certificate_type,
                "expires_on": c.expires_on.isoformat(),
            }
            for c in engineer.certificates
        ],
        "qualifications": [_qualification_to_document(q) for q in engineer.qualifications],
        # Denormalised for the daily sweep's query: the earliest end among granted qualifications.
        "next_lapse_check": min(
            (q.valid_until.isoformat() for q in engineer.qualifications if q.status == Status.GRANTED and q.valid_until),
            default=None,
        ),
    }


def engineer_from_document(document: dict[str, Any]) -> Engineer:
    return Engineer(
        engineer_id=document["_id"],
        provider_id=document.get("provider_id"),
        outlet_id=document.get("outlet_id"),
        region_id=document.get("region_id"),
        name=document.get("name"),
        authenticated=bool(document.get("authenticated")),
        certificates=[
            HeldCertificate(c["certificate_id"], c["version"], c["certificate_type"], date.fromisoformat(c["expires_on"]))
            for c in document.get("certificates") or []
        ],
        qualifications=[_qualification_from_document(q) for q in document.get("qualifications") or []],
    )


PublishedIds = Callable[[str], set[str]]
"""Given an engineer id, the ids of that engineer's outbox entries that Kafka acknowledged."""


class EngineerRepository:
    """Load and save engineer documents.

    The outbox is cleared lazily (``OutboxRelay.register(..., lazy_clear=True)``): a save leaves out
    of the stored outbox the entries that ``published`` reports as acknowledged by Kafka, in the write
    it makes anyway, so most published events cost no write of their own.
    """

    def __init__(
        self,
        db: AsyncDatabase,
        in_process_guard: Callable[[], bool] = lambda: False,
        known: KnownOutboxes | None = None,
        published: PublishedIds = lambda _engineer_id: set(),
        cache: EngineerCache | None = None,
    ) -> None:
        # The runtime's SerialisedCollection: its update_by_id sends concurrent saves in one bulk write.
        self.collection: SerialisedCollection = db[COLLECTION]  # type: ignore[assignment]
        self._in_process_guard = in_process_guard
        self._known = known
        self._published = published
        self._cache = cache

    @property
    def cached(self) -> int:
        """Number of engineers in the cache (0 without a cache)."""
        return len(self._cache) if self._cache is not None else 0

    async def create_indexes(self) -> None:
        await self.collection.create_index("outlet_id")
        await self.collection.create_index("region_id")
        await self.collection.create_index("qualifications.qualification_id")
        await self.collection.create_index("next_lapse_check")

    async def load(self, engineer_id: str) -> Loaded:
        """Load the engineer. The caller holds the engineer's lock until it has saved or given up."""
        cache = self._cache if self._cache is not None and self._in_process_guard() else None
        stored = cache.get(engineer_id) if cache is not None else None
        if stored is None:
            # The outbox is read too (it is empty unless the relay is behind): the save records what it leaves.
            document = await self.collection.find_one({"_id": engineer_id})
            if document is None:
                return Loaded(Engineer(engineer_id), 0, frozenset())
            stored = _stored_from(document)
            if cache is not None:
                cache.put(engineer_id, stored)
        return Loaded(
            engineer_from_document({**stored.fields, "_id": engineer_id}),
            stored.revision,
            frozenset(stored.processed),
            stored.outbox,
        )

    async def preload(self, engineer_ids: Sequence[str]) -> int:
        """Read the engineers not cached yet in one query and cache them; return how many were read.

        The caller holds the lock of every one of them. Does nothing without the cache, or when
        ``in_process_guard`` does not hold.
        """
        if self._cache is None or not self._in_process_guard():
            return 0
        missing = [engineer_id for engineer_id in dict.fromkeys(engineer_ids) if self._cache.get(engineer_id) is None]
        read = 0
        for start in range(0, len(missing), PRELOAD_CHUNK):
            chunk = missing[start : start + PRELOAD_CHUNK]
            async for document in self.collection.find({"_id": {"$in": chunk}}):
                self._cache.put(document["_id"], _stored_from(document))
                read += 1
        return read

    async def save(self, loaded: Loaded, event_id: str | Sequence[str] | None = None) -> bool:
        """Store the aggregate, its recorded events and the applied event ids in one write.

        ``event_id`` is one id or the ids of several events applied together, in order. Returns False
        when another write came first (the caller reloads and tries again).
        """
        engineer = loaded.engineer
        event_ids = [event_id] if isinstance(event_id, str) else list(event_id or ())
        if loaded.revision == 0:
            document = {
                "_id": engineer.engineer_id,
                "revision": 1,
                **state_fields(engineer),
                PROCESSED_FIELD: event_ids,
                **new_document_outbox(engineer.events),
            }
            self._forget(engineer.engineer_id)
            try:
                await self.collection.insert_one(document)
            except DuplicateKeyError:
                return False
            self._remember_outbox(loaded)
            self._remember(engineer, _stored_from(document))
            return True

        document_filter: dict[str, Any] = {"_id": engineer.engineer_id}
        update: dict[str, Any] = {"$set": {**state_fields(engineer), "revision": loaded.revision + 1}}
        stored = list(loaded.outbox)
        # Asked last, just before the write: an entry acknowledged after this is kept and cleared later.
        published = self._published(engineer.engineer_id) if stored else set()
        if not self._in_process_guard():
            document_filter["revision"] = loaded.revision
            if stored and published:
                # The relay's clears do not change the revision: the outbox must still be the loaded one.
                document_filter.update(outbox_unchanged(stored))
            if len(event_ids) == 1:
                document_filter.update(not_processed(event_ids[0]))
            elif event_ids:
                document_filter[PROCESSED_FIELD] = {"$nin": event_ids}
        if len(event_ids) == 1:
            update = mark_processed(update, event_ids[0])
        elif event_ids:
            update["$push"] = {PROCESSED_FIELD: {"$each": event_ids}}
        if self._known is not None:
            self._known.forget(engineer.engineer_id)
        # The stored document, unchanged since the load because the lock is held. None when not cached.
        current = self._cached(engineer.engineer_id, loaded.revision) if len(document_filter) == 1 else None
        self._forget(engineer.engineer_id)
        update = with_trimmed_outbox(update, stored, published, engineer.events)
        if len(document_filter) == 1:
            # By _id alone (this process is the only writer): concurrent saves share one bulk write,
            # and with the stored document known the write is the whole new document.
            whole = current.document() if current is not None else None
            if not await self.collection.update_by_id(engineer.engineer_id, update, stored=whole):
                return False
        elif (await self.collection.update_one(document_filter, update)).modified_count != 1:
            return False
        self._remember_outbox(loaded, published)
        if current is not None:
            # Cached only when the copy before the write was exact, so that the copy after it is too.
            self._remember(
                engineer,
                _Stored(
                    {**current.fields, **_state_of(update["$set"])},
                    loaded.revision + 1,
                    (*current.processed, *event_ids),
                    tuple(outbox_after(update, stored)),
                    bool(update["$set"].get(PENDING_FIELD, current.pending)),
                ),
            )
        return True

    def stored_document(self, engineer_id: str) -> dict[str, Any] | None:
        """Return the engineer's whole stored document from the cache, without ``_id``, or None.

        None also where this process is not the only writer. The caller holds the engineer's lock.
        """
        cached = self._exact(engineer_id)
        return cached.document() if cached is not None else None

    def remember_document(self, engineer_id: str, document: dict[str, Any]) -> None:
        """Cache ``document`` (without ``_id``) as a write under the engineer's lock has just stored it."""
        if self._cache is not None and self._in_process_guard():
            self._cache.put(engineer_id, _stored_from({**document, "_id": engineer_id}))

    def _cached(self, engineer_id: str, revision: int) -> _Stored | None:
        cached = self._exact(engineer_id)
        return cached if cached is not None and cached.revision == revision else None

    def _exact(self, engineer_id: str) -> _Stored | None:
        """Return the cached copy of the engineer, which is the stored document only under the guard."""
        if self._cache is None or not self._in_process_guard():
            return None
        return self._cache.get(engineer_id)

    def _remember(self, engineer: Engineer, stored: _Stored) -> None:
        if self._cache is not None and self._in_process_guard():
            self._cache.put(engineer.engineer_id, stored)

    def _forget(self, engineer_id: str) -> None:
        if self._cache is not None:
            self._cache.forget(engineer_id)

    def _remember_outbox(self, loaded: Loaded, published: set[str] | frozenset[str] = frozenset()) -> None:
        """Record the stored outbox after a save; only where this process is the only writer."""
        if self._known is not None and self._in_process_guard():
            unpublished = [str(entry.get("event_id")) for entry in loaded.outbox if str(entry.get("event_id")) not in published]
            new_ids = [str(event.event_id) for event in loaded.engineer.events]
            self._known.set(loaded.engineer.engineer_id, [*unpublished, *new_ids])

    async def find_by_qualification(self, qualification_id: str) -> Engineer | None:
        document = await self.collection.find_one({"qualifications.qualification_id": qualification_id}, {"outbox": 0})
        return engineer_from_document(document) if document else None

    async def find_scope(self, scope: dict[str, str], limit: int) -> list[Engineer]:
        cursor = self.collection.find(scope, {"outbox": 0, PROCESSED_FIELD: 0}).sort("_id", 1).limit(limit)
        return [engineer_from_document(document) async for document in cursor]

    async def ids_due_for_lapse(self, today: date, limit: int) -> list[str]:
        cursor = self.collection.find({"next_lapse_check": {"$lt": today.isoformat()}}, {"_id": 1}).limit(limit)
        return [document["_id"] async for document in cursor]
