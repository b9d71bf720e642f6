"""Inspect and replay dead letters: ``python -m bangke_runtime.dead_letters list|replay TOPIC``.

``list`` prints each dead letter of ``TOPIC.dlq`` with its error and attempt count and does not move
any offset. ``replay`` publishes each dead letter back to the topic it came from (header
``x-original-topic``) and commits its position in the consumer group ``bangke-dead-letter-replay``,
so running it twice replays nothing twice. Fix the cause first: a replayed message that fails again
comes back to the dead-letter topic.
"""

import argparse
import asyncio
import json
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from bangke_contracts.topics import dead_letter_topic

from .kafka import HEADER_ATTEMPTS, HEADER_ERROR, HEADER_ERROR_TYPE, HEADER_ORIGINAL_TOPIC
from .logging import redact

REPLAY_GROUP = "bangke-dead-letter-replay"


async def _consume_all(consumer: AIOKafkaConsumer):
    """Yield records until the end of every partition known at the start."""
    partitions = consumer.assignment()
    end_offsets = await consumer.end_offsets(list(partitions))
    while True:
        positions = {tp: await consumer.position(tp) for tp in partitions}
        if all(positions[tp] >= end_offsets[tp] for tp in partitions):
            return
        batch = await consumer.getmany(timeout_ms=1000)
        for records in batch.values():
            for record in records:
                yield record


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if not described or described[0].get("error_code", 0) != 0:
        raise SystemExit(f"topic {topic} does not exist")
    return sorted(partition["partition"] for partition in described[0]["partitions"])


async def _assigned_consumer(bootstrap: str, topic: str, group: str | None) -> AIOKafkaConsumer:
    partitions = await _partitions(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    consumer.assign([TopicPartition(topic, partition) for partition in partitions])
    return consumer


def _headers(record) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in (record.headers or ())}


async def list_dead_letters(bootstrap: str, topic: str) -> int:
    consumer = await _assigned_consumer(bootstrap, dead_letter_topic(topic), None)
    count = 0
    try:
        async for record in _consume_all(consumer):
            headers = _headers(record)
            count += 1
            print(
                json.dumps(
                    {
                        "partition": record.partition,
                        "offset": record.offset,
                        "error_type": headers.get(HEADER_ERROR_TYPE),
                        "error": redact(headers.get(HEADER_ERROR, ""))[:300],
                        "attempts": headers.get(HEADER_ATTEMPTS),
                        "original_topic": headers.get(HEADER_ORIGINAL_TOPIC),
                        "value": redact(record.value.decode(errors="replace"))[:300],
                    },
                    ensure_ascii=False,
                )
            )
    finally:
        await consumer.stop()
    print(f"{count} dead letters in {dead_letter_topic(topic)}", file=sys.stderr)
    return count


async def replay_dead_letters(bootstrap: str, topic: str) -> int:
    source = dead_letter_topic(topic)
    consumer = await _assigned_consumer(bootstrap, source, REPLAY_GROUP)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    replayed = 0
    try:
        async for record in _consume_all(consumer):
            target = _headers(record).get(HEADER_ORIGINAL_TOPIC) or topic
            await producer.send_and_wait(target, record.value, key=record.key)
            await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})
            replayed += 1
            if replayed % 100 == 0:
                print(f"replayed {replayed}", file=sys.stderr)
    finally:
        await producer.stop()
        await consumer.stop()
    print(f"replayed {replayed} dead letters from {source}", file=sys.stderr)
    return replayed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bangke_runtime.dead_letters", description=__doc__)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("topic", help="the original topic, e.g. certificates.v1 (its .dlq twin is read)")
    parser.add_argument("--bootstrap", default="127.0.0.1:19092", help="Kafka bootstrap servers (host:port)")
    args = parser.parse_args(argv)
    if args.command == "list":
        asyncio.run(list_dead_letters(args.bootstrap, args.topic))
    else:
        asyncio.run(replay_dead_letters(args.bootstrap, args.topic))


if __name__ == "__main__":
    main()
