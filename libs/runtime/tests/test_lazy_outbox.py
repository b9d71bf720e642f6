"""Lazy clearing of outboxes, with the real relay on the shared Kafka and FerretDB.

A collection registered with ``lazy_clear`` keeps published entries in its outbox until the
document's next save drops them in its own write, or until the relay clears them once it is quiet.
"""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bangke_runtime.outbox import OutboxRelay, new_document_outbox, outbox_unchanged, with_outbox, with_trimmed_outbox
from bangke_runtime.runtime import Runtime
from harness.kafka_tools import read_topic, record_json
from harness.probe_service import ProbeSettings, build, score_event
from harness.waiting import wait_for

pytestmark = pytest.mark.integration

NEVER = 3600.0


def lazy_build(quiet_s: float = NEVER, max_age_s: float = NEVER) -> Callable[[ProbeSettings], Any]:
    """The probe service with an ``aggregates`` collection cleared lazily, registered before the relay starts."""

    def build_lazy(settings: ProbeSettings) -> Any:
        runtime, app = build(settings)
        runtime.relay.register(runtime.db["aggregates"], lazy_clear=True)
        runtime.relay.CLEAR_QUIET_S = quiet_s
        runtime.relay.CLEAR_MAX_AGE_S = max_age_s
        return runtime, app

    return build_lazy


def outbox_ids(document: dict[str, Any] | None) -> list[str]:
    assert document is not None
    return [entry["event_id"] for entry in document["outbox"]]


async def save(runtime: Runtime, document_id: str, events: list[Any], state: int) -> None:
    """A use case's save: load, then one write that drops the published entries and appends ``events``.

    No lock is held from the load, so the write is conditional on the loaded outbox: the relay may
    have cleared it meanwhile, and the save then loads again.
    """
    aggregates = runtime.db["aggregates"]
    for _attempt in range(10):
        loaded = await aggregates.find_one({"_id": document_id})
        published = runtime.relay.published_ids("aggregates", document_id)
        update = with_trimmed_outbox({"$set": {"state": state}}, loaded["outbox"], published, events)
        result = await aggregates.update_one({"_id": document_id, **outbox_unchanged(loaded["outbox"])}, update)
        if result.modified_count == 1:
            return
    raise AssertionError("the outbox kept changing under the save")


async def published(relay: OutboxRelay, document_id: str, event: Any) -> bool:
    return str(event.event_id) in relay.published_ids("aggregates", document_id)


async def exam_ids(infra: Any, isolation: Any, expect: int, timeout_s: float = 20.0) -> list[str]:
    records = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + "exams.v1", expect=expect, timeout_s=timeout_s)
    return [record_json(record)["event_id"] for record in records]


async def test_published_entry_removed_by_next_save(start_service, infra, isolation):
    probe = await start_service(lazy_build(), ProbeSettings, outbox_full_scan_interval_s=NEVER)
    runtime, aggregates = probe.runtime, probe.runtime.db["aggregates"]
    first, second = score_event("engineer-a", 81), score_event("engineer-a", 82)
    await aggregates.insert_one({"_id": "a", "state": 0, **new_document_outbox([first])})
    await wait_for(lambda: published(runtime.relay, "a", first))

    # Published, and still stored: the relay made no write of its own.
    assert outbox_ids(await aggregates.find_one({"_id": "a"})) == [str(first.event_id)]
    assert runtime.relay.clear_writes == 0

    await save(runtime, "a", [second], 1)

    stored = await aggregates.find_one({"_id": "a"})
    assert outbox_ids(stored) == [str(second.event_id)]
    assert stored["state"] == 1
    assert runtime.relay.trimmed_by_saves == 1
    assert runtime.relay.clear_writes == 0
    assert await exam_ids(infra, isolation, expect=2) == [str(first.event_id), str(second.event_id)]


async def test_unpublished_entry_never_removed(start_service, infra, isolation):
    probe = await start_service(lazy_build(), ProbeSettings, outbox_full_scan_interval_s=NEVER)
    runtime, aggregates = probe.runtime, probe.runtime.db["aggregates"]
    first, second, third, fourth = (score_event("engineer-b", 80 + index) for index in range(4))
    await aggregates.insert_one({"_id": "b", "state": 0, **new_document_outbox([first])})
    await wait_for(lambda: published(runtime.relay, "b", first))
    # Kafka acknowledges nothing more while the relay is stopped.
    await runtime.relay.stop()
    # A write that only appends: the outbox contains a published and an unpublished entry.
    await aggregates.update_one({"_id": "b"}, with_outbox({"$set": {"state": 1}}, [second]))

    await save(runtime, "b", [third], 2)

    # Only the published entry went; the unpublished one is kept, before the new one.
    assert outbox_ids(await aggregates.find_one({"_id": "b"})) == [str(second.event_id), str(third.event_id)]
    assert runtime.relay.published_ids("aggregates", "b") == set()

    await save(runtime, "b", [fourth], 3)

    assert outbox_ids(await aggregates.find_one({"_id": "b"})) == [str(e.event_id) for e in (second, third, fourth)]
    await runtime.relay.start()
    assert await exam_ids(infra, isolation, expect=4) == [str(e.event_id) for e in (first, second, third, fourth)]


async def test_quiet_relay_clears_outboxes(start_service, infra, isolation):
    probe = await start_service(lazy_build(quiet_s=0.5), ProbeSettings, outbox_full_scan_interval_s=NEVER)
    runtime, aggregates = probe.runtime, probe.runtime.db["aggregates"]
    events = [score_event(f"engineer-{index}", 90) for index in range(3)]
    for index, event in enumerate(events):
        await aggregates.insert_one({"_id": f"q{index}", "state": 0, **new_document_outbox([event])})

    async def all_empty() -> bool:
        documents = [document async for document in aggregates.find({})]
        return len(documents) == 3 and all(d["outbox"] == [] and d["outbox_pending"] is False for d in documents)

    await wait_for(all_empty, timeout_s=20)

    assert runtime.relay.clear_writes == 3
    assert runtime.relay.uncleared_documents() == 0
    assert sorted(await exam_ids(infra, isolation, expect=3)) == sorted(str(e.event_id) for e in events)


async def test_old_entries_cleared_under_load(start_service, infra, isolation):
    probe = await start_service(lazy_build(max_age_s=0.5), ProbeSettings, outbox_full_scan_interval_s=NEVER)
    runtime, aggregates = probe.runtime, probe.runtime.db["aggregates"]
    event = score_event("engineer-old", 85)
    await aggregates.insert_one({"_id": "old", "state": 0, **new_document_outbox([event])})
    await wait_for(lambda: published(runtime.relay, "old", event))
    # Keep the relay busy, new work every 0.1 s: it is never quiet, so only the age bound clears the entry.
    for _step in range(30):
        runtime.relay.kick()
        if (await aggregates.find_one({"_id": "old"}))["outbox"] == []:
            break
        await asyncio.sleep(0.1)

    assert (await aggregates.find_one({"_id": "old"}))["outbox"] == []
    assert runtime.relay.clear_writes == 1


async def committed(infra: Any, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return sum(meta.offset for meta in offsets.values() if meta.offset > 0)
    finally:
        await admin.close()


async def test_restart_republishes_leftover_once(start_service, infra, isolation):
    # The probe service adds each exam score to a total with apply_once, so it ignores a duplicate.
    settings = {"outbox_full_scan_interval_s": 0.3}
    first = await start_service(lazy_build(), ProbeSettings, **settings)
    aggregates = first.runtime.db["aggregates"]
    event = score_event("engineer-restart", 88)
    await aggregates.insert_one({"_id": "r", "state": 0, **new_document_outbox([event])})
    totals = first.runtime.db["totals"]
    await wait_for(lambda: totals.find_one({"_id": "engineer-restart", "count": 1}))
    # Scans every 0.3 s skip the entry this process has seen acknowledged.
    await asyncio.sleep(1.0)
    assert await exam_ids(infra, isolation, expect=2, timeout_s=3) == [str(event.event_id)]
    assert outbox_ids(await aggregates.find_one({"_id": "r"})) == [str(event.event_id)]
    await first.stop()

    second = await start_service(lazy_build(quiet_s=1.0), ProbeSettings, **settings)
    aggregates = second.runtime.db["aggregates"]
    stored = await wait_for(lambda: aggregates.find_one({"_id": "r", "outbox_pending": False}))

    assert stored["outbox"] == []
    # Published once more after the restart, and not again by the scans before the clear.
    assert await exam_ids(infra, isolation, expect=3, timeout_s=3) == [str(event.event_id)] * 2

    async def both_consumed() -> bool:
        return await committed(infra, isolation.topic_prefix + "probe-totals") >= 2

    # The consumer committed past the duplicate, and its total counts the score once.
    await wait_for(both_consumed)
    total = await second.runtime.db["totals"].find_one({"_id": "engineer-restart"})
    assert (total["count"], total["score_sum"]) == (1, 88)


async def test_entries_published_in_order_per_document(start_service, infra, isolation):
    probe = await start_service(lazy_build(quiet_s=0.2), ProbeSettings, outbox_full_scan_interval_s=0.5)
    runtime, aggregates = probe.runtime, probe.runtime.db["aggregates"]
    events = [score_event("engineer-order", 80 + index) for index in range(12)]
    await aggregates.insert_one({"_id": "o", "state": 0, **new_document_outbox(events[:1])})
    # Saves race the relay's publishing and its quiet-time clears; some carry two events.
    index, state = 1, 0
    while index < len(events):
        batch = events[index : index + 1 + index % 2]
        state += 1
        await save(runtime, "o", batch, state)
        runtime.relay.kick()
        index += len(batch)
        if index % 3 == 0:
            await asyncio.sleep(0.3)

    assert await exam_ids(infra, isolation, expect=len(events)) == [str(e.event_id) for e in events]
    stored = await wait_for(lambda: aggregates.find_one({"_id": "o", "outbox_pending": False}))
    assert stored["outbox"] == []
