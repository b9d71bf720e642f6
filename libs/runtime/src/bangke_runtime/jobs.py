"""Periodic jobs that are safe with several replicas.

A job runs only while its runner holds the job's lease, a document in the ``job_leases`` collection
taken with one atomic find-and-modify. Each run is recorded in ``job_runs`` with its result, so
operators can see what ran and when. Jobs must be idempotent: a run cut short by a crash is simply
run again later.
"""

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import structlog
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .clock import CHINA_TZ, Clock
from .serialised import SerialisedDatabase

log = structlog.get_logger()

JobFunction = Callable[[datetime], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Every:
    """Run every ``seconds`` seconds."""

    seconds: float

    def next_after(self, instant: datetime) -> datetime:
        return instant + timedelta(seconds=self.seconds)


@dataclass(frozen=True, slots=True)
class DailyAt:
    """Run once a day at ``at`` in China Standard Time."""

    at: time

    def next_after(self, instant: datetime) -> datetime:
        local = instant.astimezone(CHINA_TZ)
        candidate = datetime.combine(local.date(), self.at, CHINA_TZ)
        if candidate <= local:
            candidate = datetime.combine(local.date() + timedelta(days=1), self.at, CHINA_TZ)
        return candidate.astimezone(UTC)


@dataclass(slots=True)
class PeriodicJob:
    name: str
    schedule: Every | DailyAt
    run: JobFunction
    lease_s: float = 30 * 60
    enabled: bool = True
    description: str = ""


class JobAlreadyRunning(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"job {name} is running elsewhere")
        self.name = name


@dataclass
class JobRunner:
    database: "AsyncDatabase | SerialisedDatabase"
    clock: Clock
    jobs: dict[str, PeriodicJob] = field(default_factory=dict)
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def add(self, job: PeriodicJob) -> None:
        self.jobs[job.name] = job

    async def start(self) -> None:
        await self.database["job_runs"].create_index([("job", 1), ("started_at", -1)])
        for job in self.jobs.values():
            if job.enabled:
                self._tasks.append(asyncio.create_task(self._loop(job), name=f"job-{job.name}"))
        log.info("jobs.started", jobs=[name for name, job in self.jobs.items() if job.enabled])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _loop(self, job: PeriodicJob) -> None:
        next_run = job.schedule.next_after(self.clock.now())
        while True:
            # Sleep in short steps so that a controllable clock that jumps ahead is noticed.
            while self.clock.now() < next_run:
                remaining = (next_run - self.clock.now()).total_seconds()
                await asyncio.sleep(max(0.05, min(remaining, 5.0)))
            try:
                await self.run_now(job.name, trigger="schedule")
            except JobAlreadyRunning:
                log.info("job.skipped_lease_held", job=job.name)
            except Exception as error:
                log.exception("job.failed", job=job.name, error_type=type(error).__name__)
            next_run = job.schedule.next_after(self.clock.now())

    async def _acquire(self, job: PeriodicJob) -> bool:
        now = datetime.now(UTC)
        try:
            await self.database["job_leases"].find_one_and_update(
                {"_id": job.name, "$or": [{"until": {"$lt": now}}, {"holder": self.holder}]},
                {"$set": {"holder": self.holder, "until": now + timedelta(seconds=job.lease_s), "taken_at": now}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False
        return True

    async def _release(self, job: PeriodicJob) -> None:
        await self.database["job_leases"].update_one(
            {"_id": job.name, "holder": self.holder}, {"$set": {"until": datetime.now(UTC)}}
        )

    async def run_now(self, name: str, trigger: str = "operator") -> dict[str, Any]:
        """Run job ``name`` once, now, if no other replica holds its lease; return its result."""
        job = self.jobs[name]
        if not await self._acquire(job):
            raise JobAlreadyRunning(name)
        run_id = uuid.uuid4().hex
        started = datetime.now(UTC)
        logical_now = self.clock.now()
        runs = self.database["job_runs"]
        await runs.insert_one(
            {"_id": run_id, "job": name, "trigger": trigger, "started_at": started, "clock": logical_now, "status": "running"}
        )
        log.info("job.started", job=name, run_id=run_id, trigger=trigger)
        try:
            result = await job.run(logical_now)
        except BaseException as error:
            await runs.update_one(
                {"_id": run_id},
                {"$set": {"status": "failed", "finished_at": datetime.now(UTC), "error": f"{type(error).__name__}: {error}"[:1000]}},
            )
            raise
        finally:
            await self._release(job)
        finished = datetime.now(UTC)
        await runs.update_one(
            {"_id": run_id}, {"$set": {"status": "succeeded", "finished_at": finished, "result": result}}
        )
        log.info("job.finished", job=name, run_id=run_id, seconds=(finished - started).total_seconds(), **_loggable(result))
        return {"run_id": run_id, "job": name, "started_at": started, "finished_at": finished, "result": result}

    async def recent_runs(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        cursor = self.database["job_runs"].find({"job": name}).sort("started_at", -1).limit(limit)
        return [document async for document in cursor]


def _loggable(result: dict[str, Any]) -> dict[str, Any]:
    """Return the job result's scalar fields, prefixed so they cannot clash with the log call's own."""
    return {f"result_{key}": value for key, value in result.items() if isinstance(value, (int, float, str, bool))}
