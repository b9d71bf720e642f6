"""Certificate records handled in batches: grouping per engineer, dead letters, and the relay's wrapper."""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pymongo.results import UpdateResult

from bangke_contracts.certificates import CertificateExpired, CertificateExpiredPayload, CertificateTookEffect, CertificateTookEffectPayload
from bangke_runtime.kafka import PermanentError
from qualification_svc.adapters.serialised import KeyedLocks, KnownOutboxes, SerialisedCollection
from qualification_svc.entrypoints.subscribers import handle_certificate_records
from qualification_svc.settings import QualificationSettings


@dataclass
class Record:
    value: bytes
    offset: int
    topic: str = "certificates.v1"
    partition: int = 0
    key: bytes | None = None


def took_effect(engineer_id: str, version: int = 1) -> CertificateTookEffect:
    return CertificateTookEffect(producer="certificate-svc", payload=CertificateTookEffectPayload(
        certificate_id=f"{engineer_id}-rac", version=version, engineer_id=engineer_id,
        certificate_type="refrigeration_ac", issued_on=date(2026, 1, 1), expires_on=date(2030, 6, 30),
        replaces_version=version - 1 or None, took_effect_at=datetime.now(UTC),
    ))


def expired(engineer_id: str) -> CertificateExpired:
    return CertificateExpired(producer="certificate-svc", payload=CertificateExpiredPayload(
        certificate_id=f"{engineer_id}-rac", version=2, engineer_id=engineer_id, certificate_type="refrigeration_ac",
        expired_on=date(2030, 6, 30), expired_at=datetime.now(UTC),
    ))


class FakeService:
    def __init__(self, failing: set[str] | None = None, permanent: bool = False) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.failing = failing or set()
        self.permanent = permanent

    async def preload(self, engineer_ids: list[str]) -> int:
        return 0

    async def on_certificate_events(self, engineer_id: str, events: list[Any]) -> int:
        ids = [str(event.event_id) for event in events]
        self.calls.append((engineer_id, ids))
        if self.failing & set(ids):
            raise PermanentError("cannot apply") if self.permanent else ConnectionError("FerretDB went away")
        return len(ids)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.records: list[tuple[int, str, int]] = []

    async def dead_letter_record(self, record: Record, error: BaseException, attempts: int) -> None:
        self.records.append((record.offset, type(error).__name__, attempts))


def settings() -> QualificationSettings:
    return QualificationSettings(handler_attempts=2, handler_retry_backoff_s=0)


def record(event: Any, offset: int) -> Record:
    return Record(event.model_dump_json().encode(), offset)


async def test_batch_groups_engineer_events_in_order() -> None:
    first, second, other = took_effect("eng-a"), expired("eng-a"), took_effect("eng-b")
    service, dead = FakeService(), FakeDeadLetters()

    await handle_certificate_records(
        [record(first, 1), record(other, 2), record(second, 3)], service, dead, settings()  # type: ignore[arg-type]
    )

    assert sorted(service.calls) == [
        ("eng-a", [str(first.event_id), str(second.event_id)]),
        ("eng-b", [str(other.event_id)]),
    ]
    assert dead.records == []


async def test_batch_dead_letters_malformed_records() -> None:
    event = took_effect("eng-a")
    unknown = json.loads(event.model_dump_json()) | {"type": "certificate.renamed"}
    service, dead = FakeService(), FakeDeadLetters()

    await handle_certificate_records(
        [Record(b"{not json", 1), record(event, 2), Record(json.dumps(unknown).encode(), 3)],
        service, dead, settings(),  # type: ignore[arg-type]
    )

    assert service.calls == [("eng-a", [str(event.event_id)])]
    assert [(offset, attempts) for offset, _error, attempts in dead.records] == [(1, 1), (3, 1)]
    assert {error for _offset, error, _attempts in dead.records} == {"ValidationError"}


async def test_batch_dead_letters_only_failing_event() -> None:
    good, bad, later = took_effect("eng-a"), took_effect("eng-a", 2), expired("eng-a")
    service, dead = FakeService(failing={str(bad.event_id)}), FakeDeadLetters()

    await handle_certificate_records(
        [record(good, 1), record(bad, 2), record(later, 3)], service, dead, settings()  # type: ignore[arg-type]
    )

    group = [str(good.event_id), str(bad.event_id), str(later.event_id)]
    # The group is tried handler_attempts times, then each event alone, in order.
    assert service.calls[:2] == [("eng-a", group), ("eng-a", group)]
    alone = [ids for _engineer, ids in service.calls[2:]]
    assert alone == [[str(good.event_id)], [str(bad.event_id)], [str(bad.event_id)], [str(later.event_id)]]
    assert dead.records == [(2, "ConnectionError", 2)]


async def test_batch_permanent_failure_not_retried() -> None:
    bad = took_effect("eng-a")
    service, dead = FakeService(failing={str(bad.event_id)}, permanent=True), FakeDeadLetters()

    await handle_certificate_records([record(bad, 7)], service, dead, settings())  # type: ignore[arg-type]

    assert len(service.calls) == 1
    assert dead.records == [(7, "PermanentError", 1)]


async def test_batch_fails_when_dead_letter_fails() -> None:
    class BrokenDeadLetters(FakeDeadLetters):
        async def dead_letter_record(self, record: Record, error: BaseException, attempts: int) -> None:
            raise ConnectionError("Kafka went away")

    service = FakeService()
    with pytest.raises(ConnectionError):
        await handle_certificate_records(
            [Record(b"garbage", 1), record(took_effect("eng-a"), 2)], service, BrokenDeadLetters(), settings()  # type: ignore[arg-type]
        )


class FakeCollection:
    """The engineers collection with one document; counts reads, applies $set and $pop."""

    name = "engineers"

    def __init__(self, outbox: list[str]) -> None:
        self.document: dict[str, Any] = {"_id": "eng-a", "outbox": [{"event_id": i} for i in outbox], "outbox_pending": True}
        self.reads = 0

    async def find_one(self, document_filter: dict[str, Any], *args: Any) -> dict[str, Any] | None:
        self.reads += 1
        return self.document if document_filter == {"_id": "eng-a"} else None

    async def update_one(self, document_filter: dict[str, Any], update: dict[str, Any]) -> UpdateResult:
        assert document_filter == {"_id": "eng-a"}, "the wrapper checks conditions itself and writes by _id"
        for field, value in update.get("$set", {}).items():
            self.document[field] = value
        if update.get("$pop") == {"outbox": -1}:
            self.document["outbox"].pop(0)
        return UpdateResult({"n": 1, "nModified": 1, "ok": 1.0}, acknowledged=True)


def relay_view(collection: FakeCollection, known: KnownOutboxes) -> SerialisedCollection:
    return SerialisedCollection(collection, KeyedLocks(), lambda: True, known)  # type: ignore[arg-type]


CLEAR = {"$set": {"outbox": [], "outbox_pending": False}}


async def test_relay_clear_uses_known_outbox() -> None:
    collection, known = FakeCollection(["e1", "e2"]), KnownOutboxes()
    known.set("eng-a", ["e1", "e2"])
    view = relay_view(collection, known)

    missed = await view.update_one({"_id": "eng-a", "outbox": {"$size": 1}, "outbox.0.event_id": "e1"}, CLEAR)
    assert missed.modified_count == 0
    assert collection.document["outbox"] != []

    popped = await view.update_one({"_id": "eng-a", "outbox.0.event_id": "e1"}, {"$pop": {"outbox": -1}})
    assert popped.modified_count == 1
    assert known.get("eng-a") == ["e2"]

    cleared = await view.update_one({"_id": "eng-a", "outbox": {"$size": 1}, "outbox.0.event_id": "e2"}, CLEAR)
    assert cleared.modified_count == 1
    assert collection.document["outbox"] == []
    assert known.get("eng-a") is None
    assert collection.reads == 0


async def test_relay_clear_reads_unknown_outbox() -> None:
    collection, known = FakeCollection(["old", "e1"]), KnownOutboxes()
    view = relay_view(collection, known)

    missed = await view.update_one({"_id": "eng-a", "outbox": {"$size": 1}, "outbox.0.event_id": "e1"}, CLEAR)

    assert missed.modified_count == 0
    assert collection.reads == 1
    assert [entry["event_id"] for entry in collection.document["outbox"]] == ["old", "e1"]
