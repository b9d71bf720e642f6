"""The registry check job with an in-memory repository: bounded concurrency, outcomes, reruns."""

import asyncio
from datetime import UTC, datetime, timedelta

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.clock import Clock
from review_svc.adapters.registry import SnapshotRegistry
from review_svc.domain.review import ReviewStatus
from review_svc.service_layer.registry_check import RegistryCheck

from review_factories import make_record, make_task

APPROVED_AT = datetime(2025, 6, 10, 2, 0, tzinfo=UTC)


class MemoryRepository:
    """The repository methods the check uses, over a dict; a batch is applied whole."""

    def __init__(self, tasks):
        self.tasks = {task.review_id: task for task in tasks}
        self.saved_events = []
        self.batch_sizes = []

    def _awaiting(self, approved_before):
        return [
            t for t in self.tasks.values()
            if t.status == ReviewStatus.AWAITING_REGISTRY_CHECK and t.outlet_approved_at <= approved_before
        ]

    async def count_awaiting_registry_check(self, approved_before):
        return len(self._awaiting(approved_before)), set()

    async def awaiting_registry_check(self, approved_before, left):
        for task in self._awaiting(approved_before):
            yield task

    async def recover_registry_batches(self):
        return 0

    async def store_registry_results(self, batch_id, results, *, correlation_id, now):
        self.batch_sizes.append(len(results))
        for task, events in results:
            self.saved_events.extend(events)
            task.new_decisions.clear()
        return [True] * len(results)


class CountingRegistry:
    def __init__(self, inner, fail_numbers=()):
        self.inner = inner
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_numbers = set(fail_numbers)

    async def lookup(self, number):
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            if number in self.fail_numbers:
                raise TimeoutError("registry timed out")
            return await self.inner.lookup(number)
        finally:
            self.in_flight -= 1


def awaiting_task(index):
    task = make_task(review_id=f"review-{index}", number=f"T1101011990030{index:04d}X", engineer_id=f"e-{index}")
    task.status = ReviewStatus.AWAITING_REGISTRY_CHECK
    task.outlet_approved_at = APPROVED_AT
    return task


async def test_check_bounds_concurrency_and_counts_outcomes():
    tasks = [awaiting_task(i) for i in range(60)]
    records = [make_record(certificate_number=t.number) for t in tasks[:40]]
    records += [make_record(certificate_number=t.number, name="李四") for t in tasks[40:50]]
    registry = CountingRegistry(SnapshotRegistry(records), fail_numbers={tasks[59].number})
    repository = MemoryRepository(tasks)

    async def open_registry():
        return registry

    check = RegistryCheck(
        repository, load_catalogue(), open_registry, Clock(), lambda: None,
        concurrency=8, batch_size=16, progress_every=10, progress_interval_s=60,
    )

    result = await check.run(APPROVED_AT + timedelta(hours=15))

    assert registry.max_in_flight == 8
    assert result["total"] == 60
    assert result["found_matching"] == 40
    assert result["mismatch"] == 10
    assert result["not_found"] == 9
    assert result["failed"] == 1
    assert tasks[59].status == ReviewStatus.AWAITING_REGISTRY_CHECK
    assert tasks[0].status == ReviewStatus.APPROVED
    assert tasks[45].status == ReviewStatus.PENDING_SPOT_CHECK
    assert len(repository.saved_events) == 40 * 2 + 10 + 9
    assert repository.batch_sizes == [16, 16, 16, 11]

    rerun = await check.run(APPROVED_AT + timedelta(hours=15))
    assert rerun["total"] == 1
    assert rerun["failed"] == 1


async def test_check_skips_without_snapshot():
    async def no_registry():
        return None

    check = RegistryCheck(
        MemoryRepository([awaiting_task(1)]), load_catalogue(), no_registry, Clock(), lambda: None,
        concurrency=4, batch_size=16, progress_every=10, progress_interval_s=60,
    )

    assert (await check.run(APPROVED_AT))["status"] == "skipped"


async def test_check_leaves_later_approvals():
    later = awaiting_task(2)
    later.outlet_approved_at = APPROVED_AT + timedelta(days=1)
    repository = MemoryRepository([later])

    async def open_registry():
        return SnapshotRegistry([])

    check = RegistryCheck(
        repository, load_catalogue(), open_registry, Clock(), lambda: None,
        concurrency=4, batch_size=16, progress_every=10, progress_interval_s=60,
    )

    assert (await check.run(APPROVED_AT))["total"] == 0
    assert later.status == ReviewStatus.AWAITING_REGISTRY_CHECK
