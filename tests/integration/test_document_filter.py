"""The in-process filter evaluation agrees with the real MongoDB-protocol server."""

from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from bangke_runtime.document_filter import UnsupportedFilter, check_supported, matches

pytestmark = pytest.mark.integration

DOCUMENTS = [
    {"_id": "a", "status": "open", "n": 3, "processed_events": ["e1", "e2"], "outbox": [{"event_id": "x"}]},
    {"_id": "b", "status": "closed", "n": 7, "processed_events": [], "outbox": [], "flag": None},
    {"_id": "c", "status": "open", "n": 7.5, "versions": [{"v": 1, "status": "in_effect"}, {"v": 2, "status": "submitted"}]},
    {"_id": "d", "when": datetime(2026, 12, 4, 8, 0, tzinfo=UTC), "tags": ["x", "y"], "revision": 0, "flag": False},
]

FILTERS = [
    {"processed_events": {"$ne": "e1"}},
    {"processed_events": {"$ne": "e9"}},
    {"processed_events": "e2"},
    {"outbox.0.event_id": "x"},
    {"outbox": {"$size": 0}},
    {"outbox": []},
    {"status": {"$in": ["open", "other"]}},
    {"status": {"$nin": ["open"]}},
    {"n": {"$gte": 7}},
    {"n": {"$lt": 7}},
    {"missing": {"$exists": False}},
    {"flag": {"$exists": True}},
    {"flag": None},
    {"flag": False},
    {"versions.status": "submitted"},
    {"versions.1.status": "submitted"},
    {"versions.0.status": "submitted"},
    {"$or": [{"n": 3}, {"status": "closed"}]},
    {"when": {"$lt": datetime(2026, 12, 5, tzinfo=UTC)}},
    {"tags": {"$in": ["y"]}},
    {"revision": 0, "tags": "x"},
    {"status": {"$ne": "open"}},
]


@pytest.mark.parametrize("document_filter", FILTERS, ids=[str(f) for f in FILTERS])
async def test_filter_agrees_with_server(infra, isolation, document_filter):
    client = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    collection = client[isolation.database("filters")]["documents"]
    try:
        await collection.insert_many([dict(document) for document in DOCUMENTS])
        server = sorted([document["_id"] async for document in collection.find(document_filter, {"_id": 1})])
        stored = [document async for document in collection.find({})]
    finally:
        await client.drop_database(isolation.database("filters"))
        await client.close()

    local = sorted(document["_id"] for document in stored if matches(document, document_filter))

    assert local == server


def test_unsupported_operator_is_detected():
    with pytest.raises(UnsupportedFilter):
        check_supported({"status": "open", "versions": {"$elemMatch": {"v": 2}}})
    with pytest.raises(UnsupportedFilter):
        check_supported({"$where": "true"})
    check_supported({"$or": [{"n": {"$gte": 1}}, {"tags": {"$in": ["x"]}}]})
