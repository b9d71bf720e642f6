"""The outbox relay with handed-over entries, and the write notifications that feed it (no servers)."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError
from pymongo.results import InsertOneResult, UpdateResult

from bangke_contracts.exams import ExamScoreCollected, ExamScoreCollectedPayload
from bangke_runtime.document_filter import matches
from bangke_runtime.kafka import HEADER_ATTEMPTS, HEADER_ORIGINAL_OFFSET, DeadLetterPolicy
from bangke_runtime.outbox import OutboxRelay, new_document_outbox, with_outbox
from bangke_runtime.serialised import SerialisedCollection, WritePolicy
from bangke_runtime.settings import ServiceSettings


def score(engineer_id: str) -> ExamScoreCollected:
    now = datetime.now(UTC)
    return ExamScoreCollected(producer="exam-svc", payload=ExamScoreCollectedPayload(
        attempt_id="attempt-1", engineer_id=engineer_id, qualification_type="ac_repair", score=90, passed=True,
        finished_at=now, collected_at=now,
    ))


class FakeBroker:
    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []
        self.fail = False

    async def publish(self, value: bytes, *, topic: str, key: bytes | None = None, headers: dict[str, str]) -> None:
        if self.fail:
            raise ConnectionError("Kafka went away")
        self.published.append((topic, headers.get("event-id", "")))


class FakeCollection:
    """One collection in memory: equality and ``$size`` filters, ``$set``, ``$push``/``$each`` and ``$pop``."""

    name = "aggregates"

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.reads = 0

    async def create_index(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def find_one(self, document_filter: dict[str, Any], *args: Any) -> dict[str, Any] | None:
        self.reads += 1
        document = self.documents.get(document_filter["_id"])
        return document if document is not None and matches(document, document_filter) else None

    async def insert_one(self, document: dict[str, Any]) -> InsertOneResult:
        self.documents[document["_id"]] = {**document, "outbox": list(document.get("outbox", []))}
        return InsertOneResult(document["_id"], acknowledged=True)

    async def update_one(self, document_filter: dict[str, Any], update: dict[str, Any]) -> UpdateResult:
        document = self.documents.get(document_filter["_id"])
        if document is None or not matches(document, document_filter):
            return UpdateResult({"n": 0, "nModified": 0, "ok": 1.0}, acknowledged=True)
        for field, value in update.get("$set", {}).items():
            document[field] = value
        for field, value in update.get("$push", {}).items():
            document.setdefault(field, []).extend(value["$each"] if isinstance(value, dict) else [value])
        for field, end in update.get("$pop", {}).items():
            document[field].pop(0 if end == -1 else -1)
        return UpdateResult({"n": 1, "nModified": 1, "ok": 1.0}, acknowledged=True)


@pytest.fixture
def parts() -> tuple[OutboxRelay, FakeBroker, SerialisedCollection, FakeCollection]:
    broker, raw = FakeBroker(), FakeCollection()
    relay = OutboxRelay(broker, ServiceSettings())  # type: ignore[arg-type]
    policy = WritePolicy()
    policy.listeners.append(relay.on_write)
    collection = SerialisedCollection(raw, policy)  # type: ignore[arg-type]
    relay.register(raw)  # type: ignore[arg-type]
    return relay, broker, collection, raw


def ids(broker: FakeBroker) -> list[str]:
    return [event_id for _topic, event_id in broker.published]


class Cursor:
    """A cursor over the pending documents of ``raw`` at iteration time. With ``gate``, iteration waits for it."""

    def __init__(self, raw: FakeCollection, gate: asyncio.Event | None = None) -> None:
        self._raw = raw
        self._gate = gate

    def batch_size(self, _count: int) -> "Cursor":
        return self

    def __aiter__(self) -> Any:
        async def iterate() -> Any:
            if self._gate is not None:
                await self._gate.wait()
            for document in [d for d in self._raw.documents.values() if d.get("outbox_pending")]:
                yield document

        return iterate()


async def wait_for(condition: Any, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def test_handed_entries_are_published_without_reading(parts: Any) -> None:
    relay, broker, collection, raw = parts
    first, second = score("e-1"), score("e-1")
    await collection.insert_one({"_id": "a", "state": 0, **new_document_outbox([first])})
    await collection.update_one({"_id": "a"}, with_outbox({"$set": {"state": 1}}, [second]))

    assert await relay.publish_hinted() == 2

    assert ids(broker) == [str(first.event_id), str(second.event_id)]
    assert raw.reads == 0
    assert raw.documents["a"]["outbox"] == []
    assert raw.documents["a"]["outbox_pending"] is False


async def test_update_that_matched_nothing_is_not_announced(parts: Any) -> None:
    relay, broker, collection, raw = parts
    await collection.insert_one({"_id": "a", "revision": 2, "outbox": [], "outbox_pending": False})

    result = await collection.update_one({"_id": "a", "revision": 1}, with_outbox({"$set": {"revision": 2}}, [score("e-1")]))

    assert result.matched_count == 0
    assert await relay.publish_hinted() == 0
    assert broker.published == []


async def test_relay_reads_when_handed_entry_not_at_head(parts: Any) -> None:
    relay, broker, collection, raw = parts
    older, newer = score("e-1"), score("e-1")
    # An outbox that no write announced to this relay (the start-up scan normally publishes it first).
    raw.documents["a"] = {"_id": "a", **new_document_outbox([older])}
    await collection.update_one({"_id": "a"}, with_outbox({"$set": {"state": 1}}, [newer]))

    await relay.publish_hinted()
    await relay.publish_hinted()

    # The handed entry went out, but it is not at the head of the stored outbox, so nothing is
    # removed and the next round reads the document and publishes the whole outbox in order.
    assert ids(broker) == [str(newer.event_id), str(older.event_id), str(newer.event_id)]
    assert raw.documents["a"]["outbox"] == []
    assert raw.documents["a"]["outbox_pending"] is False


async def test_start_up_scan_runs_before_announced_documents(parts: Any) -> None:
    relay, broker, collection, raw = parts
    older, newer = score("e-1"), score("e-1")
    raw.documents["a"] = {"_id": "a", **new_document_outbox([older])}

    raw.find = lambda document_filter, projection: Cursor(raw)
    await collection.update_one({"_id": "a"}, with_outbox({"$set": {"state": 1}}, [newer]))

    assert await relay.sweep_all() == 2
    await relay.publish_hinted()

    assert ids(broker)[:2] == [str(older.event_id), str(newer.event_id)]
    assert raw.documents["a"]["outbox"] == []


async def test_scan_does_not_hold_up_publishing() -> None:
    broker, raw = FakeBroker(), FakeCollection()
    settings = ServiceSettings(outbox_full_scan_interval_s=0.05, outbox_poll_interval_s=0.01)
    relay = OutboxRelay(broker, settings)  # type: ignore[arg-type]
    policy = WritePolicy()
    policy.listeners.append(relay.on_write)
    collection = SerialisedCollection(raw, policy)  # type: ignore[arg-type]
    relay.register(raw)  # type: ignore[arg-type]
    gate = asyncio.Event()
    scans: list[dict[str, Any]] = []

    def find(document_filter: dict[str, Any], projection: dict[str, Any]) -> Cursor:
        scans.append(document_filter)
        # The scan at start goes through, and the later ones hang until the gate opens, like a slow full scan.
        return Cursor(raw, gate if len(scans) > 1 else None)

    raw.find = find  # type: ignore[attr-defined]
    await relay.start()
    try:
        await wait_for(lambda: len(scans) >= 2)
        announced = score("e-1")
        await collection.insert_one({"_id": "a", **new_document_outbox([announced])})
        await wait_for(lambda: ids(broker) == [str(announced.event_id)])
        assert len(scans) == 2, "the hanging scan is still the second one"

        # An outbox that no write announced goes out once the scan gets through.
        forgotten = score("e-2")
        raw.documents["b"] = {"_id": "b", **new_document_outbox([forgotten])}
        gate.set()
        await wait_for(lambda: str(forgotten.event_id) in ids(broker))
        await wait_for(lambda: raw.documents["b"]["outbox"] == [])
    finally:
        await relay.stop()

    assert ids(broker) == [str(announced.event_id), str(forgotten.event_id)]
    assert raw.documents["a"]["outbox_pending"] is False


def test_periodic_scan_waits_for_quiet() -> None:
    relay = OutboxRelay(FakeBroker(), ServiceSettings(outbox_full_scan_interval_s=600))  # type: ignore[arg-type]
    relay._last_scan = 1000.0
    relay._last_work = 1599.5

    assert not relay._periodic_scan_due(1599.9)
    # Due, but work arrived half a second ago: the scan waits for a quiet second.
    assert not relay._periodic_scan_due(1600.0)
    assert relay._periodic_scan_due(1600.5)
    # Work never stops: the scan runs after a second interval anyway.
    relay._last_work = 2199.9
    assert not relay._periodic_scan_due(2199.9)
    assert relay._periodic_scan_due(2200.0)


async def test_scan_skips_published_lazy_entries() -> None:
    broker, raw = FakeBroker(), FakeCollection()
    relay = OutboxRelay(broker, ServiceSettings())  # type: ignore[arg-type]
    policy = WritePolicy()
    policy.listeners.append(relay.on_write)
    collection = SerialisedCollection(raw, policy)  # type: ignore[arg-type]
    relay.register(raw, lazy_clear=True)  # type: ignore[arg-type]
    raw.find = lambda document_filter, projection: Cursor(raw)  # type: ignore[attr-defined]
    first, second = score("e-1"), score("e-1")
    await collection.insert_one({"_id": "a", **new_document_outbox([first])})
    assert await relay.publish_hinted() == 1

    # Published but not cleared yet: the document stays pending, and a scan leaves it alone.
    assert raw.documents["a"]["outbox_pending"] is True
    assert await relay.scan() == 0

    raw.documents["a"]["outbox"].append(new_document_outbox([second])["outbox"][0])
    assert await relay.scan() == 1
    assert await relay.publish_hinted() == 1

    assert ids(broker) == [str(first.event_id), str(second.event_id)]
    assert raw.reads == 1, "the periodic scan hands nothing over: the publisher reads the document"


async def test_scan_skips_announced_documents(parts: Any) -> None:
    relay, broker, collection, raw = parts
    raw.find = lambda document_filter, projection: Cursor(raw)
    event = score("e-1")
    await collection.insert_one({"_id": "a", **new_document_outbox([event])})

    # The write announced the document with its entries; a scan adds nothing that costs a read.
    assert await relay.scan() == 0
    assert await relay.publish_hinted() == 1

    assert ids(broker) == [str(event.event_id)]
    assert raw.reads == 0


async def test_failed_publish_keeps_the_entries_in_order(parts: Any) -> None:
    relay, broker, collection, raw = parts
    first, second = score("e-1"), score("e-1")
    await collection.insert_one({"_id": "a", **new_document_outbox([first])})
    broker.fail = True
    with pytest.raises(ConnectionError):
        await relay.publish_hinted()
    await collection.update_one({"_id": "a"}, with_outbox({"$set": {"state": 1}}, [second]))
    broker.fail = False

    assert await relay.publish_hinted() == 2

    assert ids(broker) == [str(first.event_id), str(second.event_id)]
    assert raw.reads == 0
    assert raw.documents["a"]["outbox"] == []


async def test_unknown_write_outcome_requests_scan(parts: Any) -> None:
    relay, broker, collection, raw = parts
    raw.find = lambda document_filter, projection: Cursor(raw)
    event = score("e-1")
    stored_update = raw.update_one

    async def applied_then_lost(document_filter: dict[str, Any], update: dict[str, Any]) -> UpdateResult:
        await stored_update(document_filter, update)
        raise AutoReconnect("connection closed after the write")

    await collection.insert_one({"_id": "a", "outbox": [], "outbox_pending": False})
    await relay.publish_hinted()
    relay._scan_requested = False
    raw.update_one = applied_then_lost
    with pytest.raises(AutoReconnect):
        await collection.update_one({"_id": "a"}, with_outbox({"$set": {"state": 1}}, [event]))
    raw.update_one = stored_update

    # Nothing announced the stored entry; the scan the failure requested finds it.
    assert relay._scan_requested
    assert await relay.publish_hinted() == 0
    assert await relay.sweep() == 1
    assert ids(broker) == [str(event.event_id)]


async def test_rejected_write_requests_no_scan(parts: Any) -> None:
    relay, _broker, collection, raw = parts

    async def rejected(document: dict[str, Any]) -> InsertOneResult:
        raise DuplicateKeyError("E11000 duplicate key")

    raw.insert_one = rejected
    relay._scan_requested = False
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "a", **new_document_outbox([score("e-1")])})

    assert not relay._scan_requested


async def test_dead_letter_record_copies_one_record() -> None:
    class Record:
        topic, partition, offset, key, value = "p.certificates.v1", 3, 41, b"e-1", b"{broken"

    broker = FakeBroker()
    sent: list[tuple[bytes, str, dict[str, str]]] = []

    async def publish(value: bytes, *, topic: str, key: bytes | None = None, headers: dict[str, str]) -> None:
        sent.append((value, topic, headers))

    broker.publish = publish  # type: ignore[method-assign]
    policy = DeadLetterPolicy(ServiceSettings(service_name="svc"))
    policy.broker = broker  # type: ignore[assignment]

    await policy.dead_letter_record(Record(), ValueError("bad"), 1)

    [(value, topic, headers)] = sent
    assert (value, topic) == (b"{broken", "p.certificates.v1.dlq")
    assert headers[HEADER_ORIGINAL_OFFSET] == "41"
    assert headers[HEADER_ATTEMPTS] == "1"
