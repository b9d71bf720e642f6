"""The nightly registry check: every long-term certificate approved by its outlet manager is looked up.

Look-ups run with bounded concurrency (a fixed pool of workers fed from one cursor through a bounded
queue, so memory stays flat however many certificates wait). One writer stores the results in
batches while the look-ups go on. Per batch it makes an ``insert_many`` of one result document per
task and one insert of a batch document whose outbox carries their events, plus a small intent
that makes a half-written batch recoverable (see ``adapters/repository.py``). Inserts keep the
cost per certificate flat on FerretDB v1, where every update scans the collection.

A rerun, or a second replica that got the lease after a crash, first completes the batches a crash
left half-written, then skips every task that already has a result, so no decision is recorded
twice. A
look-up that fails leaves its certificate waiting for the next run.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import structlog

from bangke_contracts.catalogue import Catalogue
from bangke_runtime.clock import Clock

from ..adapters.registry import RegistryAdapter
from ..adapters.repository import RegistryResult, ReviewRepository
from ..domain.registry import compare_with_registry
from ..domain.review import ReviewTask
from .events import review_events

log = structlog.get_logger()

MAX_LOGGED_FAILURES = 20

OpenRegistry = Callable[[], Awaitable[RegistryAdapter | None]]


@dataclass(slots=True)
class CheckCounts:
    total: int = 0
    done: int = 0
    found_matching: int = 0
    not_found: int = 0
    mismatch: int = 0
    failed: int = 0
    skipped_changed: int = 0
    recovered_batches: int = 0
    write_s: float = 0.0
    """Time the writer spent storing batches; near the elapsed time, the store limits the check."""


class Progress:
    """Log done/total and the rate every ``every`` certificates or every ``interval_s`` seconds."""

    def __init__(self, counts: CheckCounts, every: int, interval_s: float) -> None:
        self._counts = counts
        self._every = every
        self._interval_s = interval_s
        self._started = time.monotonic()
        self._last_logged = self._started

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def tick(self, count: int = 1) -> None:
        before = self._counts.done
        self._counts.done += count
        now = time.monotonic()
        if self._counts.done // self._every != before // self._every or now - self._last_logged >= self._interval_s:
            self._last_logged = now
            self.log("registry_check.progress")

    def log(self, event: str) -> None:
        elapsed = self.elapsed_s
        counts = self._counts
        rate = counts.done / elapsed if elapsed > 0 else 0.0
        log.info(
            event,
            done=counts.done,
            total=counts.total,
            rate_per_s=round(rate, 1),
            elapsed_s=round(elapsed, 1),
            eta_s=round(max(counts.total - counts.done, 0) / rate, 1) if rate > 0 else None,
            found_matching=counts.found_matching,
            not_found=counts.not_found,
            mismatch=counts.mismatch,
            failed=counts.failed,
            skipped_changed=counts.skipped_changed,
            write_s=round(counts.write_s, 1),
        )


class RegistryCheck:
    def __init__(
        self,
        repository: ReviewRepository,
        catalogue: Catalogue,
        open_registry: OpenRegistry,
        clock: Clock,
        on_events: Callable[[], None],
        *,
        concurrency: int,
        batch_size: int,
        progress_every: int,
        progress_interval_s: float,
    ) -> None:
        self.repository = repository
        self.catalogue = catalogue
        self.open_registry = open_registry
        self.clock = clock
        self.on_events = on_events
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.progress_every = progress_every
        self.progress_interval_s = progress_interval_s

    async def run(self, now: datetime) -> dict[str, Any]:
        """Check every certificate whose outlet approval is at or before ``now``; return the counts."""
        registry = await self.open_registry()
        if registry is None:
            # Without a snapshot every certificate would look "not found"; they wait for one instead.
            log.warning("registry_check.no_registry", hint="upload a registry snapshot or set registry_snapshot_file")
            return {"status": "skipped", "reason": "no_registry_snapshot"}

        recovered = await self.recover()
        total, left = await self.repository.count_awaiting_registry_check(now)
        counts = CheckCounts(total=total, recovered_batches=recovered)
        progress = Progress(counts, self.progress_every, self.progress_interval_s)
        correlation_id = uuid.uuid4()
        log.info("registry_check.started", total=counts.total, concurrency=self.concurrency, batch_size=self.batch_size)

        queue: asyncio.Queue[ReviewTask | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        # Two full batches at most wait for the writer; then the look-ups wait too.
        batches: asyncio.Queue[list[RegistryResult] | None] = asyncio.Queue(maxsize=2)
        pending: list[RegistryResult] = []

        async def feed() -> None:
            if counts.total > 0:
                async for task in self.repository.awaiting_registry_check(now, left):
                    await queue.put(task)
            for _ in range(self.concurrency):
                await queue.put(None)

        async def look_up() -> None:
            nonlocal pending
            while (task := await queue.get()) is not None:
                result = await self._check(task, registry, counts, correlation_id)
                if result is None:
                    progress.tick()
                    continue
                pending.append(result)
                if len(pending) >= self.batch_size:
                    full, pending = pending, []
                    await batches.put(full)

        async def write() -> None:
            while (batch := await batches.get()) is not None:
                await self._store(batch, counts, correlation_id)
                progress.tick(len(batch))

        async with asyncio.TaskGroup() as group:
            group.create_task(write())
            async with asyncio.TaskGroup() as lookups:
                lookups.create_task(feed())
                for _ in range(self.concurrency):
                    lookups.create_task(look_up())
            if pending:
                await batches.put(pending)
            await batches.put(None)

        progress.log("registry_check.finished")
        return {
            "status": "completed", **asdict(counts),
            "write_s": round(counts.write_s, 1), "elapsed_s": round(progress.elapsed_s, 1),
        }

    async def recover(self) -> int:
        """Complete the result batches a crash left half-written; return how many there were."""
        recovered = await self.repository.recover_registry_batches()
        if recovered:
            log.warning("registry_check.batches_recovered", batches=recovered)
            self.on_events()
        return recovered

    async def _check(
        self, task: ReviewTask, registry: RegistryAdapter, counts: CheckCounts, correlation_id: uuid.UUID
    ) -> RegistryResult | None:
        """Look the task up and record the verdict on it; return it with its events, or None if it failed."""
        try:
            records = await registry.lookup(task.number)
            certificate_type = self.catalogue.certificates.get(task.certificate_type)
            verdict = compare_with_registry(
                task,
                certificate_type.operation_category if certificate_type else None,
                certificate_type.operation_item if certificate_type else None,
                records,
            )
            task.record_registry_result(verdict, self.clock.now())
            return task, review_events(task, correlation_id=correlation_id)
        except Exception as error:
            # One failing look-up must not stop the other certificates. This one waits for the
            # next run, and the result's "failed" count shows operators how many did.
            self._failed(counts, 1, task.review_id, error)
            return None

    async def _store(self, batch: list[RegistryResult], counts: CheckCounts, correlation_id: uuid.UUID) -> None:
        started = time.monotonic()
        try:
            applied = await self.repository.store_registry_results(
                uuid.uuid4().hex, batch, correlation_id=str(correlation_id), now=self.clock.now()
            )
        except Exception as error:
            # Recovery, at the next run or at start-up, completes what this batch wrote; its other
            # tasks still await the check.
            self._failed(counts, len(batch), batch[0][0].review_id, error)
            return
        finally:
            counts.write_s += time.monotonic() - started
        for (task, _), took_effect in zip(batch, applied, strict=True):
            if not took_effect:
                # Withdrawn, or checked by another run, since the cursor read it.
                counts.skipped_changed += 1
                continue
            outcome = task.decisions[-1].outcome
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        self.on_events()

    @staticmethod
    def _failed(counts: CheckCounts, number: int, review_id: str, error: Exception) -> None:
        counts.failed += number
        if counts.failed - number < MAX_LOGGED_FAILURES:
            log.warning("registry_check.certificate_failed", review_id=review_id, certificates=number,
                        error_type=type(error).__name__, error=str(error)[:300])
