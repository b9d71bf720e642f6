"""The repository's save drops only the outbox entries the relay reports as published."""

from typing import Any

from pymongo.results import UpdateResult

from bangke_runtime.serialised import updated_document
from qualification_svc.adapters.repository import EngineerCache, EngineerRepository, Loaded
from qualification_svc.adapters.serialised import KeyedLocks, KnownOutboxes, SerialisedCollection
from qualification_svc.domain.model import Engineer


def entry(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "topic": "qualifications.v1", "key": "eng-1", "value": "{}"}


class RecordingCollection:
    """Records the writes; every update matches."""

    name = "engineers"

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.updates: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.stored: list[dict[str, Any] | None] = []
        self.document = document
        self.reads = 0

    async def find_one(self, document_filter: dict[str, Any]) -> dict[str, Any] | None:
        self.reads += 1
        return self.document

    async def update_one(self, document_filter: dict[str, Any], update: dict[str, Any]) -> UpdateResult:
        self.updates.append((document_filter, update))
        return UpdateResult({"n": 1, "nModified": 1, "ok": 1.0}, acknowledged=True)

    async def update_by_id(self, document_id: str, update: dict[str, Any], stored: dict[str, Any] | None = None) -> bool:
        self.updates.append(({"_id": document_id}, update))
        self.stored.append(stored)
        return True


def repository(published: set[str], guard: bool) -> tuple[EngineerRepository, RecordingCollection, KnownOutboxes]:
    collection, known = RecordingCollection(), KnownOutboxes()
    repo = EngineerRepository({"engineers": collection}, lambda: guard, known, lambda _engineer_id: published)  # type: ignore[arg-type]
    return repo, collection, known


async def test_save_keeps_unpublished_entries() -> None:
    repo, collection, known = repository({"e1"}, guard=True)
    loaded = Loaded(Engineer("eng-1"), 3, frozenset(), (entry("e1"), entry("e2")))

    assert await repo.save(loaded, "in-1")

    [(document_filter, update)] = collection.updates
    assert document_filter == {"_id": "eng-1"}
    assert [stored["event_id"] for stored in update["$set"]["outbox"]] == ["e2"]
    assert update["$set"]["outbox_pending"] is True
    assert "$push" not in update or "outbox" not in update["$push"]
    assert known.get("eng-1") == ["e2"]


async def test_save_without_published_appends() -> None:
    repo, collection, known = repository(set(), guard=True)
    loaded = Loaded(Engineer("eng-1"), 3, frozenset(), (entry("e1"),))

    assert await repo.save(loaded, "in-1")

    [(_filter, update)] = collection.updates
    assert "outbox" not in update["$set"]
    assert known.get("eng-1") == ["e1"]


async def test_mongodb_save_checks_outbox() -> None:
    repo, collection, _known = repository({"e1"}, guard=False)
    loaded = Loaded(Engineer("eng-1"), 3, frozenset(), (entry("e1"), entry("e2")))

    assert await repo.save(loaded, "in-1")

    [(document_filter, update)] = collection.updates
    # The relay's clears do not bump the revision, so the filter names the outbox the save loaded.
    assert document_filter["revision"] == 3
    assert document_filter["outbox"] == {"$size": 2}
    assert document_filter["outbox.0.event_id"] == "e1"
    assert [stored["event_id"] for stored in update["$set"]["outbox"]] == ["e2"]


def cached_repository(guard: bool, published: set[str] | None = None) -> tuple[EngineerRepository, RecordingCollection]:
    stored = {"_id": "eng-1", "revision": 3, "processed_events": ["in-0"], "outbox": [entry("e1")], "certificates": []}
    collection = RecordingCollection(stored)
    repo = EngineerRepository(
        {"engineers": collection},  # type: ignore[arg-type]
        lambda: guard,
        KnownOutboxes(),
        lambda _engineer_id: published or set(),
        cache=EngineerCache(10),
    )
    return repo, collection


async def test_cache_serves_loads_after_a_save() -> None:
    repo, collection = cached_repository(guard=True, published={"e1"})
    first = await repo.load("eng-1")
    first.engineer.name = "张伟"
    assert await repo.save(first, "in-1")

    second = await repo.load("eng-1")

    assert collection.reads == 1
    assert second.revision == 4
    assert second.processed == {"in-0", "in-1"}
    assert second.engineer.name == "张伟"
    # The save dropped the published entry, and the cache contains the outbox it wrote.
    assert second.outbox == ()
    # The write names the whole stored document, which an update by _id may replace.
    [whole] = collection.stored
    assert whole == {
        "revision": 3, "processed_events": ["in-0"], "outbox": [entry("e1")], "outbox_pending": False, "certificates": []
    }
    [(_filter, update)] = collection.updates
    after = updated_document(whole, update)
    assert after is not None
    assert after["processed_events"] == ["in-0", "in-1"]
    assert after["outbox"] == []
    assert after["revision"] == 4
    assert after["name"] == "张伟"


async def test_cache_dropped_after_a_failed_save() -> None:
    repo, collection = cached_repository(guard=True)
    loaded = await repo.load("eng-1")

    async def gone(_document_id: str, _update: dict[str, Any], stored: dict[str, Any] | None = None) -> bool:
        return False

    collection.update_by_id = gone  # type: ignore[method-assign]
    assert not await repo.save(loaded, "in-1")
    await repo.load("eng-1")

    assert collection.reads == 2
    assert repo.cached == 1


async def test_no_cache_without_the_guard() -> None:
    repo, collection = cached_repository(guard=False)
    loaded = await repo.load("eng-1")
    assert await repo.save(loaded, "in-1")
    await repo.load("eng-1")

    assert collection.reads == 2
    assert repo.cached == 0


def test_cache_drops_the_least_recent() -> None:
    cache = EngineerCache(2)
    for engineer_id in ("a", "b"):
        cache.put(engineer_id, object())  # type: ignore[arg-type]
    cache.get("a")
    cache.put("c", object())  # type: ignore[arg-type]

    assert cache.get("a") is not None
    assert cache.get("b") is None
    assert cache.get("c") is not None


async def test_relay_clear_writes_the_cached_document() -> None:
    repo, collection = cached_repository(guard=True, published={"e1"})
    await repo.load("eng-1")
    relay_view = SerialisedCollection(
        collection,  # type: ignore[arg-type]
        KeyedLocks(),
        lambda: True,
        KnownOutboxes(),
        cached=repo.stored_document,
        after_write=repo.remember_document,
    )

    result = await relay_view.update_one(
        {"_id": "eng-1", "outbox": {"$size": 1}, "outbox.0.event_id": "e1"},
        {"$set": {"outbox": [], "outbox_pending": False}},
    )
    stale = await relay_view.update_one(
        {"_id": "eng-1", "outbox": {"$size": 1}, "outbox.0.event_id": "e1"},
        {"$set": {"outbox": [], "outbox_pending": False}},
    )
    after = await repo.load("eng-1")

    assert result.modified_count == 1
    # The filter was checked on the cached document, which the write had already changed.
    assert stale.modified_count == 0
    assert collection.reads == 1
    assert collection.stored[0] is not None and collection.stored[0]["outbox"] == [entry("e1")]
    assert after.outbox == ()
    assert after.revision == 3
