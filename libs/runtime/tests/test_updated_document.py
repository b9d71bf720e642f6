"""The document an update leaves, as ``update_by_id`` sends it in place of the update."""

from datetime import UTC, datetime

import pytest

from bangke_runtime.serialised import updated_document

STORED = {
    "_id": "eng-1",
    "revision": 3,
    "holdings": {"ac_repair": {"status": "granted"}},
    "processed_events": ["e1"],
    "outbox": [],
}


def test_set_push_inc_and_unset() -> None:
    at = datetime(2026, 12, 5, tzinfo=UTC)
    update = {
        "$set": {"holdings.tv_wall_mounting": {"status": "granted"}, "listed.ac_repair": ["o1"], "seen_at": at},
        "$push": {"processed_events": "e2", "outbox": {"$each": [{"event_id": "x"}, {"event_id": "y"}]}},
        "$inc": {"revision": 1, "counters.retries": 2},
        "$unset": {"holdings.ac_repair": "", "absent.field": ""},
    }

    after = updated_document(STORED, update)

    assert after == {
        "revision": 4,
        "holdings": {"tv_wall_mounting": {"status": "granted"}},
        "processed_events": ["e1", "e2"],
        "outbox": [{"event_id": "x"}, {"event_id": "y"}],
        "listed": {"ac_repair": ["o1"]},
        "seen_at": at,
        "counters": {"retries": 2},
    }
    # The stored document is left as it was.
    assert STORED["holdings"] == {"ac_repair": {"status": "granted"}}
    assert STORED["processed_events"] == ["e1"]


def test_new_field_goes_last() -> None:
    after = updated_document({"_id": 1, "a": 1, "b": 2}, {"$set": {"c": 3, "a": 10}})

    assert list(after or {}) == ["a", "b", "c"]
    assert after == {"a": 10, "b": 2, "c": 3}


@pytest.mark.parametrize(
    "update",
    [
        {},
        {"$addToSet": {"tags": "x"}},
        {"$set": {"tags.0": "x"}},
        {"$set": {"_id": "other"}},
        {"$set": {"holdings": {}, "holdings.ac_repair": {}}},
        {"$set": {"revision": 1}, "$inc": {"revision": 1}},
        {"$inc": {"name": 1}},
        {"$inc": {"revision": True}},
        {"$push": {"name": "x"}},
        {"$push": {"processed_events": {"$each": ["x"], "$slice": -1}}},
        {"$set": {"name.first": "x"}},
        {"$set": {"empty.inner": 1}},
        {"$set": "not a document"},
    ],
)
def test_unmodelled_update_returns_none(update) -> None:
    stored = {"_id": "eng-1", "revision": 3, "name": "张伟", "processed_events": [], "empty": None}

    assert updated_document(stored, update) is None
