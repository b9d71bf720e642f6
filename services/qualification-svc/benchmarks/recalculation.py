"""Benchmark: qualification recalculation throughput beside raw Kafka and raw FerretDB rates.

Run against the local servers (the test stack by default):

    uv run --frozen python services/qualification-svc/benchmarks/recalculation.py --engineers 1000

It measures, in one run and on isolated topics and databases:

1. raw Kafka consume rate: one consumer reads N pre-produced messages of the same size as a
   certificate event;
2. raw FerretDB update rate: N sequential ``update_one`` calls, one per document, from one client,
   measured before and after the recalculation (the mean of both is compared);
3. recalculation: N engineers each hold a granted qualification; N ``certificate.took_effect``
   renewals (K per engineer with ``--events-per-engineer K``) go onto Kafka, and the clock stops when
   every qualification has its new validity stored and every ``qualification.validity_changed``
   event has been published by the outbox relay.

The relay clears published outbox entries lazily: the engineer's next save drops them, and the relay
clears the rest once it has had no new work for a second. Deferred work is not saved work, so the
script also reports the relay's clear writes inside the measured window and the published entries
that saves dropped. It then reports the outbox entries left when the window closed, and the time and
the clear writes it took afterwards until every outbox was empty.

The target is a recalculation rate of at least half of the slower raw rate. Each figure is printed
with the load average at the time, because other work on the machine lowers every rate.
"""

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, date, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from bangke_contracts.certificates import CertificateTookEffect, CertificateTookEffectPayload
from bangke_contracts.topics import all_topic_specs
from qualification_svc.adapters.repository import state_fields
from qualification_svc.bootstrap import build
from qualification_svc.domain.model import Engineer, Qualification, Status
from qualification_svc.domain.validity import HeldCertificate
from qualification_svc.settings import QualificationSettings

OLD_EXPIRY = date(2027, 6, 30)
NEW_EXPIRY = date(2033, 6, 30)


def renewal(engineer_id: str, step: int = 1) -> CertificateTookEffect:
    """Build the ``step``-th renewal of the engineer's certificate, which moves the validity a year on."""
    return CertificateTookEffect(
        producer="certificate-svc",
        payload=CertificateTookEffectPayload(
            certificate_id=f"{engineer_id}-rac", version=1 + step, engineer_id=engineer_id,
            certificate_type="refrigeration_ac", issued_on=date(2026, 1, 1),
            expires_on=NEW_EXPIRY.replace(year=NEW_EXPIRY.year + step - 1),
            replaces_version=step, took_effect_at=datetime.now(UTC),
        ),
    )


def seeded_engineer(engineer_id: str) -> dict:
    engineer = Engineer(
        engineer_id, "provider-1", f"outlet-{int(engineer_id[-3:]) % 20}", "region-1", "测试", True,
        certificates=[HeldCertificate(f"{engineer_id}-rac", 1, "refrigeration_ac", OLD_EXPIRY)],
        qualifications=[
            Qualification(
                qualification_id=uuid.uuid4().hex, qualification_type="ac_repair",
                required_certificates=("refrigeration_ac",), status=Status.GRANTED,
                applied_at=datetime.now(UTC), granted_at=datetime.now(UTC), valid_until=OLD_EXPIRY,
                limiting_certificate_type="refrigeration_ac", limiting_certificate_id=f"{engineer_id}-rac",
                passed_score=90,
            )
        ],
    )
    return {"_id": engineer_id, "revision": 1, **state_fields(engineer), "processed_events": [],
            "outbox": [], "outbox_pending": False}


async def create_topics(bootstrap: str, prefix: str, extra: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [NewTopic(s.name, s.partitions, 1) for s in all_topic_specs(prefix)]
        topics += [NewTopic(name, 6, 1) for name in extra]
        await admin.create_topics(topics)
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        await send_all(producer, topic, messages)
    finally:
        await producer.stop()


async def send_all(producer: AIOKafkaProducer, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    futures = [await producer.send(topic, value, key=key) for key, value in messages]
    await asyncio.gather(*futures)


async def raw_kafka_rate(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    await produce(bootstrap, topic, messages)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    try:
        received = 0
        started: float | None = None
        while received < len(messages):
            batch = await consumer.getmany(timeout_ms=1000)
            if batch and started is None:
                started = time.perf_counter()
            received += sum(len(records) for records in batch.values())
        await consumer.commit()
        assert started is not None
        # Timed from the first fetched batch, so the group join is not counted.
        return received / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def raw_mongo_rate(mongo_uri: str, database: str, documents: list[dict]) -> float:
    client = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        collection = client[database]["raw_updates"]
        await collection.insert_many([{**d, "_id": d["_id"]} for d in documents])
        started = time.perf_counter()
        for document in documents:
            await collection.update_one({"_id": document["_id"]}, {"$set": {"certificates.0.expires_on": "2033-06-30"}})
        return len(documents) / (time.perf_counter() - started)
    finally:
        await client.drop_database(database)
        await client.close()


async def outbox_left(engineers) -> tuple[int, int]:
    """Return the outbox entries left in the engineers collection, and the documents holding them."""
    entries = documents = 0
    async for document in engineers.find({}, {"outbox": 1}):
        left = len(document.get("outbox") or [])
        entries += left
        documents += 1 if left else 0
    return entries, documents


async def recalculation_rate(settings: QualificationSettings, engineer_ids: list[str], per_engineer: int) -> float:
    runtime, _app = build(settings)
    engineers = runtime.db["engineers"]
    await engineers.insert_many([seeded_engineer(engineer_id) for engineer_id in engineer_ids])
    await runtime.start()
    await runtime.wait_started(120)
    # Let the consumer groups finish joining before the clock starts.
    await asyncio.sleep(3)
    try:
        # Renewals of one engineer follow each other in order, interleaved with other engineers'.
        events = [renewal(engineer_id, step) for step in range(1, per_engineer + 1) for engineer_id in engineer_ids]
        relay = runtime.relay
        clears_before, trimmed_before = relay.clear_writes, relay.trimmed_by_saves
        # The producer connects before the clock starts (it takes a few milliseconds, printed below).
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
        connecting = time.perf_counter()
        await producer.start()
        print(f"producer start-up:            {time.perf_counter() - connecting:.3f} s (outside the window)")
        try:
            started = time.perf_counter()
            await send_all(
                producer, settings.topic("certificates.v1"),
                [(e.key().encode(), e.model_dump_json().encode()) for e in events],
            )
            # Every renewal changes the validity, so each one publishes one qualification event.
            while runtime.relay.published < len(events):
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
        finally:
            await producer.stop()
        clears_in_window = relay.clear_writes - clears_before
        trimmed_in_window = relay.trimmed_by_saves - trimmed_before
        # Counted after the clock stopped, so the reads below are not part of the window.
        left, left_documents = await outbox_left(engineers)
        final = NEW_EXPIRY.replace(year=NEW_EXPIRY.year + per_engineer - 1).isoformat()
        updated = await engineers.count_documents({"qualifications.valid_until": final})
        assert updated == len(engineer_ids), f"only {updated} of {len(engineer_ids)} qualifications recalculated"
        print(f"inside the window:            {clears_in_window} clear writes by the relay, "
              f"{trimmed_in_window} published entries dropped by saves")
        print(f"at the end of the window:     {left} outbox entries left in {left_documents} documents "
              f"(published, cleared later)")
        # The deferred clears: the relay clears once it has had no new work for CLEAR_QUIET_S.
        quiet_started, clears_after = time.perf_counter(), relay.clear_writes
        while left and time.perf_counter() - quiet_started < 120:
            await asyncio.sleep(0.5)
            left, left_documents = await outbox_left(engineers)
        print(f"after the window:             {relay.clear_writes - clears_after} clear writes emptied the outboxes "
              f"in {time.perf_counter() - quiet_started:.1f} s ({left} entries left)   {load_average()}")
        return len(events) / elapsed
    finally:
        await runtime.stop()
        client = AsyncMongoClient(settings.mongo_uri.get_secret_value())
        await client.drop_database(settings.database_name)
        await client.close()


def load_average() -> str:
    """Format the 1, 5 and 15 minute load averages, because other work on the machine lowers every rate."""
    one, five, fifteen = os.getloadavg()
    return f"(load average {one:.2f} {five:.2f} {fifteen:.2f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engineers", type=int, default=1000, help="Engineers, renewals and raw messages per measurement.")
    parser.add_argument(
        "--events-per-engineer", type=int, default=1,
        help="Renewals per engineer in the recalculation run; above 1, one engineer's events can share a write.",
    )
    parser.add_argument("--kafka", default=os.environ.get("BANGKE_TEST_KAFKA", "127.0.0.1:29092"))
    parser.add_argument("--mongo", default=os.environ.get("BANGKE_TEST_MONGO_URI", "mongodb://127.0.0.1:27027/"))
    args = parser.parse_args()

    token = uuid.uuid4().hex[:8]
    prefix = f"bench{token}."
    raw_topic = f"{prefix}raw"
    await create_topics(args.kafka, prefix, [raw_topic])
    engineer_ids = [f"bench-eng-{index:06d}" for index in range(args.engineers)]
    sample = [(e.key().encode(), e.model_dump_json().encode()) for e in map(renewal, engineer_ids)]

    print(f"engineers / events:           {args.engineers} / {args.engineers * args.events_per_engineer}")
    kafka_rate = await raw_kafka_rate(args.kafka, raw_topic, sample)
    print(f"raw Kafka consume rate:       {kafka_rate:10.0f} messages/s   {load_average()}", flush=True)
    seeded = [seeded_engineer(i) for i in engineer_ids]
    mongo_before = await raw_mongo_rate(args.mongo, f"bench{token}_raw1", seeded)
    print(f"raw FerretDB update rate:     {mongo_before:10.0f} updates/s    {load_average()} (before)", flush=True)
    settings = QualificationSettings(
        environment="test", kafka_bootstrap=args.kafka, mongo_uri=args.mongo, topic_prefix=prefix,
        consumer_group_prefix=prefix, mongo_database=f"bench{token}_qualification", log_level="WARNING",
        lapse_sweep_enabled=False, outbox_poll_interval_s=0.2,
    )
    recalc_rate = await recalculation_rate(settings, engineer_ids, args.events_per_engineer)
    print(f"recalculation throughput:     {recalc_rate:10.0f} events/s (stored and published)   {load_average()}")
    # Measured again after the recalculation, because the load of a shared machine changes within a run.
    # The recalculation is compared with the mean of both FerretDB rates.
    mongo_after = await raw_mongo_rate(args.mongo, f"bench{token}_raw2", seeded)
    print(f"raw FerretDB update rate:     {mongo_after:10.0f} updates/s    {load_average()} (after)", flush=True)
    mongo_rate = (mongo_before + mongo_after) / 2

    slower = min(kafka_rate, mongo_rate)
    print(f"raw FerretDB update rate:     {mongo_rate:10.0f} updates/s    (mean of before and after)")
    print(f"ratio to slower raw rate:     {recalc_rate / slower:10.2f} (target >= 0.50)")


if __name__ == "__main__":
    asyncio.run(main())
