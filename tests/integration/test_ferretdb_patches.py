"""The patched FerretDB build: finds documents by ``_id`` through its index, and returns from long updates.

Unpatched, FerretDB v1.24.2 on SQLite compares ``_ferretdb_sjson->'$._id'`` while its ``_id`` index is
built on ``_ferretdb_sjson->"_id"``; SQLite matches index expressions by their text, so every read,
update and delete by ``_id`` scanned the whole table. The patch in deploy/local/ferretdb spells both
the same way, narrows a filter that contains an ``_id`` equality beside other conditions, and serves an
``_id`` ``$in`` of up to 1,000 strings or ObjectIds from the index. These tests read SQLite's query
plan through ``explain`` and check that every condition still applies.

Unpatched, an ``update`` command of 100 or more statements never returned: each statement's query kept
one of the database's 100 SQLite connections until the command ended. And each find copied and sorted
the metadata of every collection of its database to look up its own.

The patched build writes the statements of one ``update`` command that each change one document by a
plain ``_id`` in one SQLite transaction. A statement must still see what the statements before it
wrote, and a failing statement must leave the ones before it applied.

A statement that replaces one document named by a plain ``_id`` is written over the stored row
without reading it first, and the row count shows whether the document existed.

Without an ``_id`` condition, the patched build lets SQLite narrow the rows by the filter's first
equality of a top-level field with a boolean or a plain ASCII string. SQLite keeps the rows whose field
is that value, or an array, and uses the field's index when there is one. The handler still applies
the whole filter, so a document whose array contains the value still matches, and any other condition
still applies.
"""

import asyncio

import pytest
from bson import Int64
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.errors import BulkWriteError, OperationFailure

pytestmark = pytest.mark.integration


@pytest.fixture
async def collection(infra, isolation):
    client = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    info = await client.admin.command("buildInfo")
    if "ferretdbVersion" not in info:
        await client.close()
        pytest.skip("the server is not FerretDB")
    database = client[f"idx_{isolation.token}"]
    await database["docs"].insert_many([{"_id": f"d{index}", "n": index} for index in range(40)])
    yield database["docs"]
    await client.drop_database(database.name)
    await client.close()


async def query_plan(collection, document_filter) -> str:
    explained = await collection.database.command("explain", {"find": collection.name, "filter": document_filter})
    return " ".join(explained["queryPlanner"]["Plan"])


@pytest.mark.parametrize(
    "document_filter",
    [{"_id": "d7"}, {"_id": "d7", "n": 7}, {"_id": "d7", "n": {"$gt": 100}}, {"_id": {"$in": ["d1", "d7", "x"]}, "n": 7}],
)
async def test_id_filters_use_the_index(collection, document_filter):
    plan = await query_plan(collection, document_filter)
    assert "USING INDEX" in plan, plan
    assert "__id_" in plan, plan


@pytest.mark.parametrize(
    "document_filter", [{"n": 7}, {"_id": {"$in": ["d1", 7]}}, {"_id": {"$in": [f"d{i}" for i in range(1001)]}}]
)
async def test_other_filters_still_scan(collection, document_filter):
    # The control: the plan text distinguishes a scan from an index search. A number among the $in values,
    # or more than 1,000 of them, is left to the scan.
    assert "SCAN" in await query_plan(collection, document_filter)


async def test_id_in_returns_exactly_the_listed(collection):
    found = collection.find({"_id": {"$in": ["d3", "d5", "missing"]}, "n": {"$lt": 5}})
    assert [document["_id"] async for document in found] == ["d3"]
    mixed = collection.find({"_id": {"$in": ["d3", 5]}})
    assert [document["_id"] async for document in mixed] == ["d3"]
    assert await collection.count_documents({"_id": {"$in": []}}) == 0


async def test_other_conditions_beside_id_still_apply(collection):
    assert await collection.find_one({"_id": "d7", "n": 7}) == {"_id": "d7", "n": 7}
    assert await collection.find_one({"_id": "d7", "n": 8}) is None

    missed = await collection.update_one({"_id": "d7", "n": 8}, {"$set": {"n": 0}})
    hit = await collection.update_one({"_id": "d7", "n": 7}, {"$inc": {"n": 100}})
    assert missed.matched_count == 0
    assert hit.modified_count == 1

    unmatched = await collection.delete_one({"_id": "d8", "n": 9})
    deleted = await collection.delete_one({"_id": "d8", "n": 8})
    assert unmatched.deleted_count == 0
    assert deleted.deleted_count == 1
    assert await collection.find_one({"_id": "d7"}) == {"_id": "d7", "n": 107}
    assert await collection.count_documents({}) == 39


async def test_update_command_of_many_statements_returns(collection):
    await collection.insert_many([{"_id": f"bulk{index}", "n": 0} for index in range(150)])
    updates = [UpdateOne({"_id": f"bulk{index}"}, {"$inc": {"n": 1}}) for index in range(150)]
    updates.append(UpdateOne({"_id": "bulk0"}, {"$inc": {"n": 1}}))

    # Unpatched, this waits forever; 30 s is far above the 0.1 s it takes.
    result = await asyncio.wait_for(collection.bulk_write(updates, ordered=True), timeout=30)

    assert (result.matched_count, result.modified_count) == (151, 151)
    counts = {document["_id"]: document["n"] async for document in collection.find({"_id": {"$in": ["bulk0", "bulk149"]}})}
    assert counts == {"bulk0": 2, "bulk149": 1}


async def test_later_statements_see_earlier_writes(collection):
    updates = [
        UpdateOne({"_id": "d1"}, {"$set": {"n": 500}}),
        UpdateOne({"_id": "d2"}, {"$set": {"n": 500}}),
        # Not by _id alone: it must find the two documents written just before it.
        UpdateOne({"n": 500}, {"$set": {"seen": True}}),
        UpdateOne({"_id": "d1", "n": 500}, {"$inc": {"n": 1}}),
        UpdateOne({"_id": "d3"}, {"$inc": {"n": 1}}),
        UpdateOne({"_id": "d3"}, {"$inc": {"n": 1}}),
        UpdateOne({"_id": "new"}, {"$set": {"n": 1}}, upsert=True),
        UpdateOne({"_id": "new"}, {"$inc": {"n": 1}}),
    ]

    result = await collection.bulk_write(updates, ordered=True)

    assert (result.matched_count, result.modified_count, result.upserted_count) == (7, 7, 1)
    stored = {document["_id"]: document async for document in collection.find({"_id": {"$in": ["d1", "d2", "d3", "new"]}})}
    assert stored["d1"] == {"_id": "d1", "n": 501, "seen": True}
    assert stored["d2"]["n"] == 500
    assert stored["d3"] == {"_id": "d3", "n": 5}
    assert stored["new"] == {"_id": "new", "n": 2}
    assert await collection.count_documents({"seen": True}) == 1


async def test_numeric_ids_apply_in_order(collection):
    # A 32-bit and a 64-bit 5 name the same document, so the second statement must read the first's write.
    await collection.insert_one({"_id": 5, "n": 0})
    updates = [UpdateOne({"_id": 5}, {"$inc": {"n": 1}}), UpdateOne({"_id": Int64(5)}, {"$inc": {"n": 1}})]

    result = await collection.bulk_write(updates, ordered=True)

    assert result.modified_count == 2
    assert await collection.find_one({"_id": 5}) == {"_id": 5, "n": 2}


async def test_failing_statement_keeps_earlier_ones(collection):
    await collection.update_one({"_id": "d9"}, {"$set": {"label": "text"}})
    updates = [
        UpdateOne({"_id": "d10"}, {"$inc": {"n": 1}}),
        UpdateOne({"_id": "d11"}, {"$inc": {"n": 1}}),
        UpdateOne({"_id": "d9"}, {"$inc": {"label": 1}}),
        UpdateOne({"_id": "d12"}, {"$inc": {"n": 1}}),
    ]

    # FerretDB replies to a failed statement without the counts a bulk result needs, so PyMongo raises
    # KeyError where MongoDB gives BulkWriteError.
    with pytest.raises((BulkWriteError, KeyError)):
        await collection.bulk_write(updates, ordered=True)

    stored = {document["_id"]: document["n"] async for document in collection.find({"_id": {"$in": ["d9", "d10", "d11", "d12"]}})}
    assert stored == {"d9": 9, "d10": 11, "d11": 12, "d12": 12}


async def test_replacements_by_id_in_one_command(collection):
    statements = [
        {"q": {"_id": "d1"}, "u": {"n": 100, "tags": ["a"]}},
        {"q": {"_id": "nowhere"}, "u": {"n": 1}},
        # The same document again: it must read the replacement just made.
        {"q": {"_id": "d1"}, "u": {"$inc": {"n": 1}}},
        {"q": {"_id": "d2"}, "u": {"_id": "d2", "n": 200}},
        {"q": {"_id": "d2"}, "u": {"n": 201}},
        {"q": {"_id": "d3"}, "u": {"$set": {"n": 300}}},
    ]

    reply = await collection.database.command({"update": collection.name, "updates": statements, "ordered": True})

    assert reply["n"] == 5
    stored = {document["_id"]: document async for document in collection.find({"_id": {"$in": ["d1", "d2", "d3", "nowhere"]}})}
    assert stored == {
        "d1": {"_id": "d1", "n": 101, "tags": ["a"]},
        "d2": {"_id": "d2", "n": 201},
        "d3": {"_id": "d3", "n": 300},
    }


async def test_replacement_keeps_its_checks(collection):
    # Another _id, and an invalid document, take the usual path and its errors.
    with pytest.raises(OperationFailure) as changed_id:
        await collection.replace_one({"_id": "d4"}, {"_id": "d5", "n": 4})
    with pytest.raises(OperationFailure):
        await collection.replace_one({"_id": "d4"}, {"n": 1, "$bad": 1})
    missing = await collection.replace_one({"_id": "nowhere"}, {"n": 1})
    upserted = await collection.replace_one({"_id": "fresh"}, {"n": 1}, upsert=True)

    assert "_id" in str(changed_id.value)
    assert missing.matched_count == 0
    assert upserted.upserted_id == "fresh"
    assert await collection.find_one({"_id": "d4"}) == {"_id": "d4", "n": 4}
    assert await collection.find_one({"_id": "nowhere"}) is None
    assert await collection.find_one({"_id": "fresh"}) == {"_id": "fresh", "n": 1}


async def test_replacement_writes_without_comparing(collection):
    # The patched path does not read the stored document, so a replacement equal to it counts as
    # modified; FerretDB unpatched (and MongoDB) compare the two and report 0.
    result = await collection.replace_one({"_id": "d6"}, {"_id": "d6", "n": 6})

    assert (result.matched_count, result.modified_count) == (1, 1)


async def test_find_among_many_collections(collection):
    # Each find looks its collection up by name; the patched build no longer lists all of them for it.
    database = collection.database
    for index in range(30):
        await database[f"extra_{index:02d}"].insert_one({"_id": f"x{index}"})

    assert await database["extra_17"].find_one({"_id": "x17"}) == {"_id": "x17"}
    assert await database["extra_17"].find_one({"_id": "x18"}) is None
    assert await database["missing"].find_one({}) is None
    named = await database.list_collection_names(filter={"name": "extra_05"})
    assert named == ["extra_05"]
    assert len(await database.list_collection_names()) == 31


@pytest.fixture
async def people(collection):
    people = collection.database["people"]
    await people.create_index("mobile", unique=True)
    await people.create_index("pending")
    await people.insert_many([
        {"_id": "p1", "mobile": "13800000001", "pending": True, "name": "张伟"},
        {"_id": "p2", "mobile": "13800000002", "pending": False, "name": "李娜"},
        {"_id": "p3", "mobile": ["13800000003", "13800000009"], "pending": [False, True], "name": "王芳"},
        {"_id": "p4", "mobile": {"home": "13800000004"}, "name": "刘洋"},
    ])
    return people


@pytest.mark.parametrize("document_filter", [{"mobile": "13800000001"}, {"pending": True}])
async def test_field_equality_uses_the_index(people, document_filter):
    plan = await query_plan(people, document_filter)
    assert "USING INDEX" in plan, plan
    assert "SCAN" not in plan, plan


@pytest.mark.parametrize(
    ("document_filter", "expected"),
    [
        ({"mobile": "13800000001"}, ["p1"]),
        ({"mobile": "13800000009"}, ["p3"]),  # an element of an array
        ({"mobile": "13800000004"}, []),  # inside an embedded document: no match, as on MongoDB
        ({"mobile": "13800000001", "name": "李娜"}, []),  # the other condition still applies
        ({"name": "王芳"}, ["p3"]),  # not plain ASCII: left to the handler
        ({"pending": True}, ["p1", "p3"]),
        ({"pending": False}, ["p2", "p3"]),
        ({"mobile.home": "13800000004"}, ["p4"]),  # a path: left to the handler
    ],
)
async def test_field_equality_matches_as_before(people, document_filter, expected):
    found = [document["_id"] async for document in people.find(document_filter).sort("_id", 1)]
    assert found == expected
    assert await people.count_documents(document_filter) == len(expected)


async def test_field_equality_in_updates_and_deletes(people):
    updated = await people.update_many({"pending": True}, {"$set": {"pending": False}})
    assert updated.modified_count == 2
    assert await people.count_documents({"pending": True}) == 0

    deleted = await people.delete_one({"mobile": "13800000009"})
    assert deleted.deleted_count == 1
    assert await people.find_one({"_id": "p3"}) is None
