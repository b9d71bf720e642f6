"""The repository's save drops only the outbox entries the relay reports as published."""

from typing import Any

from pymongo.results import UpdateResult

from qualification_svc.adapters.repository import EngineerRepository, Loaded
from qualification_svc.adapters.serialised import KnownOutboxes
from qualification_svc.domain.model import Engineer


def entry(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "topic": "qualifications.v1", "key": "eng-1", "value": "{}"}


class RecordingCollection:
    """Records the writes; every update matches."""

    name = "engineers"

    def __init__(self) -> None:
        self.updates: list[tuple[dict[str, Any], dict[str, Any]]] = []

    async def update_one(self, document_filter: dict[str, Any], update: dict[str, Any]) -> UpdateResult:
        self.updates.append((document_filter, update))
        return UpdateResult({"n": 1, "nModified": 1, "ok": 1.0}, acknowledged=True)


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
