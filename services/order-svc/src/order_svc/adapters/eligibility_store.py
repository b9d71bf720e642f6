"""The eligibility projection in MongoDB, laid out so that every read is one lookup by ``_id`` in a small collection.

FerretDB v1 on SQLite evaluates even an ``_id`` lookup by scanning its collection in SQLite (``explain``
shows ``SCAN``), so a lookup costs in proportion to the bytes of the whole collection: measured with
100,000 engineers, about 120 ms in one collection of 5,000 outlet documents and 1.8 s in one of
100,000 engineer documents. Each collection is therefore kept small, and each read is one document:

- ``engineers_NNNN``: one document per engineer (``_id`` is the engineer id), in one of
  ``ENGINEER_SHARDS`` collections chosen by a hash of the id. It holds the registration facts and,
  under ``holdings.<qualification type>``, the engineer's holding of each type; ``listed`` records
  where its entries were last written. Qualification and engineer events are applied here with
  ``apply_once``. Offers, acceptances, the order pool and the at-risk check read holdings here.
- one collection per outlet, with one document per qualification type, ``_id`` = ``"<type>:<outlet
  id>"``. ``holders`` maps each engineer of the outlet whose qualification is in effect to an entry
  ``"<valid_until> <name>"`` (an ISO date, a space and the name, or the date alone before the name is
  known). Engineers whose qualification is not in effect have no entry.
- one collection per region, with one document per qualification type, ``_id`` = ``"<type>:<region
  id>"``. A region has thousands of engineers, too many for one fast document, so ``holders`` keeps
  only the shortlist: the ``shortlist_size`` entries of the region with the latest ``valid_until``
  (ties by engineer id), in the same format. The listing returns at most that many engineers whose
  validity reaches a given day, and those are always the first ones of the shortlist, because the
  day only cuts the ranking. ``outlets`` lists the region's outlets, from which the shortlist is
  rebuilt when one of its entries leaves or drops in the ranking.

The outlet and region documents mirror the engineer documents: each sync reads the engineer's stored
holdings and sets (or removes) its entries, so running a sync again changes nothing, and a
redelivered event repairs a crash between the writes. They therefore carry no ``processed_events``,
which would otherwise grow with every event of every engineer of the area. On MongoDB the layout
costs nothing extra: every read is still one ``_id`` lookup.
"""

import asyncio
import hashlib
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from bangke_runtime.idempotency import apply_once

from ..domain.eligibility import Holding, HoldingStatus

Area = Literal["outlet", "region"]

ENGINEER_SHARDS = 1024
LOCK_STRIPES = 64
CAS_ATTEMPTS = 20


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:20]


def engineers_collection(engineer_id: str) -> str:
    """Return the collection of the engineer's document: one of ``ENGINEER_SHARDS``, by a hash of the id."""
    return f"engineers_{zlib.crc32(engineer_id.encode()) % ENGINEER_SHARDS:04d}"


def outlet_collection(outlet_id: str) -> str:
    """Return the collection of the outlet's documents, one per qualification type.

    The id is hashed, so any outlet id makes a valid collection name.
    """
    return f"eligibility_outlet_{_digest(outlet_id)}"


def region_collection(region_id: str) -> str:
    return f"eligibility_region_{_digest(region_id)}"


def scope_id(qualification_type: str, area_id: str) -> str:
    """Return the ``_id`` of the outlet or region document of ``qualification_type``."""
    return f"{qualification_type}:{area_id}"


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
    """Return the entries of an outlet or region document, in no particular order."""
    holders = []
    for key, value in ((document or {}).get("holders") or {}).items():
        holders.append(Holder(engineer_from_key(key), value[:10], value[11:] or None))
    return holders


def shortlist(holders: list[Holder], size: int) -> dict[str, str]:
    """Return the ``holders`` field of a region document: the ``size`` best-ranked entries."""
    best = sorted(holders, key=lambda holder: holder.rank)[:size]
    return {holder_key(h.engineer_id): entry_value(date.fromisoformat(h.valid_until), h.name) for h in best}


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


def _holding_in(document: dict[str, Any] | None, qualification_type: str) -> Holding | None:
    fields = ((document or {}).get("holdings") or {}).get(qualification_type)
    return holding_from_fields(document["_id"], fields) if document and fields else None


class RegionChangedConcurrently(Exception):
    """A region document kept changing under every attempt to update it."""


class EligibilityStore:
    def __init__(self, db: AsyncDatabase, shortlist_size: int = 200) -> None:
        self._db = db
        self.shortlist_size = shortlist_size
        # One engineer's syncs run one at a time, so an older read never overwrites a newer entry.
        # Striped by engineer id: events of one engineer arrive on two topics, handled concurrently.
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]

    def _lock(self, engineer_id: str) -> asyncio.Lock:
        return self._locks[zlib.crc32(engineer_id.encode()) % LOCK_STRIPES]

    async def _engineer(self, engineer_id: str) -> dict[str, Any] | None:
        return await self._db[engineers_collection(engineer_id)].find_one({"_id": engineer_id}, {"processed_events": 0})

    async def holding(self, qualification_type: str, engineer_id: str) -> Holding | None:
        """Return the engineer's holding of ``qualification_type``, wherever it is held."""
        return _holding_in(await self._engineer(engineer_id), qualification_type)

    async def holding_in_area(self, area: Area, qualification_type: str, area_id: str, engineer_id: str) -> Holding | None:
        """Return the engineer's holding of ``qualification_type`` if it is held in that outlet or region."""
        holding = await self.holding(qualification_type, engineer_id)
        if holding is None or (holding.outlet_id if area == "outlet" else holding.region_id) != area_id:
            return None
        return holding

    async def save(self, holding: Holding, event_id: Any) -> bool:
        """Store ``holding`` on the engineer's document once per event, and return False when it already had the event."""
        update = {"$set": {f"holdings.{holding.qualification_type}": holding_fields(holding)}}
        collection = self._db[engineers_collection(holding.engineer_id)]
        return await apply_once(collection, {"_id": holding.engineer_id}, event_id, update, upsert=True)

    async def record_engineer(self, event_id: Any, engineer_id: str, fields: dict[str, Any]) -> bool:
        collection = self._db[engineers_collection(engineer_id)]
        return await apply_once(collection, {"_id": engineer_id}, event_id, {"$set": fields}, upsert=True)

    async def sync(self, engineer_id: str, qualification_types: list[str] | None = None) -> None:
        """Make the outlet and region entries of the engineer match the stored holdings.

        ``qualification_types`` limits the sync to those types; None syncs every type held. Safe to
        run any number of times.
        """
        async with self._lock(engineer_id):
            document = await self._engineer(engineer_id)
            if document is None:
                return
            name = document.get("name")
            listed = document.get("listed") or {}
            types = sorted(document.get("holdings") or {}) if qualification_types is None else qualification_types
            for qualification_type in types:
                holding = _holding_in(document, qualification_type)
                if holding is None:
                    continue
                scopes = [holding.outlet_id, holding.region_id]
                previous = listed.get(qualification_type)
                if previous and previous != scopes:
                    # The holding moved to another outlet: its entries there go first.
                    await self._set_entry(engineer_id, qualification_type, previous[0], previous[1], None)
                value = entry_value(holding.valid_until, name) if holding.in_effect and holding.valid_until else None
                await self._set_entry(engineer_id, qualification_type, holding.outlet_id, holding.region_id, value)
                if previous != scopes:
                    await self._db[engineers_collection(engineer_id)].update_one(
                        {"_id": engineer_id}, {"$set": {f"listed.{qualification_type}": scopes}}
                    )

    async def _set_entry(self, engineer_id: str, qualification_type: str, outlet_id: str, region_id: str, value: str | None) -> None:
        """Write the engineer's entry (None removes it) to the outlet document, then to the region's."""
        key = f"holders.{holder_key(engineer_id)}"
        outlets = self._db[outlet_collection(outlet_id)]
        if value is None:
            await outlets.update_one({"_id": scope_id(qualification_type, outlet_id)}, {"$unset": {key: ""}})
        else:
            await outlets.update_one(
                {"_id": scope_id(qualification_type, outlet_id)},
                {"$set": {key: value, "qualification_type": qualification_type, "outlet_id": outlet_id, "region_id": region_id}},
                upsert=True,
            )
        await self._update_region(engineer_id, qualification_type, outlet_id, region_id, value)

    async def _update_region(self, engineer_id: str, qualification_type: str, outlet_id: str, region_id: str, value: str | None) -> None:
        """Put the engineer's entry into the region's shortlist, or take it out and refill the shortlist.

        A compare-and-set on ``version``: a concurrent change of the same region makes the write match
        nothing, and the whole step runs again on what is now stored.
        """
        regions = self._db[region_collection(region_id)]
        document_id = scope_id(qualification_type, region_id)
        key = holder_key(engineer_id)
        for _ in range(CAS_ATTEMPTS):
            document = await regions.find_one({"_id": document_id})
            current = (document or {}).get("holders") or {}
            outlets = list((document or {}).get("outlets") or [])
            if outlet_id not in outlets:
                outlets.append(outlet_id)
            old = current.get(key)
            if old == value and document is not None and outlet_id in (document.get("outlets") or []):
                return
            dropped = old is not None and (value is None or value[:10] < old[:10])
            if dropped and len(current) >= self.shortlist_size:
                # Someone outside the full shortlist may now rank higher: rebuild it from the outlets.
                holders = await self._outlet_holders(qualification_type, outlets)
            else:
                holders = [holder for holder in holders_of(document) if holder.engineer_id != engineer_id]
                if value is not None:
                    holders.append(Holder(engineer_id, value[:10], value[11:] or None))
            fields = {"holders": shortlist(holders, self.shortlist_size), "outlets": outlets}
            if document is None:
                try:
                    await regions.insert_one(
                        {"_id": document_id, "qualification_type": qualification_type, "region_id": region_id, "version": 1, **fields}
                    )
                    return
                except DuplicateKeyError:
                    continue
            result = await regions.update_one(
                {"_id": document_id, "version": document.get("version", 0)}, {"$set": fields, "$inc": {"version": 1}}
            )
            if result.modified_count == 1:
                return
        raise RegionChangedConcurrently(document_id)

    async def _outlet_holders(self, qualification_type: str, outlet_ids: list[str]) -> list[Holder]:
        holders: list[Holder] = []
        for outlet_id in outlet_ids:
            collection = self._db[outlet_collection(outlet_id)]
            holders += holders_of(await collection.find_one({"_id": scope_id(qualification_type, outlet_id)}))
        return holders

    async def eligible(self, area: Area, qualification_type: str, area_id: str, last_day: date, limit: int) -> list[dict[str, Any]]:
        """Return the engineers of the area whose qualification is in effect through ``last_day``.

        Longest validity first, at most ``limit`` (and, for a region, at most the shortlist size).
        One lookup by ``_id``, then a filter in memory. This is the query the dispatch API runs and the
        benchmark measures.
        """
        collection = self._db[outlet_collection(area_id) if area == "outlet" else region_collection(area_id)]
        document = await collection.find_one({"_id": scope_id(qualification_type, area_id)}, {"holders": 1})
        threshold = last_day.isoformat()
        found = sorted((h for h in holders_of(document) if h.valid_until >= threshold), key=lambda holder: holder.rank)
        return [holder.as_listing() for holder in found[:limit]]
