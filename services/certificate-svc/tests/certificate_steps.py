"""Steps shared by the integration tests: identity events, uploads, review outcomes, Kafka reads."""

import asyncio
import struct
import uuid
import zlib
from datetime import UTC, date, datetime
from typing import Any

import httpx

from bangke_contracts.identity import EngineerRegistered, EngineerRegisteredPayload
from bangke_contracts.reviews import (
    ReviewCompleted,
    ReviewCompletedPayload,
    ReviewDecisionRecorded,
    ReviewDecisionRecordedPayload,
)
from bangke_contracts.topics import IDENTITY_ENGINEERS, REVIEWS
from bangke_runtime.personal_data import id_number_digest, make_id_number
from harness.kafka_tools import produce_raw, read_topic, record_json
from harness.waiting import wait_for

ZHANG_ID = make_id_number("110101", date(1990, 3, 7), 451)
LI_ID = make_id_number("310104", date(1988, 11, 2), 123)


def jpeg_bytes() -> bytes:
    """A small JPEG: start-of-image, a JFIF header, filler and end-of-image."""
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return header + bytes(range(256)) * 4 + b"\xff\xd9"


def png_bytes() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")



async def register_engineer(service, infra, isolation, engineer_id: str, name: str, id_number: str,
                            outlet_id: str = "outlet-1", region_id: str = "region-1") -> None:
    """Produce identity-svc's registration event and wait until the service projected it."""
    event = EngineerRegistered(
        producer="identity-svc",
        payload=EngineerRegisteredPayload(
            engineer_id=engineer_id, provider_id="provider-1", outlet_id=outlet_id, region_id=region_id,
            name=name, id_number_sha256=id_number_digest(id_number), registered_at=datetime.now(UTC),
        ),
    )
    await produce_raw(
        infra.kafka_bootstrap, isolation.topic_prefix + IDENTITY_ENGINEERS, event.model_dump_json().encode(),
        key=engineer_id.encode(),
    )
    engineers = service.runtime.db["engineers"]
    await wait_for(lambda: engineers.find_one({"_id": engineer_id, "name": name}), timeout_s=45)


async def upload_photo(client: httpx.AsyncClient, headers: dict[str, str], certificate_id: str, side: str,
                       body: bytes) -> httpx.Response:
    """Request an upload URL, PUT ``body`` to storage, and attach it; return the attach response."""
    grant = await client.post(f"/certificates/{certificate_id}/photos/{side}/upload-url", headers=headers)
    assert grant.status_code == 200, grant.text
    upload = grant.json()
    async with httpx.AsyncClient(timeout=30.0) as storage:
        stored = await storage.put(upload["url"], content=body)
    assert stored.status_code == 200, stored.text
    return await client.put(f"/certificates/{certificate_id}/photos/{side}", headers=headers, json={"key": upload["key"]})


async def submitted_certificate(client, headers, draft: dict[str, Any]) -> dict[str, Any]:
    created = await client.post("/certificates", headers=headers, json=draft)
    assert created.status_code == 201, created.text
    certificate_id = created.json()["certificate_id"]
    for side, body in (("front", jpeg_bytes()), ("back", png_bytes())):
        attached = await upload_photo(client, headers, certificate_id, side, body)
        assert attached.status_code == 200, attached.text
    submitted = await client.post(f"/certificates/{certificate_id}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    return submitted.json()


async def outbox_drained(service, certificate_id: str) -> bool:
    """Return True once the relay has published every event the certificate's document holds.

    NOTE: FerretDB v1.24 (SQLite) can lose one of two concurrent updates of the same document, and
    the relay's pop of a published event is such an update. Tests let the relay finish before they
    feed the service the next event, so they check the service rather than that race.
    """
    document = await service.runtime.db["certificates"].find_one({"_id": certificate_id}, {"outbox_pending": 1})
    return document is not None and document.get("outbox_pending") is False


async def complete_review(service, infra, isolation, certificate: dict[str, Any], version: int, outcome: str,
                          reason: str | None = None,
                          role: str = "outlet_manager") -> tuple[ReviewDecisionRecorded, ReviewCompleted]:
    """Produce review-svc's decision and final outcome for ``version``, as review-svc would."""
    await wait_for(lambda: outbox_drained(service, certificate["certificate_id"]))
    review_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    common = {
        "review_id": review_id, "certificate_id": certificate["certificate_id"], "version": version,
        "engineer_id": certificate["engineer_id"],
    }
    decision = ReviewDecisionRecorded(
        producer="review-svc",
        payload=ReviewDecisionRecordedPayload(
            **common, step="outlet_review", outcome=outcome, actor_id="manager-1", actor_role=role, reason=reason,
            decided_at=now,
        ),
    )
    completed = ReviewCompleted(
        producer="review-svc",
        payload=ReviewCompletedPayload(**common, outcome=outcome, reason=reason, decided_by_role=role, completed_at=now),
    )
    for event in (decision, completed):
        await produce_review_event(infra, isolation, event)
    return decision, completed


async def produce_review_event(infra, isolation, event) -> None:
    await produce_raw(
        infra.kafka_bootstrap, isolation.topic_prefix + REVIEWS, event.model_dump_json().encode(),
        key=event.payload.engineer_id.encode(),
    )


async def events_of(infra, topic: str, event_type: str, expect: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """Read ``topic`` from the start until ``expect`` events of ``event_type`` arrived."""
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        records = await read_topic(infra.kafka_bootstrap, topic, expect=10_000, timeout_s=1.5)
        found[:] = [record_json(record) for record in records if record_json(record)["type"] == event_type]
        return len(found) >= expect

    await wait_for(enough, timeout_s=timeout_s, interval_s=0.1)
    return found


async def wait_consumed(service, infra, isolation, group: str, topic: str, count: int) -> None:
    """Wait until the service's consumer ``group`` has committed ``count`` messages of ``topic``."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def committed() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(service.settings.group(group))
        finally:
            await admin.close()
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == isolation.topic_prefix + topic) >= count

    await wait_for(committed, timeout_s=30)
