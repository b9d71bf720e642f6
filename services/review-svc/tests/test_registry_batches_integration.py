"""Batched registry results on the real MongoDB-protocol server: crashes, reruns, withdrawals, queues."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.clock import Clock
from bangke_runtime.serialised import SerialisedDatabase, WritePolicy, is_ferretdb
from review_svc.adapters.registry import SnapshotRegistry
from review_svc.adapters.repository import ReviewRepository
from review_svc.domain.registry import RegistryVerdict
from review_svc.domain.review import Reviewer, ReviewStatus
from review_svc.service_layer.events import review_events
from review_svc.service_layer.registry_check import RegistryCheck

from review_factories import make_record, make_task

pytestmark = pytest.mark.integration

APPROVED_AT = datetime(2025, 6, 10, 2, 0, tzinfo=UTC)
CHECK_AT = APPROVED_AT + timedelta(hours=15)
REGION = "region-1"


class CountingRegistry:
    def __init__(self, records):
        self.inner = SnapshotRegistry(records)
        self.lookups = 0

    async def lookup(self, number):
        self.lookups += 1
        return await self.inner.lookup(number)


class SimulatedCrash(Exception):
    pass


@pytest.fixture
async def repository(infra, isolation):
    client = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    name = isolation.database("review-svc-batches")
    policy = WritePolicy()
    # As the runtime does: one writer per collection, and _id-first filters on FerretDB.
    policy.serialise = policy.single_writer = await is_ferretdb(client[name])
    repository = ReviewRepository(SerialisedDatabase(client[name], policy))
    await repository.create_indexes()
    yield repository
    await client.drop_database(name)
    await client.close()


async def seed_awaiting(repository, count, *, submitted_at=APPROVED_AT - timedelta(hours=1)):
    tasks = []
    for index in range(count):
        task = make_task(
            review_id=f"review-{index}", certificate_id=f"certificate-{index}", engineer_id=f"engineer-{index}",
            number=f"T1101011990030{index:04d}X", submitted_at=submitted_at + timedelta(minutes=index),
        )
        task.status = ReviewStatus.AWAITING_REGISTRY_CHECK
        task.outlet_approved_at = APPROVED_AT
        assert await repository.add(task, str(uuid.uuid4()))
        tasks.append(task)
    return tasks


def make_check(repository, registry, batch_size=2):
    async def open_registry():
        return registry

    return RegistryCheck(
        repository, load_catalogue(), open_registry, Clock(), lambda: None,
        concurrency=4, batch_size=batch_size, progress_every=100, progress_interval_s=60,
    )


async def batch_documents(repository):
    return await repository.batches.find({}).to_list()


def event_types(batches):
    """Return (review id, event type, outcome) of every event in the batches' outboxes."""
    found = []
    for batch in batches:
        for entry in batch["outbox"]:
            event = json.loads(entry["value"])
            found.append((event["payload"]["review_id"], event["type"], event["payload"]["outcome"]))
    return found


def matching_and_missing(tasks):
    """Records for every task but the last: all match, the last is not found."""
    return [make_record(certificate_number=task.number) for task in tasks[:-1]]


async def run_crashing(monkeypatch, collection, method: str, check) -> dict:
    """Run ``check`` with ``collection.method`` dying as a killed process would; return the summary."""

    async def crash(*args, **kwargs):
        raise SimulatedCrash(f"process died at {collection.name}.{method}")

    monkeypatch.setattr(collection, method, crash, raising=False)
    try:
        return await check.run(CHECK_AT)
    finally:
        monkeypatch.undo()


async def test_crash_before_results_checks_again(repository, monkeypatch):
    tasks = await seed_awaiting(repository, 5)
    registry = CountingRegistry(matching_and_missing(tasks))

    first = await run_crashing(monkeypatch, repository.results, "insert_many", make_check(repository, registry))

    # Nothing took effect: the tasks still await the check, no event is out, three intents wait.
    assert first["failed"] == 5
    assert first["found_matching"] == 0
    assert (await repository.get("review-0")).status == ReviewStatus.AWAITING_REGISTRY_CHECK
    assert await repository.intents.count_documents({}) == 3
    assert await batch_documents(repository) == []

    rerun = await make_check(repository, registry).run(CHECK_AT)

    # The rerun clears the intents (their batches wrote nothing), then checks every task once more.
    assert rerun["recovered_batches"] == 3
    assert rerun["total"] == 5
    assert rerun["found_matching"] == 4
    assert rerun["not_found"] == 1
    assert registry.lookups == 10
    assert await repository.intents.count_documents({}) == 0
    assert (await repository.get("review-0")).status == ReviewStatus.APPROVED
    missing = await repository.get("review-4")
    assert missing.status == ReviewStatus.PENDING_SPOT_CHECK
    assert [d.outcome for d in missing.decisions] == ["not_found"]
    batches = await batch_documents(repository)
    assert sorted(b["applied"] == [] for b in batches) == [False, False, False, True, True, True]
    assert sorted(event_types(batches)) == sorted(
        [("review-" + str(i), "review.decision_recorded", "found_matching") for i in range(4)]
        + [("review-" + str(i), "review.completed", "approved") for i in range(4)]
        + [("review-4", "review.decision_recorded", "not_found")]
    )

    again = await make_check(repository, registry).run(CHECK_AT)
    assert again["total"] == 0
    assert again["recovered_batches"] == 0
    assert registry.lookups == 10


async def test_crash_after_results_publishes_events_once(repository, monkeypatch):
    tasks = await seed_awaiting(repository, 3)
    registry = CountingRegistry(matching_and_missing(tasks))

    first = await run_crashing(
        monkeypatch, repository.batches, "insert_one", make_check(repository, registry, batch_size=10)
    )

    # The results are in, so the tasks read as checked, but their events are not in any outbox yet.
    assert first["failed"] == 3
    assert (await repository.get("review-1")).status == ReviewStatus.APPROVED
    assert await repository.intents.count_documents({}) == 1
    assert await batch_documents(repository) == []

    # Start-up recovery: the result documents name this batch, so their events are rebuilt from them.
    assert await repository.recover_registry_batches() == 1
    [batch] = await batch_documents(repository)
    assert batch["applied"] == ["review-0", "review-1", "review-2"]
    assert batch["skipped"] == []
    assert batch["outbox_pending"] is True
    assert sorted(event_types([batch])) == [
        ("review-0", "review.completed", "approved"),
        ("review-0", "review.decision_recorded", "found_matching"),
        ("review-1", "review.completed", "approved"),
        ("review-1", "review.decision_recorded", "found_matching"),
        ("review-2", "review.decision_recorded", "not_found"),
    ]
    assert await repository.intents.count_documents({}) == 0

    rerun = await make_check(repository, registry).run(CHECK_AT)
    assert rerun["total"] == 0
    assert rerun["recovered_batches"] == 0
    assert registry.lookups == 3
    assert len(await batch_documents(repository)) == 1


async def test_recovery_after_spot_check_rebuilds_registry_events(repository, monkeypatch):
    tasks = await seed_awaiting(repository, 1)

    await run_crashing(monkeypatch, repository.batches, "insert_one", make_check(repository, CountingRegistry([])))
    # A training manager rejects the not-found certificate before the service restarts.
    task = await repository.get(tasks[0].review_id)
    task.reject(Reviewer("trainer-1", "training_manager", region_id=REGION), "照片模糊", CHECK_AT + timedelta(days=1))
    assert await repository.save(task, review_events(task, correlation_id=uuid.uuid4()))

    assert await repository.recover_registry_batches() == 1

    # Only the registry's own decision: the rejection's events went out with the rejection.
    [batch] = await batch_documents(repository)
    assert event_types([batch]) == [("review-0", "review.decision_recorded", "not_found")]


async def test_withdrawal_before_the_result_wins(repository):
    [task] = await seed_awaiting(repository, 1)
    assert await repository.count_awaiting_registry_check(CHECK_AT) == (1, set())
    [checked] = [t async for t in repository.awaiting_registry_check(CHECK_AT, set())]

    withdrawn = await repository.get(task.review_id)
    assert withdrawn.cancel(CHECK_AT)
    assert await repository.save(withdrawn, [], event_id="withdrawal-1")

    checked.record_registry_result(RegistryVerdict("found_matching"), CHECK_AT)
    result = (checked, review_events(checked, correlation_id=uuid.uuid4()))
    applied = await repository.store_registry_results("batch-late", [result], correlation_id=str(uuid.uuid4()), now=CHECK_AT)

    assert applied == [False]
    current = await repository.get(task.review_id)
    assert current.status == ReviewStatus.CANCELLED
    assert current.decisions == []
    [batch] = await batch_documents(repository)
    assert batch["skipped"] == [task.review_id]
    assert batch["outbox"] == []
    assert batch["outbox_pending"] is False
    assert await repository.count_awaiting_registry_check(CHECK_AT) == (0, {task.review_id})


async def test_withdrawal_after_the_result_sees_it(repository):
    [task] = await seed_awaiting(repository, 1)
    stale = await repository.get(task.review_id)
    await make_check(repository, CountingRegistry([])).run(CHECK_AT)

    # A withdrawal that read the task before the result was written loses, then cancels the spot check.
    assert stale.cancel(CHECK_AT)
    assert not await repository.save(stale, [], event_id="withdrawal-1")
    current = await repository.get(task.review_id)
    assert current.status == ReviewStatus.PENDING_SPOT_CHECK
    assert current.cancel(CHECK_AT)
    assert await repository.save(current, [], event_id="withdrawal-1")
    assert (await repository.get(task.review_id)).status == ReviewStatus.CANCELLED


async def test_queue_merges_spot_checks_of_both_collections(repository):
    early = APPROVED_AT - timedelta(days=1)
    temporary = make_task(
        review_id="temporary-1", certificate_id="certificate-t", engineer_id="engineer-t",
        kind="temporary", registry_confirmable=False, certificate_type="pre_job_training",
        submitted_at=early + timedelta(minutes=90),
    )
    temporary.status = ReviewStatus.PENDING_SPOT_CHECK
    assert await repository.add(temporary, "submitted-t")
    tasks = await seed_awaiting(repository, 3, submitted_at=early)
    await make_check(repository, CountingRegistry([make_record(certificate_number=tasks[1].number)])).run(CHECK_AT)

    trainer = Reviewer("trainer-1", "training_manager", region_id=REGION)
    query = {"status": ReviewStatus.PENDING_SPOT_CHECK.value, "region_id": REGION}
    page, total = await repository.queue(query, limit=10, offset=0)
    assert total == 3
    assert [t.review_id for t in page] == ["review-0", "review-2", "temporary-1"]
    second, _ = await repository.queue(query, limit=1, offset=2)
    assert [t.review_id for t in second] == ["temporary-1"]

    # A spot check on a checked task writes its registry_results document, with its events.
    task = page[0]
    task.approve(trainer, CHECK_AT + timedelta(days=1))
    assert await repository.save(task, review_events(task, correlation_id=uuid.uuid4()))
    stored = await repository.results.find_one({"_id": "review-0"})
    assert stored["status"] == "approved"
    assert stored["outbox_pending"] is True
    assert [d["outcome"] for d in stored["decisions"]] == ["not_found", "approved"]
    assert (await repository.collection.find_one({"_id": "review-0"}))["status"] == "awaiting_registry_check"
    after, total_after = await repository.queue(query, limit=10, offset=0)
    assert [t.review_id for t in after] == ["review-2", "temporary-1"]
    assert total_after == 2
