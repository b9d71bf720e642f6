"""Kafka reads and writes of the fault suite: whole topics, duplicated and malformed messages, dead letters."""

import json
import uuid
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from bangke_contracts.topics import TOPIC_NAMES, dead_letter_topic

MALFORMED_MARKER = "bangke-fault-suite"
SERVICE_HEADER = "x-dead-letter-service"


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def json(self) -> dict | None:
        try:
            body = json.loads(self.value)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None


async def _partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [
        TopicPartition(item["topic"], partition["partition"])
        for item in described
        if item.get("error_code", 0) == 0
        for partition in item["partitions"]
    ]


async def read_topics(bootstrap: str, topics: list[str]) -> list[Message]:
    """Read every message of ``topics`` from the start up to the end offsets seen at the call."""
    partitions = await _partitions(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    messages: list[Message] = []
    try:
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        pending = {tp for tp in partitions if end[tp] > 0}
        pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < end[tp]:
                        messages.append(Message(record.topic, record.partition, record.offset, record.key,
                                                record.value or b"", tuple(record.headers or ())))
            pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()
    return messages


async def all_events(bootstrap: str) -> list[Message]:
    return await read_topics(bootstrap, list(TOPIC_NAMES))


async def dead_letters(bootstrap: str) -> list[Message]:
    return await read_topics(bootstrap, [dead_letter_topic(name) for name in TOPIC_NAMES])


def malformed_values(topic: str) -> list[tuple[str, bytes]]:
    """Return (kind, value) pairs of bad messages for ``topic``, each carrying a fresh marker.

    ``bad_json`` is not JSON at all. ``wrong_schema`` is a JSON envelope with an unknown type and a
    payload without any expected field. ``wrong_version`` is a known type with schema version 99. Every consumer of the topic must move each of them to ``<topic>.dlq``.
    """
    def marker() -> str:
        return f"{MALFORMED_MARKER}-{uuid.uuid4().hex}"

    bad_json = f'{{"event_id": "{marker()}", "type": '.encode()
    wrong_schema = json.dumps({
        "event_id": str(uuid.uuid4()), "type": "fault.suite_injected", "schema_version": 1,
        "occurred_at": "2026-01-01T00:00:00Z", "producer": MALFORMED_MARKER, "correlation_id": str(uuid.uuid4()),
        "payload": {"marker": marker()},
    }).encode()
    wrong_version = json.dumps({
        "event_id": str(uuid.uuid4()), "type": "engineer.registered", "schema_version": 99,
        "occurred_at": "2026-01-01T00:00:00Z", "producer": MALFORMED_MARKER, "correlation_id": str(uuid.uuid4()),
        "payload": {"marker": marker()},
    }).encode()
    return [("bad_json", bad_json), ("wrong_schema", wrong_schema), ("wrong_version", wrong_version)]


@dataclass
class Injections:
    """Messages the fault driver produced: duplicates of real messages, and malformed ones."""

    duplicates: list[Message] = field(default_factory=list)
    malformed: list[tuple[str, str, bytes]] = field(default_factory=list)  # (topic, kind, value)


async def produce(bootstrap: str, items: list[tuple[str, bytes | None, bytes, tuple[tuple[str, bytes], ...]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, key, value, headers in items:
            await producer.send_and_wait(topic, value, key=key, headers=list(headers) or None)
    finally:
        await producer.stop()
