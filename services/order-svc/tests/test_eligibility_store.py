"""The eligibility store on the real server: outlet entries, region shortlists and redelivery.

The region shortlist is set to 3 entries, so entries leave and re-enter it. After every change the
listings must equal what a plain filter over all holdings returns.
"""

import asyncio
import random
from datetime import date, timedelta

import pytest

from order_svc.adapters.eligibility_store import (
    ENGINEERS_COLLECTION,
    OUTLET_ENTRIES_COLLECTION,
    OUTLETS_COLLECTION,
    AreaChanges,
    EligibilityStore,
    entry_id,
    holder_key,
    outlet_collection,
    region_collection,
    scope_id,
    with_saved_holding,
)
from order_svc.domain.eligibility import Holding, HoldingStatus

pytestmark = pytest.mark.integration

TYPE = "split_ac_installation"
REGION = "region-east"
OUTLETS_OF_REGION = ("outlet-a", "outlet-b", "outlet-c")
TODAY = date(2026, 12, 1)


@pytest.fixture
def db(serialised_db):
    return serialised_db


def holding(engineer_id: str, outlet_id: str, status: HoldingStatus, valid_until: date) -> Holding:
    return Holding(
        engineer_id=engineer_id, qualification_id=f"q-{engineer_id}", qualification_type=TYPE,
        outlet_id=outlet_id, region_id=REGION, status=status, valid_until=valid_until,
    )


def expected(model: dict[str, Holding], area: str, area_id: str, last_day: date, limit: int) -> list[tuple[str, str]]:
    rows = [
        (h.engineer_id, h.valid_until.isoformat())
        for h in model.values()
        if h.in_effect and h.valid_until >= last_day and (h.outlet_id if area == "outlet" else h.region_id) == area_id
    ]
    return sorted(rows, key=lambda row: (-date.fromisoformat(row[1]).toordinal(), row[0]))[:limit]


async def listing(store: EligibilityStore, area: str, area_id: str, last_day: date, limit: int) -> list[tuple[str, str]]:
    return [(row["engineer_id"], row["effective_until"]) for row in await store.eligible(area, TYPE, area_id, last_day, limit)]


def cached_store(db) -> EligibilityStore:
    return EligibilityStore(db, shortlist_size=3, cache_size=5, single_writer=lambda: True)


async def test_listings_follow_every_change(db):
    store = cached_store(db)
    rng = random.Random(5)
    model: dict[str, Holding] = {}
    engineers = [f"eng.{n}" for n in range(9)]  # a dot, which a field name may not contain
    for step in range(40):
        engineer_id = rng.choice(engineers)
        outlet_id = model[engineer_id].outlet_id if engineer_id in model and rng.random() < 0.8 else rng.choice(OUTLETS_OF_REGION)
        status = HoldingStatus.GRANTED if rng.random() < 0.75 else HoldingStatus.LAPSED
        changed = holding(engineer_id, outlet_id, status, TODAY + timedelta(days=rng.randint(0, 30)))
        model[engineer_id] = changed
        assert await store.save(changed, f"event-{step}")
        await store.sync(engineer_id, [TYPE])

        last_day = TODAY + timedelta(days=rng.randint(0, 20))
        assert await listing(store, "region", REGION, last_day, 10) == expected(model, "region", REGION, last_day, 3)
        for outlet in OUTLETS_OF_REGION:
            assert await listing(store, "outlet", outlet, last_day, 10) == expected(model, "outlet", outlet, last_day, 10)


async def test_batched_changes_match_listings(db):
    # Like a batch of events: several engineers change, some twice, and the entries are written once.
    store = cached_store(db)
    rng = random.Random(11)
    model: dict[str, Holding] = {}
    engineers = [f"eng.{n}" for n in range(12)]
    step = 0
    for batch in range(8):
        changes = AreaChanges()
        for _ in range(rng.randint(1, 8)):
            step += 1
            engineer_id = rng.choice(engineers)
            keep_outlet = engineer_id in model and rng.random() < 0.7
            outlet_id = model[engineer_id].outlet_id if keep_outlet else rng.choice(OUTLETS_OF_REGION)
            status = HoldingStatus.GRANTED if rng.random() < 0.7 else HoldingStatus.LAPSED
            model[engineer_id] = holding(engineer_id, outlet_id, status, TODAY + timedelta(days=rng.randint(0, 30)))
            assert await store.save(model[engineer_id], f"event-{step}")
            changes.gather(await store.engineer(engineer_id, keep=True), [TYPE])
        async with store.areas_lock:
            await store.write_areas(changes)

        last_day = TODAY + timedelta(days=rng.randint(0, 20))
        assert await listing(store, "region", REGION, last_day, 10) == expected(model, "region", REGION, last_day, 3), batch
        for outlet in OUTLETS_OF_REGION:
            assert await listing(store, "outlet", outlet, last_day, 10) == expected(model, "outlet", outlet, last_day, 10), batch


async def test_region_shared_by_two_writers(db):
    # Two stores stand for two processes writing one region. Neither may keep a copy of the region
    # document, or skip a write because of one: each would drop or miss the other's entries.
    stores = [EligibilityStore(db, shortlist_size=3), EligibilityStore(db, shortlist_size=3)]
    rng = random.Random(23)
    model: dict[str, Holding] = {}
    for step in range(24):
        store = stores[step % 2]
        engineer_id = f"eng.{rng.randrange(8)}"
        model[engineer_id] = holding(
            engineer_id, rng.choice(OUTLETS_OF_REGION), HoldingStatus.GRANTED, TODAY + timedelta(days=rng.randint(0, 30))
        )
        assert await store.save(model[engineer_id], f"event-{step}")
        await store.sync(engineer_id, [TYPE])

        assert await listing(store, "region", REGION, TODAY, 10) == expected(model, "region", REGION, TODAY, 3), step


async def test_redelivered_event_changes_nothing(db):
    store = EligibilityStore(db, shortlist_size=3)
    granted = holding("eng-1", "outlet-a", HoldingStatus.GRANTED, date(2027, 6, 30))
    assert await store.save(granted, "event-1")
    await store.sync("eng-1", [TYPE])
    outlet_before = await db[OUTLET_ENTRIES_COLLECTION].find({}).to_list()
    region_before = await db[region_collection(REGION)].find_one({"_id": scope_id(TYPE, REGION)})

    assert not await store.save(granted, "event-1")
    await store.sync("eng-1", [TYPE])

    assert await db[OUTLET_ENTRIES_COLLECTION].find({}).to_list() == outlet_before
    assert await db[region_collection(REGION)].find_one({"_id": scope_id(TYPE, REGION)}) == region_before
    assert [(entry["_id"], entry["scope"], entry["valid_until"], entry["name"]) for entry in outlet_before] == [
        (entry_id(TYPE, "outlet-a", "eng-1"), scope_id(TYPE, "outlet-a"), "2027-06-30", None)
    ]


async def test_registration_names_entries(db):
    store = EligibilityStore(db, shortlist_size=3)
    assert await store.save(holding("eng-1", "outlet-a", HoldingStatus.GRANTED, date(2027, 6, 30)), "event-1")
    await store.sync("eng-1", [TYPE])

    await store.record_engineer("event-2", "eng-1", {"name": "张伟", "outlet_id": "outlet-a", "region_id": REGION})
    await store.sync("eng-1")
    rows = await store.eligible("region", TYPE, REGION, date(2027, 1, 1), 10)
    assert rows == [{"engineer_id": "eng-1", "engineer_name": "张伟", "effective_until": "2027-06-30"}]
    assert await store.holding_in_area("outlet", TYPE, "outlet-b", "eng-1") is None
    assert (await store.holding_in_area("region", TYPE, REGION, "eng-1")).valid_until == date(2027, 6, 30)


async def test_cached_saves_apply_once(db):
    # Saves of cached engineers decide redelivery from memory and go out side by side.
    store = EligibilityStore(db, shortlist_size=3, cache_size=50, single_writer=lambda: True)
    engineer_ids = [f"eng-{n}" for n in range(20)]
    for engineer_id in engineer_ids:
        await store.record_engineer(f"registered-{engineer_id}", engineer_id, {"name": engineer_id})
    await store.load_engineers([*engineer_ids, "eng-unknown"])

    async def save(engineer_id: str, event_id: str, valid_until: date) -> bool:
        document = await store.engineer(engineer_id, keep=True)
        granted = holding(engineer_id, "outlet-a", HoldingStatus.GRANTED, valid_until)
        applied = await store.save(granted, event_id)
        if applied:
            store.remember(with_saved_holding(document, granted, event_id))
        return applied

    first = await asyncio.gather(*(save(e, f"grant-{e}", date(2027, 6, 30)) for e in engineer_ids))
    again = await asyncio.gather(*(save(e, f"grant-{e}", date(2028, 1, 1)) for e in engineer_ids))
    unknown = await save("eng-unknown", "grant-eng-unknown", date(2027, 6, 30))

    assert first == [True] * len(engineer_ids)
    assert again == [False] * len(engineer_ids)
    assert unknown is True
    async for document in db[ENGINEERS_COLLECTION].find({}):
        assert document["holdings"][TYPE]["valid_until"] == "2027-06-30", document["_id"]
        assert document["processed_events"].count(f"grant-{document['_id']}") == 1, document["_id"]
        if document["_id"] != "eng-unknown":
            assert document["name"] == document["_id"]


async def test_shards_merged_into_one_collection(db):
    await db["engineers_0007"].insert_many([{"_id": "eng-1", "name": "张伟"}, {"_id": "eng-2", "name": "李娜"}])
    await db["engineers_1023"].insert_one({"_id": "eng-3", "holdings": {TYPE: {"status": "granted"}}})
    await db["engineers_notes"].insert_one({"_id": "kept"})
    store = EligibilityStore(db, shortlist_size=3)

    moved = await store.merge_engineer_shards()
    moved_again = await store.merge_engineer_shards()

    assert (moved, moved_again) == (3, 0)
    names = await db.list_collection_names()
    assert "engineers_0007" not in names
    assert "engineers_1023" not in names
    assert "engineers_notes" in names
    assert (await store.engineer("eng-2"))["name"] == "李娜"
    assert (await store.engineer("eng-3"))["holdings"][TYPE]["status"] == "granted"



async def test_outlet_collections_merged(db):
    store = EligibilityStore(db, shortlist_size=3)
    await db[outlet_collection("outlet-a")].insert_one(
        {"_id": scope_id(TYPE, "outlet-a"), "holders": {holder_key("eng-1"): "2027-06-30 张伟"}}
    )
    await db[outlet_collection("outlet-b")].insert_one({"_id": scope_id(TYPE, "outlet-b"), "holders": {}})
    await db["eligibility_outlet_notes"].insert_one({"_id": "kept"})

    assert await store.merge_outlet_collections() == 2
    assert await store.merge_outlet_collections() == 0

    names = await db.list_collection_names()
    assert outlet_collection("outlet-a") not in names
    assert outlet_collection("outlet-b") not in names
    assert "eligibility_outlet_notes" in names
    assert await store.split_outlet_documents() == 2
    assert await listing(store, "outlet", "outlet-a", TODAY, 10) == [("eng-1", "2027-06-30")]

    # A later change lands in the merged document.
    granted = holding("eng-2", "outlet-a", HoldingStatus.GRANTED, date(2027, 9, 30))
    assert await store.save(granted, "event-1")
    await store.sync("eng-2", [TYPE])
    assert await listing(store, "outlet", "outlet-a", TODAY, 10) == [("eng-2", "2027-09-30"), ("eng-1", "2027-06-30")]


async def test_outlet_documents_split_into_entries(db):
    store = EligibilityStore(db, shortlist_size=3)
    await db[OUTLETS_COLLECTION].insert_many([
        {"_id": scope_id(TYPE, "outlet-a"), "qualification_type": TYPE, "outlet_id": "outlet-a", "region_id": REGION,
         "holders": {holder_key("eng-1"): "2027-06-30 张伟", holder_key("eng.2"): "2027-09-30"}},
        # A document from before the fields were stored: type and outlet come from the _id.
        {"_id": scope_id(TYPE, "outlet:b"), "holders": {holder_key("eng-3"): "2028-01-31 李娜"}},
    ])
    # An entry that a crash during an earlier split left behind is written again, not twice.
    await db[OUTLET_ENTRIES_COLLECTION].insert_one(
        {"_id": entry_id(TYPE, "outlet-a", "eng-1"), "scope": scope_id(TYPE, "outlet-a"), "engineer_id": "eng-1",
         "valid_until": "2027-06-30", "name": "张伟"}
    )

    assert await store.split_outlet_documents() == 2
    assert await store.split_outlet_documents() == 0

    assert OUTLETS_COLLECTION not in await db.list_collection_names()
    assert await db[OUTLET_ENTRIES_COLLECTION].count_documents({}) == 3
    rows = await store.eligible("outlet", TYPE, "outlet-a", TODAY, 10)
    assert rows == [
        {"engineer_id": "eng.2", "engineer_name": None, "effective_until": "2027-09-30"},
        {"engineer_id": "eng-1", "engineer_name": "张伟", "effective_until": "2027-06-30"},
    ]
    assert await listing(store, "outlet", "outlet:b", TODAY, 10) == [("eng-3", "2028-01-31")]
    entry = await db[OUTLET_ENTRIES_COLLECTION].find_one({"_id": entry_id(TYPE, "outlet-a", "eng.2")})
    assert entry == {
        "_id": entry_id(TYPE, "outlet-a", "eng.2"), "scope": scope_id(TYPE, "outlet-a"), "engineer_id": "eng.2",
        "valid_until": "2027-09-30", "name": None,
    }


def test_entry_ids_keep_outlet_and_engineer_apart():
    assert entry_id(TYPE, "a:b", "c") != entry_id(TYPE, "a", "b:c")
    assert entry_id(TYPE, "a%3Ab", "c") != entry_id(TYPE, "a:b", "c")


async def test_entry_written_whatever_was_believed(db):
    # The documents before the changes decide whether an entry is inserted or updated. A crash between
    # writes can make them wrong in both directions, and the entry must still end up as gathered.
    store = cached_store(db)
    first = holding("eng-1", "outlet-a", HoldingStatus.GRANTED, date(2027, 6, 30))
    assert await store.save(first, "event-1")
    await store.sync("eng-1", [TYPE])
    stored = await store.engineer("eng-1", keep=True)

    # Believed new, but stored already.
    later = with_saved_holding(stored, holding("eng-1", "outlet-a", HoldingStatus.GRANTED, date(2027, 9, 30)), "event-2")
    changes = AreaChanges()
    changes.gather(later, [TYPE], before={"_id": "eng-1"})
    assert changes.absent == {entry_id(TYPE, "outlet-a", "eng-1")}
    await store.write_areas(changes)
    assert await listing(store, "outlet", "outlet-a", TODAY, 10) == [("eng-1", "2027-09-30")]

    # Believed stored, but missing.
    await db[OUTLET_ENTRIES_COLLECTION].delete_many({})
    latest = with_saved_holding(later, holding("eng-1", "outlet-a", HoldingStatus.GRANTED, date(2027, 12, 31)), "event-3")
    changes = AreaChanges()
    changes.gather(latest, [TYPE], before=later)
    assert changes.absent == set()
    await store.write_areas(changes)
    assert await listing(store, "outlet", "outlet-a", TODAY, 10) == [("eng-1", "2027-12-31")]
