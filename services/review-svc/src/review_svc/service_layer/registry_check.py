"""The nightly registry check: every long-term certificate approved by its outlet manager is looked up.

Look-ups run with bounded concurrency (a fixed pool of workers fed from one cursor through a bounded
queue, so memory stays flat however many certificates wait). Each result is stored with its events
in one conditional write, so a rerun, or a second replica that got the lease after a crash, skips
what is done and never records a decision twice. A look-up that fails leaves its certificate waiting
for the next run.

NOTE: on FerretDB v1 with its SQLite backend an ``update_one`` by ``_id`` scans the collection
(measured 17 ms at 5,000 and 58 ms at 20,000 task documents). There the per-certificate write,
not the look-up, limits this job, far below 100,000 certificates a night. On MongoDB the same
write is an index look-up.
TODO: if FerretDB stays the production store, record registry results as inserts into a
collection of their own (insert cost does not grow with the collection) and fold them into the
task when a person next acts on it.
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
from ..adapters.repository import ReviewRepository
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

    def tick(self) -> None:
        self._counts.done += 1
        now = time.monotonic()
        if self._counts.done % self._every == 0 or now - self._last_logged >= self._interval_s:
            self._last_logged = now
            self.log("registry_check.progress")

    def log(self, event: str) -> None:
        elapsed = self.elapsed_s
        counts = self._counts
        log.info(
            event,
            done=counts.done,
            total=counts.total,
            rate_per_s=round(counts.done / elapsed, 1) if elapsed > 0 else None,
            elapsed_s=round(elapsed, 1),
            found_matching=counts.found_matching,
            not_found=counts.not_found,
            mismatch=counts.mismatch,
            failed=counts.failed,
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
        write_concurrency: int,
        progress_every: int,
        progress_interval_s: float,
    ) -> None:
        self.repository = repository
        self.catalogue = catalogue
        self.open_registry = open_registry
        self.clock = clock
        self.on_events = on_events
        self.concurrency = concurrency
        self.write_concurrency = write_concurrency
        self.progress_every = progress_every
        self.progress_interval_s = progress_interval_s

    async def run(self, now: datetime) -> dict[str, Any]:
        """Check every certificate whose outlet approval is at or before ``now``; return the counts."""
        registry = await self.open_registry()
        if registry is None:
            # Without a snapshot every certificate would look "not found"; they wait for one instead.
            log.warning("registry_check.no_registry", hint="upload a registry snapshot or set registry_snapshot_file")
            return {"status": "skipped", "reason": "no_registry_snapshot"}

        counts = CheckCounts(total=await self.repository.count_awaiting_registry_check(now))
        progress = Progress(counts, self.progress_every, self.progress_interval_s)
        correlation_id = uuid.uuid4()
        log.info(
            "registry_check.started", total=counts.total, concurrency=self.concurrency,
            write_concurrency=self.write_concurrency,
        )

        queue: asyncio.Queue[ReviewTask | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        # Look-ups wait on the registry and writes on the database. Fewer writers than look-ups
        # keep a single-writer store (FerretDB on SQLite) from failing with "database is locked".
        writes = asyncio.Semaphore(self.write_concurrency)

        async def feed() -> None:
            async for task in self.repository.awaiting_registry_check(now):
                await queue.put(task)
            for _ in range(self.concurrency):
                await queue.put(None)

        async def work() -> None:
            while (task := await queue.get()) is not None:
                await self._check(task, registry, writes, counts, correlation_id)
                progress.tick()

        async with asyncio.TaskGroup() as group:
            group.create_task(feed())
            for _ in range(self.concurrency):
                group.create_task(work())

        progress.log("registry_check.finished")
        return {"status": "completed", **asdict(counts), "elapsed_s": round(progress.elapsed_s, 1)}

    async def _check(
        self,
        task: ReviewTask,
        registry: RegistryAdapter,
        writes: asyncio.Semaphore,
        counts: CheckCounts,
        correlation_id: uuid.UUID,
    ) -> None:
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
            async with writes:
                saved = await self.repository.save(task, review_events(task, correlation_id=correlation_id))
        except Exception as error:
            # One failing look-up or write must not stop the other certificates. This one waits
            # for the next run, and the result's "failed" count shows operators how many did.
            counts.failed += 1
            if counts.failed <= MAX_LOGGED_FAILURES:
                log.warning("registry_check.certificate_failed", review_id=task.review_id,
                            error_type=type(error).__name__, error=str(error)[:300])
            return

        if not saved:
            # Withdrawn, or checked by another run, since the cursor read it.
            counts.skipped_changed += 1
            return
        setattr(counts, verdict.outcome, getattr(counts, verdict.outcome) + 1)
        self.on_events()
