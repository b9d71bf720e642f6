"""The application projection on the real server, with and without the in-memory copy.

Both ways must store the same documents for the same events, apply each event once and leave a later
application alone when an event of an earlier one arrives.
"""

import asyncio

import pytest

from exam_svc.adapters.applications import ApplicationRepository

pytestmark = pytest.mark.integration

TV = "tv_wall_mounting"
LOCK = "smart_lock_installation"


@pytest.fixture
def db(serialised_db):
    return serialised_db


def repositories(db) -> dict[str, ApplicationRepository]:
    return {
        "conditions": ApplicationRepository(db, cache_size=0, single_writer=lambda: False),
        "copy": ApplicationRepository(db, cache_size=10, single_writer=lambda: True),
    }


@pytest.mark.parametrize("way", ["conditions", "copy"])
async def test_each_event_applied_once(db, way):
    repository = repositories(db)[way]
    engineer = f"eng-{way}"

    assert await repository.record_applied(engineer, TV, "q-1", "applied-1")
    assert not await repository.record_applied(engineer, TV, "q-1", "applied-1")
    assert await repository.record_applied(engineer, LOCK, "q-2", "applied-2")
    assert await repository.record_status(engineer, TV, "q-1", "granted", "granted-1")
    assert not await repository.record_status(engineer, TV, "q-1", "lapsed", "granted-1")
    # An event of an application that a later one replaced changes nothing.
    assert await repository.record_applied(engineer, TV, "q-3", "applied-3")
    assert not await repository.record_status(engineer, TV, "q-1", "lapsed", "lapsed-1")
    # Nor does one for an engineer without any application.
    assert not await repository.record_status("eng-unknown", TV, "q-9", "granted", "granted-9")

    stored = await db["applications"].find_one({"_id": engineer})
    assert stored["applications"] == {
        TV: {"qualification_id": "q-3", "status": "applied"},
        LOCK: {"qualification_id": "q-2", "status": "applied"},
    }
    assert stored["processed_events"] == ["applied-1", "applied-2", "granted-1", "applied-3"]
    assert await repository.applications(engineer) == stored["applications"]
    assert await db["applications"].find_one({"_id": "eng-unknown"}) is None


async def test_copy_reads_stored_documents(db):
    # A restarted process starts with an empty copy and reads the stored documents in one query.
    engineers = [f"eng-{n}" for n in range(12)]
    first = ApplicationRepository(db, cache_size=50, single_writer=lambda: True)
    await asyncio.gather(*(first.record_applied(e, TV, f"q-{e}", f"applied-{e}") for e in engineers))

    again = ApplicationRepository(db, cache_size=50, single_writer=lambda: True)
    await again.preload([*engineers, "eng-missing"])
    granted = await asyncio.gather(*(again.record_status(e, TV, f"q-{e}", "granted", f"granted-{e}") for e in engineers))
    redelivered = await asyncio.gather(*(again.record_applied(e, TV, f"q-{e}", f"applied-{e}") for e in engineers))

    assert granted == [True] * len(engineers)
    assert redelivered == [False] * len(engineers)
    async for document in db["applications"].find({}):
        assert document["applications"][TV]["status"] == "granted", document["_id"]
        assert document["processed_events"] == [f"applied-{document['_id']}", f"granted-{document['_id']}"]


async def test_deleted_document_created_again(db):
    repository = ApplicationRepository(db, cache_size=10, single_writer=lambda: True)
    assert await repository.record_applied("eng-1", TV, "q-1", "applied-1")
    await repository.preload(["eng-1"])
    await db["applications"].delete_one({"_id": "eng-1"})

    assert await repository.record_applied("eng-1", LOCK, "q-2", "applied-2")

    stored = await db["applications"].find_one({"_id": "eng-1"})
    assert stored["applications"] == {LOCK: {"qualification_id": "q-2", "status": "applied"}}
