"""The objects a service process shares between its HTTP routes, subscribers and jobs.

``Runtime`` is built without I/O; ``start`` connects and ``stop`` disconnects, in the order that
lets in-flight work finish: jobs and the relay stop before the broker and the database close.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from .auth import JwtVerifier
from .clock import Clock
from .jobs import JobRunner, PeriodicJob
from .kafka import DeadLetterPolicy, create_broker
from .mongo import create_mongo_client, ping, service_database
from .outbox import OutboxRelay
from .serialised import SerialisedDatabase, WritePolicy, is_ferretdb
from .settings import ServiceSettings
from .storage import ObjectStorage

log = structlog.get_logger()

StartHook = Callable[["Runtime"], Awaitable[None]]


@dataclass
class Runtime:
    settings: ServiceSettings
    clock: Clock
    broker: KafkaBroker
    mongo: AsyncMongoClient
    db: SerialisedDatabase
    storage: ObjectStorage
    relay: OutboxRelay
    jobs: JobRunner
    verifier: JwtVerifier
    write_policy: WritePolicy = field(default_factory=WritePolicy)
    start_hooks: list[StartHook] = field(default_factory=list)
    started: bool = False
    _starter: asyncio.Task[None] | None = None

    def on_start(self, hook: StartHook) -> StartHook:
        """Register a coroutine run at start-up, after the database is reachable (indexes, buckets)."""
        self.start_hooks.append(hook)
        return hook

    def add_job(self, job: PeriodicJob) -> None:
        self.jobs.add(job)

    async def start(self) -> None:
        """Start connecting in the background, so HTTP responds (not ready) while a dependency is down."""
        self._starter = asyncio.create_task(self._start_with_retries(), name="runtime-start")

    async def _start_with_retries(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._start_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Kafka, MongoDB or storage is not reachable yet; /readyz reports it meanwhile.
                log.warning(
                    "service.start_retrying", error_type=type(error).__name__, error=str(error)[:300], retry_in_s=delay
                )
                await self._stop_parts()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                return

    async def _start_once(self) -> None:
        mode = self.settings.mongo_serialise_writes
        on_ferretdb = await is_ferretdb(self.db.unwrapped)
        self.write_policy.serialise = mode == "always" or (mode == "auto" and on_ferretdb)
        self.write_policy.single_writer = on_ferretdb and self.write_policy.serialise
        log.info(
            "mongo.write_policy",
            serialise_writes=self.write_policy.serialise,
            single_writer=self.write_policy.single_writer,
        )
        for hook in self.start_hooks:
            await hook(self)
        await self.broker.start()
        await self.relay.start()
        await self.jobs.start()
        self.started = True
        log.info("service.started", port=self.settings.http_port)

    async def wait_started(self, timeout: float) -> None:
        """Wait until ``start`` has connected everything; used by tests and scripts."""
        if self._starter is not None:
            await asyncio.wait_for(asyncio.shield(self._starter), timeout)

    async def _stop_parts(self) -> None:
        await self.jobs.stop()
        await self.relay.stop()
        try:
            await self.broker.stop()
        except Exception as error:
            log.warning("service.broker_stop_failed", error_type=type(error).__name__)

    async def stop(self) -> None:
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        await self._stop_parts()
        await self.mongo.close()
        self.started = False
        log.info("service.stopped")

    async def readiness(self) -> dict[str, Any]:
        """Check Kafka, MongoDB and object storage; return each part's state."""
        checks: dict[str, Callable[[], Awaitable[Any]]] = {
            "kafka": self._ping_kafka,
            "mongodb": lambda: ping(self.mongo),
            "object_storage": self.storage.ping,
        }
        results: dict[str, Any] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=3.0)
            except Exception as error:
                results[name] = {"ok": False, "error": type(error).__name__}
            else:
                results[name] = {"ok": True}
        results["consumers"] = {"ok": self.started}
        return results

    async def _ping_kafka(self) -> None:
        if not await self.broker.ping(timeout=2.0):
            raise ConnectionError("Kafka did not respond to a metadata request within 2 s")


def build_runtime(settings: ServiceSettings) -> Runtime:
    clock = Clock(settings.clock_file if settings.environment in ("test", "demo") else None)
    policy = DeadLetterPolicy(settings)
    broker = create_broker(settings, policy)
    mongo = create_mongo_client(settings)
    write_policy = WritePolicy()
    db = SerialisedDatabase(service_database(mongo, settings), write_policy)
    relay = OutboxRelay(broker, settings)
    write_policy.listeners.append(relay.on_write)
    return Runtime(
        settings=settings,
        clock=clock,
        broker=broker,
        mongo=mongo,
        db=db,
        storage=ObjectStorage(settings),
        relay=relay,
        jobs=JobRunner(db, clock),
        verifier=JwtVerifier(settings),
        write_policy=write_policy,
    )
