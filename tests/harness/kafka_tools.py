"""Kafka helpers for tests: create a prefixed copy of every topic, read and write raw messages."""

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bangke_contracts.topics import all_topic_specs


TEST_PARTITIONS = 2
"""Partitions of each test topic: more than one, so ordering by key is exercised, and few, because a
test run creates a set of topics per test and each partition costs the broker heap."""


async def create_topics(bootstrap: str, prefix: str) -> list[str]:
    """Create every contract topic and its dead-letter twin under ``prefix``; return their names."""
    specs = all_topic_specs(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(spec.name, min(spec.partitions, TEST_PARTITIONS), 1, topic_configs={"retention.ms": str(spec.retention_ms)})
            for spec in specs
            if spec.name not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        await _wait_for_leaders(admin, [spec.name for spec in specs])
    finally:
        await admin.close()
    return [spec.name for spec in specs]


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete a test's topics, so that a long test run does not pile up partitions in the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """Wait until every partition of ``names`` has a leader, so clients see no NotLeader errors."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        if all(
            topic.get("error_code", 0) == 0
            and topic.get("partitions")
            and all(partition.get("leader", -1) >= 0 for partition in topic["partitions"])
            for topic in described
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics without leaders after {timeout_s} s: {names}")
        await asyncio.sleep(0.2)


async def produce_raw(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 20.0) -> list[Any]:
    """Read ``topic`` from the beginning until ``expect`` records arrived or the timeout passed."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


def record_json(record: Any) -> dict[str, Any]:
    return json.loads(record.value)
