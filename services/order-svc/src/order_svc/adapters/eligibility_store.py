"""The eligibility projection in MongoDB, laid out so that every read uses an index.

Unpatched, FerretDB v1 on SQLite evaluates every filter by scanning the collection. Measured with
100,000 engineers, an ``_id`` lookup took about 120 ms in one collection of 5,000 outlet documents and
1.8 s in one of 100,000 engineer documents. The local stack's FerretDB build answers ``_id`` lookups,
``_id`` ``$in`` lists and the equality of one plain top-level field from the index
(deploy/local/ferretdb), so documents of one kind share one collection, where the writes of a batch go
out as one command:

- ``engineers``: one document per engineer (``_id`` is the engineer id). It contains the registration
  facts and, under ``holdings.<qualification type>``, the engineer's holding of each type; ``listed``
  records where its entries were last written. Qualification and engineer events are applied here
  once each (``processed_events``). Offers, acceptances, the order pool and the at-risk check read
  holdings here. Earlier versions spread these documents over 1,024 collections ``engineers_NNNN``;
  ``merge_engineer_shards`` moves them here at start.
- ``eligibility_outlet_entries``: one small document per engineer whose qualification is in effect at
  an outlet, ``_id`` = ``entry_id(type, outlet id, engineer id)``. ``scope`` (``"<type>:<outlet id>"``,
  indexed) groups the entries of one outlet and type; ``valid_until`` is an ISO date and ``name`` the
  engineer's name once known. Engineers whose qualification is not in effect have no entry. A batch
  writes only the entries its events changed, with a few commands in all: the cost of a write no
  longer grows with the size of the outlet. Earlier versions kept one document per outlet and type with every
  entry in a ``holders`` map (``eligibility_outlets``, and before that one collection per outlet), which
  FerretDB decoded and rewrote whole for every change; ``split_outlet_documents`` turns those into
  entries at start.
- one collection per region, with one document per qualification type, ``_id`` = ``"<type>:<region
  id>"``. ``holders`` maps engineers (``holder_key``) to ``"<valid_until> <name>"`` (an ISO date, a
  space and the name, or the date alone before the name is known). A region has thousands of
  engineers, too many for one fast document, so ``holders`` keeps only the shortlist: the
  ``shortlist_size`` entries of the region with the latest ``valid_until`` (ties by engineer id). The listing returns at most that many engineers whose
  validity reaches a given day, and those are always the first ones of the shortlist, because the
  day only cuts the ranking. ``outlets`` lists the region's outlets, from which the shortlist is
  rebuilt when one of its entries leaves or drops in the ranking.

The outlet entries and region documents mirror the engineer documents: each sync reads the engineer's stored
holdings and sets (or removes) its entries, so running a sync again changes nothing, and a
redelivered event repairs a crash between the writes. They therefore carry no ``processed_events``,
which would otherwise grow with every event of every engineer of the area. A batch of events gathers the
entries of all its engineers in ``AreaChanges``, writes the outlet entries that changed in one command
and each region document once.
"""

import asyncio
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog
from pymongo import ASCENDING, DESCENDING, DeleteOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from bangke_runtime.batches import all_ended
from bangke_runtime.idempotency import PROCESSED_FIELD, apply_once, mark_processed
from bangke_runtime.lru import LruCache

from ..domain.eligibility import Holding, HoldingStatus

log = structlog.get_logger()

Area = Literal["outlet", "region"]

ENGINEERS_COLLECTION = "engineers"
ENGINEER_SHARD = re.compile(r"engineers_\d{4}")
"""The collections of engineer documents in earlier versions, one of 1,024 by a hash of the id."""
OUTLET_ENTRIES_COLLECTION = "eligibility_outlet_entries"
OUTLETS_COLLECTION = "eligibility_outlets"
"""The outlet documents of earlier versions, one per outlet and type with all entries in ``holders``."""
OUTLET_COLLECTION = re.compile(r"eligibility_outlet_[0-9a-f]{20}")
"""The per-outlet collections of earlier versions, named by a hash of the outlet id."""
ENTRY_FIELDS = {"engineer_id": 1, "valid_until": 1, "name": 1}
CAS_ATTEMPTS = 20
REGIONS_CACHED = 512
"""Region documents kept in memory, about 12 KB each with a full shortlist of 200. Without the copy,
every batch read each region document it then rewrote, and on FerretDB that read decodes the whole
shortlist."""
LOOKUP_CHUNK = 500
DUPLICATE_KEY = 11000


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:20]


def outlet_collection(outlet_id: str) -> str:
    """Return the per-outlet collection that earlier versions kept the outlet's documents in.

    The id is hashed, so any outlet id makes a valid collection name.
    """
    return f"eligibility_outlet_{_digest(outlet_id)}"


def region_collection(region_id: str) -> str:
    return f"eligibility_region_{_digest(region_id)}"


def scope_id(qualification_type: str, area_id: str) -> str:
    """Return the ``_id`` of the outlet or region document of ``qualification_type``."""
    return f"{qualification_type}:{area_id}"


def entry_id(qualification_type: str, outlet_id: str, engineer_id: str) -> str:
    """Return the ``_id`` of the engineer's entry at the outlet.

    "%" and ":" are escaped in both ids, so two different pairs never give the same ``_id``.
    """
    def part(value: str) -> str:
        return value.replace("%", "%25").replace(":", "%3A")

    return f"{qualification_type}:{part(outlet_id)}:{part(engineer_id)}"


def holder_key(engineer_id: str) -> str:
    """Return ``engineer_id`` as a field name: MongoDB field names may not contain "." or start with "$"."""
    return engineer_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def engineer_from_key(key: str) -> str:
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def entry_value(valid_until: date, name: str | None) -> str:
    return f"{valid_until.isoformat()} {name}" if name else valid_until.isoformat()


@dataclass(frozen=True, slots=True)
class Holder:
    engineer_id: str
    valid_until: str
    """ISO date: ISO dates compare as strings."""
    name: str | None

    @property
    def rank(self) -> tuple[int, str]:
        # Latest validity first, then engineer id: sorting by this key gives that order.
        return (-date.fromisoformat(self.valid_until).toordinal(), self.engineer_id)

    def as_listing(self) -> dict[str, Any]:
        return {"engineer_id": self.engineer_id, "engineer_name": self.name, "effective_until": self.valid_until}


def holders_of(document: dict[str, Any] | None) -> list[Holder]:
    """Return the entries of a region document (or an earlier version's outlet document), in no particular order."""
    holders = []
    for key, value in ((document or {}).get("holders") or {}).items():
        holders.append(Holder(engineer_from_key(key), value[:10], value[11:] or None))
    return holders


def holder_of_entry(entry: dict[str, Any]) -> Holder:
    return Holder(entry["engineer_id"], entry["valid_until"], entry.get("name"))


def shortlist(holders: list[Holder], size: int) -> dict[str, str]:
    """Return the ``holders`` field of a region document: the ``size`` best-ranked entries."""
    best = sorted(holders, key=lambda holder: holder.rank)[:size]
    return {holder_key(h.engineer_id): entry_value(date.fromisoformat(h.valid_until), h.name) for h in best}


def with_saved_holding(document: dict[str, Any] | None, holding: Holding, event_id: Any) -> dict[str, Any]:
    """Return the engineer's document as ``save`` left it after applying ``event_id``.

    ``document`` is the document as it was stored before, or None when there was none.
    """
    saved = dict(document or {"_id": holding.engineer_id})
    saved["holdings"] = {**(saved.get("holdings") or {}), holding.qualification_type: holding_fields(holding)}
    saved[PROCESSED_FIELD] = [*(saved.get(PROCESSED_FIELD) or []), str(event_id)]
    return saved


def holding_fields(holding: Holding) -> dict[str, Any]:
    return {
        "qualification_id": holding.qualification_id,
        "qualification_type": holding.qualification_type,
        "outlet_id": holding.outlet_id,
        "region_id": holding.region_id,
        "status": holding.status.value,
        "valid_until": holding.valid_until.isoformat() if holding.valid_until else None,
        "ended_at": holding.ended_at,
        "end_reason": holding.end_reason,
    }


def holding_from_fields(engineer_id: str, fields: dict[str, Any]) -> Holding:
    valid_until = fields.get("valid_until")
    return Holding(
        engineer_id=engineer_id,
        qualification_id=fields["qualification_id"],
        qualification_type=fields["qualification_type"],
        outlet_id=fields["outlet_id"],
        region_id=fields["region_id"],
        status=HoldingStatus(fields["status"]),
        valid_until=date.fromisoformat(valid_until) if valid_until else None,
        ended_at=fields.get("ended_at"),
        end_reason=fields.get("end_reason"),
    )


def holding_in(document: dict[str, Any] | None, qualification_type: str) -> Holding | None:
    fields = ((document or {}).get("holdings") or {}).get(qualification_type)
    return holding_from_fields(document["_id"], fields) if document and fields else None


@dataclass
class _AreaEntries:
    """The entries to set (a value) or remove (None) in one outlet or region document, by holder key."""

    entries: dict[str, str | None] = field(default_factory=dict)
    outlets: set[str] = field(default_factory=set)
    """For a region document: the outlets the entries came from."""


@dataclass
class AreaChanges:
    """Outlet and region entries gathered from engineer documents, to be written together.

    Each engineer's entries replace what was gathered for that engineer before, so gathering the
    latest document of every engineer of a batch gives the entries that match what is stored.
    """

    outlets: dict[tuple[str, str], _AreaEntries] = field(default_factory=dict)
    """By (qualification type, outlet id)."""
    regions: dict[tuple[str, str], _AreaEntries] = field(default_factory=dict)
    """By (qualification type, region id)."""
    listed: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """By engineer id: the ``listed`` scopes to store once the entries are written."""
    _scopes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """By (engineer id, qualification type): the outlet and region of the entries gathered last."""
    absent: set[str] = field(default_factory=set)
    """``_id`` of the outlet entries to set that were not stored before, as far as the documents tell."""
    listed_before: dict[str, set[str]] = field(default_factory=dict)
    """By engineer id: the qualification types whose ``listed`` names an outlet and region already."""

    def gather(
        self, document: dict[str, Any], qualification_types: list[str] | None = None, before: dict[str, Any] | None = None
    ) -> None:
        """Add the entries of the engineer ``document`` for ``qualification_types`` (None: every type held).

        ``before`` is the engineer's document as stored before the changes, when known. An entry its
        holding did not have is then written as new, which saves looking for it first.
        """
        engineer_id = document["_id"]
        name = document.get("name")
        listed = document.get("listed") or {}
        types = sorted(document.get("holdings") or {}) if qualification_types is None else qualification_types
        for qualification_type in types:
            holding = holding_in(document, qualification_type)
            if holding is None:
                continue
            scopes = [holding.outlet_id, holding.region_id]
            stored = listed.get(qualification_type)
            gathered = self._scopes.get((engineer_id, qualification_type))
            for previous in (stored, gathered):
                if previous and previous != scopes:
                    # The holding moved to another outlet: its entries there go first.
                    self._entry(engineer_id, qualification_type, previous[0], previous[1], None)
            value = entry_value(holding.valid_until, name) if holding.in_effect and holding.valid_until else None
            self._entry(engineer_id, qualification_type, holding.outlet_id, holding.region_id, value)
            if before is not None and value is not None and not _had_entry(before, qualification_type, holding.outlet_id):
                self.absent.add(entry_id(qualification_type, holding.outlet_id, engineer_id))
            self._scopes[(engineer_id, qualification_type)] = scopes
            pending = self.listed.setdefault(engineer_id, {})
            if stored or gathered:
                self.listed_before.setdefault(engineer_id, set()).add(qualification_type)
            if stored != scopes:
                pending[qualification_type] = scopes
            else:
                pending.pop(qualification_type, None)

    def _entry(self, engineer_id: str, qualification_type: str, outlet_id: str, region_id: str, value: str | None) -> None:
        key = holder_key(engineer_id)
        outlet = self.outlets.setdefault((qualification_type, outlet_id), _AreaEntries())
        outlet.entries[key] = value
        region = self.regions.setdefault((qualification_type, region_id), _AreaEntries())
        region.entries[key] = value
        region.outlets.add(outlet_id)


class RegionChangedConcurrently(Exception):
    """A region document kept changing under every attempt to update it."""


class EligibilityStore:
    """The eligibility projection's documents.

    Every write of an engineer document runs under ``areas_lock``. Where this process is the only
    writer (``single_writer``), the store keeps the engineer documents last read or written under that
    lock (at most ``cache_size``), so a batch reads each engineer from memory. A write first drops the
    engineer from the cache, so a failed or unknown write leaves nothing stale. Reads outside the lock
    may use the cache but never fill it: their document may be older than a write made meanwhile.
    """

    def __init__(
        self, db: AsyncDatabase, shortlist_size: int = 200, cache_size: int = 0, single_writer: Callable[[], bool] = lambda: False
    ) -> None:
        self._db = db
        self.shortlist_size = shortlist_size
        self.areas_lock = asyncio.Lock()
        """Held by every write of an engineer document, and from reading engineer documents to writing
        the entries taken from them, so that an older read never overwrites a newer entry. Events of
        one engineer arrive on two topics, which are handled concurrently."""
        self._cache: LruCache[dict[str, Any]] = LruCache(cache_size)
        self._single_writer = single_writer
        self._regions: LruCache[dict[str, Any]] = LruCache(REGIONS_CACHED)
        """Region documents as this process last read or wrote them, used where it is the only writer."""

    @property
    def _engineers(self) -> Any:
        return self._db[ENGINEERS_COLLECTION]

    async def merge_engineer_shards(self) -> int:
        """Move the engineer documents of earlier versions' ``engineers_NNNN`` collections into ``engineers``.

        Run at start, before any event is applied. Returns the number of documents moved.
        """
        moved = await self._merge_collections(ENGINEER_SHARD, ENGINEERS_COLLECTION)
        if moved:
            log.info("eligibility.engineer_shards_merged", documents=moved)
        return moved

    async def merge_outlet_collections(self) -> int:
        """Move the outlet documents of earlier versions' per-outlet collections into ``eligibility_outlets``.

        Run at start, before any event is applied. Returns the number of documents moved.
        """
        moved = await self._merge_collections(OUTLET_COLLECTION, OUTLETS_COLLECTION)
        if moved:
            log.info("eligibility.outlet_collections_merged", documents=moved)
        return moved

    async def create_indexes(self) -> None:
        """Index the outlet entries by scope, in the order the outlet listing returns them."""
        await self._db[OUTLET_ENTRIES_COLLECTION].create_index(
            [("scope", ASCENDING), ("valid_until", DESCENDING), ("engineer_id", ASCENDING)]
        )

    async def split_outlet_documents(self) -> int:
        """Turn the outlet documents of earlier versions (``eligibility_outlets``) into outlet entries.

        Run at start, after ``merge_outlet_collections`` and before any event is applied. Each document's
        entries are upserted before the document is deleted, so a crash in between only repeats the
        upserts. Returns the number of documents split.
        """
        old = self._db[OUTLETS_COLLECTION]
        split = 0
        async for document in old.find({}):
            qualification_type, outlet_id = document.get("qualification_type"), document.get("outlet_id")
            if qualification_type is None or outlet_id is None:
                # Documents contain both fields since their first entry. Older ones get them from the _id.
                qualification_type, _, outlet_id = str(document["_id"]).partition(":")
            writes = [
                UpdateOne(
                    {"_id": entry_id(qualification_type, outlet_id, holder.engineer_id)},
                    {"$set": _entry_fields(qualification_type, outlet_id, holder)},
                    upsert=True,
                )
                for holder in holders_of(document)
            ]
            if writes:
                await self._db[OUTLET_ENTRIES_COLLECTION].bulk_write(writes, ordered=False)
            await old.delete_one({"_id": document["_id"]})
            split += 1
        if split:
            await self._db.drop_collection(OUTLETS_COLLECTION)
            log.info("eligibility.outlet_documents_split", documents=split)
        return split

    async def _merge_collections(self, old: re.Pattern[str], target: str) -> int:
        """Copy every document of the collections named like ``old`` into ``target``, then drop them.

        Each document is written whole under its ``_id`` and its old collection is dropped after, so a
        crash in between only repeats the copy. Returns the number of documents moved.
        """
        moved = 0
        for name in sorted(await self._db.list_collection_names()):
            if not old.fullmatch(name):
                continue
            documents = [document async for document in self._db[name].find({})]
            if documents:
                replacements = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in documents]
                await self._db[target].bulk_write(replacements, ordered=False)
            await self._db.drop_collection(name)
            moved += len(documents)
        return moved

    async def engineer(self, engineer_id: str, *, keep: bool = False) -> dict[str, Any] | None:
        """Return the engineer's document; treat it as read-only.

        ``keep`` caches a document read from the database, with its processed event ids, so that
        ``save`` can tell a redelivered event from memory; only a caller holding ``areas_lock`` may
        pass it. Other reads leave the processed event ids out.
        """
        caching = self._single_writer()
        if caching and (cached := self._cache.get(engineer_id)) is not None:
            return cached
        keeping = caching and keep
        document = await self._engineers.find_one({"_id": engineer_id}, None if keeping else {PROCESSED_FIELD: 0})
        if document is not None and keeping:
            self._cache.put(engineer_id, document)
        return document

    async def load_engineers(self, engineer_ids: list[str]) -> None:
        """Read the engineers that are not cached yet into the cache, with one query per 500 of them.

        This only saves round trips, because ``engineer(keep=True)`` would otherwise read each one. The
        caller must hold ``areas_lock``.
        """
        if not self._single_writer():
            return
        missing = [engineer_id for engineer_id in engineer_ids if self._cache.get(engineer_id) is None]
        for start in range(0, len(missing), LOOKUP_CHUNK):
            async for document in self._engineers.find({"_id": {"$in": missing[start : start + LOOKUP_CHUNK]}}):
                self._cache.put(document["_id"], document)

    def remember(self, document: dict[str, Any]) -> None:
        """Cache the engineer's document as a write under ``areas_lock`` has just stored it."""
        if self._single_writer():
            self._cache.put(document["_id"], document)

    async def holding(self, qualification_type: str, engineer_id: str) -> Holding | None:
        """Return the engineer's holding of ``qualification_type``, wherever it is held."""
        return holding_in(await self.engineer(engineer_id), qualification_type)

    async def holding_in_area(self, area: Area, qualification_type: str, area_id: str, engineer_id: str) -> Holding | None:
        """Return the engineer's holding of ``qualification_type`` if it is held in that outlet or region."""
        holding = await self.holding(qualification_type, engineer_id)
        if holding is None or (holding.outlet_id if area == "outlet" else holding.region_id) != area_id:
            return None
        return holding

    async def save(self, holding: Holding, event_id: Any) -> bool:
        """Store ``holding`` on the engineer's document once per event, and return False when it already had the event.

        The caller must hold ``areas_lock``.
        """
        update = {"$set": {f"holdings.{holding.qualification_type}": holding_fields(holding)}}
        engineer_id = holding.engineer_id
        # Where this process is the only writer, the cached document is the stored one. Its processed
        # event ids then decide, and the update can join the saves waiting for the collection.
        cached = self._cache.get(engineer_id) if self._single_writer() else None
        if cached is not None and str(event_id) in (cached.get(PROCESSED_FIELD) or ()):
            return False
        self._cache.forget(engineer_id)
        if cached is not None and await self._engineers.update_by_id(engineer_id, mark_processed(update, event_id), stored=cached):
            return True
        return await apply_once(self._engineers, {"_id": engineer_id}, event_id, update, upsert=True)

    async def record_engineer(self, event_id: Any, engineer_id: str, fields: dict[str, Any]) -> bool:
        """Store registration facts once per event. The caller must hold ``areas_lock``."""
        self._cache.forget(engineer_id)
        return await apply_once(self._engineers, {"_id": engineer_id}, event_id, {"$set": fields}, upsert=True)

    async def sync(self, engineer_id: str, qualification_types: list[str] | None = None) -> None:
        """Make the outlet and region entries of the engineer match the stored holdings.

        ``qualification_types`` limits the sync to those types; None syncs every type held. Safe to
        run any number of times. The caller must hold ``areas_lock``.
        """
        document = await self.engineer(engineer_id, keep=True)
        if document is None:
            return
        changes = AreaChanges()
        changes.gather(document, qualification_types)
        await self.write_areas(changes)

    async def write_areas(self, changes: AreaChanges) -> None:
        """Write gathered entries: the outlet entries and the region documents, then the ``listed`` that moved.

        The caller must hold ``areas_lock``. The outlet entries, the region documents and the first
        ``listed`` of a type go out side by side. A region whose shortlist must be rebuilt from its
        outlets waits for the outlet entries first. A ``listed`` that names an earlier outlet or region
        goes last: until it is stored, a retry still removes the entries the engineer had there. A
        first ``listed`` names no earlier place, so storing it early loses nothing, and a retry after a
        crash writes the entries from the holdings anyway.
        """
        first: dict[str, dict[str, Any]] = {}
        moved: dict[str, dict[str, Any]] = {}
        for engineer_id, scopes in changes.listed.items():
            for qualification_type, value in scopes.items():
                target = moved if qualification_type in changes.listed_before.get(engineer_id, ()) else first
                target.setdefault(engineer_id, {})[qualification_type] = value
        outlets = asyncio.ensure_future(self._write_outlet_entries(changes))
        # Side by side: each region document is in a collection of its own, and the updates of
        # ``listed`` go out together as one command where this is the only writer.
        await all_ended(
            outlets,
            *(self._update_region(qualification_type, region_id, region, outlets)
              for (qualification_type, region_id), region in changes.regions.items()),
            *(self._write_listed(engineer_id, scopes) for engineer_id, scopes in first.items()),
        )
        await all_ended(*(self._write_listed(engineer_id, scopes) for engineer_id, scopes in moved.items()))

    async def _write_listed(self, engineer_id: str, scopes: dict[str, Any]) -> None:
        cached = self._cache.get(engineer_id)
        self._cache.forget(engineer_id)
        update = {"$set": {f"listed.{qualification_type}": value for qualification_type, value in scopes.items()}}
        await self._engineers.update_by_id(engineer_id, update, stored=cached)
        if cached is not None:
            self.remember({**cached, "listed": {**(cached.get("listed") or {}), **scopes}})

    async def _write_outlet_entries(self, changes: AreaChanges) -> None:
        """Set and remove the gathered outlet entries, with a few commands for the whole batch."""
        to_set: dict[str, dict[str, Any]] = {}
        removed: list[str] = []
        for (qualification_type, outlet_id), outlet in changes.outlets.items():
            for key, value in outlet.entries.items():
                engineer_id = engineer_from_key(key)
                if value is None:
                    removed.append(entry_id(qualification_type, outlet_id, engineer_id))
                else:
                    holder = Holder(engineer_id, value[:10], value[11:] or None)
                    to_set[entry_id(qualification_type, outlet_id, engineer_id)] = _entry_fields(qualification_type, outlet_id, holder)
        entries = self._db[OUTLET_ENTRIES_COLLECTION]
        if self._single_writer():
            # FerretDB writes each upsert in a transaction of its own, but the updates by _id of one
            # command in one transaction. So: update what exists, then insert the rest in one command.
            # Nothing else writes meanwhile, so an entry that matched nothing still does not exist.
            updated = [(_id, fields) for _id, fields in to_set.items() if _id not in changes.absent]
            exists = await asyncio.gather(*(entries.update_by_id(_id, {"$set": fields}) for _id, fields in updated))
            created = [{"_id": _id, **fields} for (_id, fields), found in zip(updated, exists) if not found]
            created += [{"_id": _id, **fields} for _id, fields in to_set.items() if _id in changes.absent]
            if created:
                await self._insert_entries(created)
            if removed:
                await entries.delete_many({"_id": {"$in": removed}})
            return
        writes: list[UpdateOne | DeleteOne] = [
            UpdateOne({"_id": _id}, {"$set": fields}, upsert=True) for _id, fields in to_set.items()
        ]
        writes += [DeleteOne({"_id": _id}) for _id in removed]
        if writes:
            # Unordered: pymongo sends all the upserts as one command and all the deletes as another.
            await entries.bulk_write(writes, ordered=False)

    async def _insert_entries(self, created: list[dict[str, Any]]) -> None:
        """Insert outlet entries; set the fields of those that turn out to be stored already.

        An entry believed new can exist when a batch is applied again after a crash between its writes.
        """
        entries = self._db[OUTLET_ENTRIES_COLLECTION]
        try:
            await entries.insert_many(created, ordered=False)
        except BulkWriteError as error:
            if any(problem.get("code") != DUPLICATE_KEY for problem in error.details.get("writeErrors", [])):
                raise
            # Setting the fields again changes nothing on the entries this insert stored.
            await asyncio.gather(
                *(entries.update_by_id(entry["_id"], {"$set": {k: v for k, v in entry.items() if k != "_id"}}) for entry in created)
            )

    async def _update_region(
        self, qualification_type: str, region_id: str, region: _AreaEntries, outlets_written: Awaitable[None] | None = None
    ) -> None:
        """Put the entries into the region's shortlist, or take them out and refill the shortlist.

        A refill reads the outlet entries, so it first waits for ``outlets_written``.

        A compare-and-set on ``version``: a concurrent change of the same region makes the write match
        nothing, and the whole step runs again on what is now stored.
        """
        regions = self._db[region_collection(region_id)]
        document_id = scope_id(qualification_type, region_id)
        for attempt in range(CAS_ATTEMPTS):
            # The copy decides alone (skipping writes too) only where no other process writes.
            document = self._regions.get(document_id) if attempt == 0 and self._single_writer() else None
            cached = document is not None
            if document is None:
                document = await regions.find_one({"_id": document_id})
                if document is not None:
                    self._keep_region(document_id, document)
            current = (document or {}).get("holders") or {}
            stored_outlets = list((document or {}).get("outlets") or [])
            outlets = stored_outlets + sorted(region.outlets - set(stored_outlets))
            unchanged = all(current.get(key) == value for key, value in region.entries.items())
            if unchanged and document is not None and outlets == stored_outlets:
                return
            dropped = any(
                current.get(key) is not None and (value is None or value[:10] < current[key][:10])
                for key, value in region.entries.items()
            )
            if dropped and len(current) >= self.shortlist_size:
                # Someone outside the full shortlist may now rank higher: rebuild it from the outlets.
                if outlets_written is not None:
                    await outlets_written
                holders = await self._outlet_holders(qualification_type, outlets)
            else:
                holders = [holder for holder in holders_of(document) if holder_key(holder.engineer_id) not in region.entries]
                for key, value in region.entries.items():
                    if value is not None:
                        holders.append(Holder(engineer_from_key(key), value[:10], value[11:] or None))
            fields = {"holders": shortlist(holders, self.shortlist_size), "outlets": outlets}
            if document is not None and fields["holders"] == current and outlets == stored_outlets:
                # The entries rank below a full shortlist: the region document stays as it is.
                return
            # Dropped first, so a write that fails or whose outcome is unknown leaves no copy behind.
            self._regions.forget(document_id)
            if document is None:
                created = {
                    "_id": document_id, "qualification_type": qualification_type, "region_id": region_id, "version": 1, **fields
                }
                try:
                    await regions.insert_one(dict(created))
                except DuplicateKeyError:
                    continue
                self._keep_region(document_id, created)
                return
            version = document.get("version", 0)
            update = {"$set": fields, "$inc": {"version": 1}}
            if cached:
                # The copy is the stored document, so the write can be the whole new document.
                if await regions.update_by_id(document_id, update, stored=document):
                    self._keep_region(document_id, {**document, **fields, "version": version + 1})
                    return
                continue
            result = await regions.update_one({"_id": document_id, "version": version}, update)
            if result.modified_count == 1:
                self._keep_region(document_id, {**document, **fields, "version": version + 1})
                return
        raise RegionChangedConcurrently(document_id)

    def _keep_region(self, document_id: str, document: dict[str, Any]) -> None:
        """Keep the region document as it is stored now, where this process is the only writer."""
        if self._single_writer():
            self._regions.put(document_id, document)

    async def _outlet_holders(self, qualification_type: str, outlet_ids: list[str]) -> list[Holder]:
        # One equality query per outlet: FerretDB finds those entries through the index, but for an
        # $in of scopes it would decode every entry of the collection.
        entries = self._db[OUTLET_ENTRIES_COLLECTION]
        holders: list[Holder] = []
        for outlet_id in outlet_ids:
            async for entry in entries.find({"scope": scope_id(qualification_type, outlet_id)}, ENTRY_FIELDS):
                holders.append(holder_of_entry(entry))
        return holders

    async def eligible(self, area: Area, qualification_type: str, area_id: str, last_day: date, limit: int) -> list[dict[str, Any]]:
        """Return the engineers of the area whose qualification is in effect through ``last_day``.

        Longest validity first, at most ``limit`` (and, for a region, at most the shortlist size).
        For an outlet, one query of its entries by ``scope``; for a region, one lookup by ``_id``. The
        ranking and the cut by day are done in memory. This is the query the dispatch API runs and the
        benchmark measures.
        """
        threshold = last_day.isoformat()
        if area == "outlet":
            cursor = self._db[OUTLET_ENTRIES_COLLECTION].find({"scope": scope_id(qualification_type, area_id)}, ENTRY_FIELDS)
            holders = [holder_of_entry(entry) async for entry in cursor]
        else:
            document = await self._db[region_collection(area_id)].find_one(
                {"_id": scope_id(qualification_type, area_id)}, {"holders": 1}
            )
            holders = holders_of(document)
        found = sorted((h for h in holders if h.valid_until >= threshold), key=lambda holder: holder.rank)
        return [holder.as_listing() for holder in found[:limit]]


def _had_entry(document: dict[str, Any], qualification_type: str, outlet_id: str) -> bool:
    """Return whether the engineer ``document`` had an entry of ``qualification_type`` at the outlet."""
    holding = holding_in(document, qualification_type)
    return holding is not None and holding.in_effect and holding.valid_until is not None and holding.outlet_id == outlet_id


def _entry_fields(qualification_type: str, outlet_id: str, holder: Holder) -> dict[str, Any]:
    """Return the fields of the entry of ``holder`` at the outlet, all but ``_id``.

    Only what the listing needs: FerretDB decodes every field of every entry it lists. With the type,
    outlet and region ids stored as well, listing an outlet of about 175 entries took p50 14.1 ms
    instead of 11.1 ms (services/order-svc/benchmarks/eligibility.py).
    """
    return {
        "scope": scope_id(qualification_type, outlet_id), "engineer_id": holder.engineer_id,
        "valid_until": holder.valid_until, "name": holder.name,
    }
