"""Benchmark of the nightly registry check on a real MongoDB-protocol server (FerretDB locally).

Seeds N outlet-approved long-term review tasks into a throw-away database. Then it runs the
registry check against a snapshot adapter that sleeps a fixed time per look-up, as a slow online
registry would, and prints the elapsed time and the rate. A second run shows that a rerun finds nothing
left to do. The outbox relay is not running, so the figures are the check's own work: look-ups,
comparisons and the batched result writes (publishing the events is the relay's work). Afterwards
it times what a training manager then does on the full collections: one page of their queue, one
task read by id, and one spot-check approval.

    . /tmp/pre/env.sh   # or set BANGKE_TEST_MONGO_URI
    uv run --frozen python services/review-svc/benchmarks/registry_check.py --count 100000 --concurrency 64

``--store memory`` replaces the database with an in-memory repository, which measures the look-up
pipeline alone (concurrency, comparison, progress) at sizes the database cannot reach in time.
"""

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.clock import Clock
from bangke_runtime.logging import configure_logging
from bangke_runtime.personal_data import make_id_number
from bangke_runtime.serialised import SerialisedDatabase, WritePolicy, is_ferretdb
from review_svc.adapters.registry import SnapshotRegistry
from review_svc.adapters.repository import ReviewRepository, to_document
from review_svc.domain.registry import RegistryRecord
from review_svc.domain.review import Reviewer, ReviewStatus, ReviewTask
from review_svc.service_layer.registry_check import RegistryCheck

APPROVED_AT = datetime(2025, 6, 10, 10, 0, tzinfo=UTC)
SEED_BATCH = 1000


class MemoryRepository:
    """The repository methods the check uses, over a dict: no database cost at all."""

    def __init__(self, tasks: list[ReviewTask]) -> None:
        self.tasks = {task.review_id: task for task in tasks}

    def _awaiting(self, approved_before: datetime) -> list[ReviewTask]:
        return [
            task for task in self.tasks.values()
            if task.status == ReviewStatus.AWAITING_REGISTRY_CHECK and task.outlet_approved_at <= approved_before
        ]

    async def count_awaiting_registry_check(self, approved_before: datetime) -> tuple[int, set[str]]:
        return len(self._awaiting(approved_before)), set()

    async def awaiting_registry_check(self, approved_before: datetime, left: set[str]) -> AsyncIterator[ReviewTask]:
        for task in self._awaiting(approved_before):
            yield task

    async def recover_registry_batches(self) -> int:
        return 0

    async def store_registry_results(self, batch_id: str, results: list[Any], **_: Any) -> list[bool]:
        for task, _ in results:
            task.revision += 1
            task.new_decisions.clear()
        return [True] * len(results)


class SleepingRegistry:
    """A snapshot registry that takes ``delay_s`` per look-up, like a remote service would."""

    def __init__(self, inner: SnapshotRegistry, delay_s: float) -> None:
        self._inner = inner
        self._delay_s = delay_s

    async def lookup(self, number: str) -> list[RegistryRecord]:
        await asyncio.sleep(self._delay_s)
        return await self._inner.lookup(number)


def make_task(index: int) -> ReviewTask:
    holder_id = make_id_number("110101", date(1960, 1, 1) + timedelta(days=index // 1000), index % 1000)
    return ReviewTask(
        review_id=f"bench-{index:07d}",
        certificate_id=f"cert-{index:07d}",
        version=1,
        engineer_id=f"engineer-{index:07d}",
        outlet_id=f"outlet-{index % 500}",
        region_id=f"region-{index % 20}",
        certificate_type="low_voltage_electrician",
        kind="long_term",
        registry_confirmable=True,
        number="T" + holder_id,
        holder_name=f"测试{index}",
        holder_id_number=holder_id,
        issued_on=date(2024, 3, 1),
        expires_on=date(2030, 2, 28),
        photo_keys=(f"photos/{index}/front.jpg",),
        number_held_by=(),
        renewal=False,
        submitted_at=APPROVED_AT - timedelta(hours=1),
        status=ReviewStatus.AWAITING_REGISTRY_CHECK,
        outlet_approved_at=APPROVED_AT,
    )


def registry_records(tasks: list[ReviewTask]) -> list[RegistryRecord]:
    """Return records for 80 % matching, 10 % mismatching (other end date) and 10 % missing certificates."""
    records = []
    for index, task in enumerate(tasks):
        if index % 10 == 9:
            continue
        records.append(
            RegistryRecord(
                name=task.holder_name,
                certificate_number=task.number,
                operation_category="电工作业",
                operation_item="低压电工作业",
                validity_start=task.issued_on,
                validity_end=task.expires_on if index % 10 != 8 else task.expires_on - timedelta(days=1),
                status="有效",
            )
        )
    return records


async def seed(repository: ReviewRepository, tasks: list[ReviewTask]) -> float:
    started = time.monotonic()
    for start in range(0, len(tasks), SEED_BATCH):
        batch = [
            {**to_document(task), "processed_events": [], "outbox": [], "outbox_pending": False}
            for task in tasks[start : start + SEED_BATCH]
        ]
        await repository.collection.insert_many(batch, ordered=False)
    return time.monotonic() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="Review tasks to seed and check.")
    parser.add_argument("--concurrency", type=int, default=64, help="Registry look-ups in flight at once.")
    parser.add_argument("--batch-size", type=int, default=250, help="Results written per batch document.")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="Time each registry look-up takes, in ms.")
    parser.add_argument("--mongo-uri", default=os.environ.get("BANGKE_TEST_MONGO_URI", "mongodb://127.0.0.1:27027/"))
    parser.add_argument("--store", choices=("ferretdb", "memory"), default="ferretdb", help="Where the tasks live.")
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database afterwards.")
    args = parser.parse_args()
    configure_logging("review-svc-benchmark")

    client = AsyncMongoClient(args.mongo_uri, tz_aware=True)
    database_name = f"bench_review_{uuid.uuid4().hex[:8]}"
    try:
        tasks = [make_task(index) for index in range(args.count)]
        registry = SleepingRegistry(SnapshotRegistry(registry_records(tasks)), args.delay_ms / 1000)
        if args.store == "memory":
            repository: Any = MemoryRepository(tasks)
            seed_s = 0.0
        else:
            # The service's own database wrapper: on FerretDB it serialises writes and reads a task by
            # _id before checking the rest of the filter, as the running service does.
            policy = WritePolicy()
            policy.serialise = policy.single_writer = await is_ferretdb(client[database_name])
            repository = ReviewRepository(SerialisedDatabase(client[database_name], policy))
            await repository.create_indexes()
            seed_s = await seed(repository, tasks)
        del tasks

        async def open_registry() -> SleepingRegistry:
            return registry

        check = RegistryCheck(
            repository, load_catalogue(), open_registry, Clock(), lambda: None,
            concurrency=args.concurrency, batch_size=args.batch_size,
            progress_every=10_000, progress_interval_s=5.0,
        )
        now = APPROVED_AT + timedelta(hours=15)

        load_before = os.getloadavg()
        started = time.monotonic()
        first = await check.run(now)
        first_wall_s = time.monotonic() - started
        load_after = os.getloadavg()
        started = time.monotonic()
        rerun = await check.run(now)
        rerun_wall_s = time.monotonic() - started
        afterwards = await after_check(repository, now) if args.store == "ferretdb" else {}
    finally:
        if args.store == "ferretdb" and not args.keep:
            await client.drop_database(database_name)
        await client.close()

    floor_s = args.count * args.delay_ms / 1000 / args.concurrency
    print()
    print(f"store:                   {args.store}")
    print(f"certificates:            {args.count}")
    print(f"look-up delay:           {args.delay_ms:.0f} ms, concurrency {args.concurrency}, "
          f"batch size {args.batch_size}")
    print(f"load average:            {format_load(load_before)} before, {format_load(load_after)} after the check")
    print(f"seeding:                 {seed_s:.1f} s")
    print(f"registry check:          {first_wall_s:.1f} s in all ({args.count / first_wall_s:.0f} certificates/s); "
          f"{first['elapsed_s']:.1f} s after counting, of which the writer was busy {first['write_s']:.1f} s")
    print(f"look-up floor:           {floor_s:.1f} s (count x delay / concurrency)")
    print(f"outcomes:                matching {first['found_matching']}, not found {first['not_found']}, "
          f"mismatch {first['mismatch']}, failed {first['failed']}, skipped {first['skipped_changed']}")
    print(f"rerun:                   {rerun['total']} left, {rerun_wall_s:.1f} s in all")
    for name, seconds in afterwards.items():
        print(f"{name + ':':<25}{seconds * 1000:.0f} ms")


def format_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{value:.1f}" for value in load)


async def after_check(repository: ReviewRepository, now: datetime) -> dict[str, float]:
    """Time a training manager's queue page, a task read and a spot-check approval after the check."""
    timings: dict[str, float] = {}
    query = {"status": ReviewStatus.PENDING_SPOT_CHECK.value, "region_id": "region-8"}
    started = time.monotonic()
    page, _total = await repository.queue(query, limit=20, offset=0)
    timings["queue page (one region)"] = time.monotonic() - started
    started = time.monotonic()
    task = await repository.get(page[0].review_id)
    timings["task read by id"] = time.monotonic() - started
    assert task is not None
    trainer = Reviewer("bench-trainer", "training_manager", region_id=task.region_id)
    task.approve(trainer, now + timedelta(days=2))
    started = time.monotonic()
    saved = await repository.save(task, [])
    timings["spot-check approval"] = time.monotonic() - started
    assert saved
    return timings


if __name__ == "__main__":
    asyncio.run(main())
