"""Delivery guarantees of the shared runtime on real Kafka and FerretDB.

At least once delivery with exactly-once effects: a consumer killed after storing its work but before
committing sees the event again and applies nothing twice; a malformed message goes to the
dead-letter topic with the error in its headers while the next message is still handled; the outbox
relay publishes what a use case wrote into the aggregate document.
"""

import asyncio
import os
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from bangke_contracts.topics import EXAMS, dead_letter_topic
from bangke_runtime.kafka import HEADER_ATTEMPTS, HEADER_ERROR, HEADER_ERROR_TYPE
from bangke_runtime.outbox import new_document_outbox
from harness.kafka_tools import produce_raw, read_topic, record_json
from harness.probe_service import ProbeSettings, build, score_event
from harness.services import ChildService, settings_env
from harness.waiting import wait_for

pytestmark = pytest.mark.integration


async def test_outbox_relay_publishes_event(start_service, infra, isolation):
    probe = await start_service(build, ProbeSettings)
    event = score_event("engineer-outbox", 91)
    holders = probe.runtime.db["holders"]
    probe.runtime.relay.register(holders)

    await holders.insert_one({"_id": "holder-1", "state": "stored", **new_document_outbox([event])})
    probe.runtime.relay.kick()

    records = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + EXAMS, expect=1)
    assert [record_json(r)["event_id"] for r in records] == [str(event.event_id)]
    assert records[0].key == b"engineer-outbox"
    stored = await wait_for(lambda: holders.find_one({"_id": "holder-1", "outbox_pending": False}))
    assert stored["outbox"] == []


async def test_malformed_message_is_dead_lettered(start_service, infra, isolation):
    probe = await start_service(build, ProbeSettings)
    topic = isolation.topic_prefix + EXAMS
    totals = probe.runtime.db["totals"]

    await produce_raw(infra.kafka_bootstrap, topic, b'{"type": "exam.score_collected", "payload": 12', key=b"engineer-x")
    valid = score_event("engineer-next", 85)
    await produce_raw(infra.kafka_bootstrap, topic, valid.model_dump_json().encode(), key=b"engineer-next")

    total = await wait_for(lambda: totals.find_one({"_id": "engineer-next"}))
    assert total["count"] == 1
    dead = await read_topic(infra.kafka_bootstrap, dead_letter_topic(topic), expect=1)
    assert len(dead) == 1
    headers = {name: value.decode() for name, value in dead[0].headers}
    assert headers[HEADER_ERROR_TYPE] == "ValidationError"
    assert headers[HEADER_ATTEMPTS] == "1"
    assert "on_exam_score" in headers[HEADER_ERROR]
    assert dead[0].value.startswith(b'{"type": "exam.score_collected"')


async def test_unknown_schema_version_is_dead_lettered(start_service, infra, isolation):
    probe = await start_service(build, ProbeSettings)
    topic = isolation.topic_prefix + EXAMS
    future = score_event("engineer-v2", 90).model_dump(mode="json")
    future["schema_version"] = 2

    import json

    await produce_raw(infra.kafka_bootstrap, topic, json.dumps(future).encode(), key=b"engineer-v2")

    dead = await read_topic(infra.kafka_bootstrap, dead_letter_topic(topic), expect=1)
    assert len(dead) == 1
    assert await probe.runtime.db["totals"].find_one({"_id": "engineer-v2"}) is None


async def test_killed_consumer_applies_event_once(settings_factory, topics, infra, isolation, tmp_path: Path):
    settings = settings_factory(ProbeSettings)
    hang_file = tmp_path / "hang"
    hang_file.write_text("hang after store")
    tests_dir = str(Path(__file__).resolve().parents[1])
    env = {
        **settings_env(settings),
        "BANGKE_PROBE_HANG_FILE": str(hang_file),
        "PYTHONPATH": os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")])),
    }
    child = ChildService("harness.probe_service", env, tmp_path / "probe.log")
    mongo = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    totals = mongo[settings.database_name]["totals"]
    event = score_event("engineer-crash", 88)
    try:
        child.start()
        await produce_raw(
            infra.kafka_bootstrap, isolation.topic_prefix + EXAMS, event.model_dump_json().encode(), key=b"engineer-crash"
        )
        stored_marker = Path(str(hang_file) + ".stored")
        await wait_for(lambda: asyncio.sleep(0, stored_marker.exists()), timeout_s=90)

        # The effect is stored but the offset is not committed: kill -9 now.
        child.kill()
        assert (await totals.find_one({"_id": "engineer-crash"}))["count"] == 1

        hang_file.unlink()
        stored_marker.unlink()
        restarted = ChildService("harness.probe_service", env, tmp_path / "probe-restart.log")
        restarted.start()
        try:
            # The restarted consumer receives the uncommitted event again and skips it.
            await wait_for(lambda: _committed(infra.kafka_bootstrap, settings.group("probe-totals"), isolation.topic_prefix + EXAMS), timeout_s=90)
            document = await totals.find_one({"_id": "engineer-crash"})
            assert document["count"] == 1
            assert document["score_sum"] == 88
            assert document["processed_events"] == [str(event.event_id)]
        finally:
            restarted.stop()
    finally:
        child.stop()
        await mongo.close()
    log_text = (tmp_path / "probe-restart.log").read_text(errors="replace")
    assert "Traceback" not in log_text, log_text[-3000:]
    assert "probe.skipped_duplicate" in log_text, "the restarted consumer never saw the event again"
    assert "probe.applied" not in log_text


async def _committed(bootstrap: str, group: str, topic: str) -> bool:
    """Return True once ``group`` has committed an offset past the first record of ``topic``."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return any(tp.topic == topic and meta.offset >= 1 for tp, meta in offsets.items())


async def test_dead_letter_replay_reaches_consumer_once(start_service, infra, isolation):
    from bangke_runtime.dead_letters import list_dead_letters, replay_dead_letters

    probe = await start_service(build, ProbeSettings)
    topic = isolation.topic_prefix + EXAMS
    totals = probe.runtime.db["totals"]
    event = score_event("engineer-replay", 82)
    # A valid event that was dead-lettered earlier, for example while a bug was being fixed.
    await produce_raw(
        infra.kafka_bootstrap,
        dead_letter_topic(topic),
        event.model_dump_json().encode(),
        key=b"engineer-replay",
    )
    assert await list_dead_letters(infra.kafka_bootstrap, topic) == 1

    assert await replay_dead_letters(infra.kafka_bootstrap, topic) == 1
    assert await replay_dead_letters(infra.kafka_bootstrap, topic) == 0

    total = await wait_for(lambda: totals.find_one({"_id": "engineer-replay"}))
    assert total["count"] == 1
