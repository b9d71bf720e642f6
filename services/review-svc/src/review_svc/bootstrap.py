"""Wire review-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

import asyncio

import structlog
from fastapi import FastAPI

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .adapters.registry import HttpRegistry, RegistryAdapter, SnapshotRegistry, parse_snapshot
from .adapters.repository import ReviewRepository
from .adapters.storage import PhotoLinks, SnapshotStore
from .entrypoints.http import build_router
from .entrypoints.jobs import registry_check_job
from .entrypoints.subscribers import register_subscribers
from .service_layer.registry_check import OpenRegistry, RegistryCheck
from .service_layer.reviews import ReviewService
from .settings import ReviewSettings

log = structlog.get_logger()


def registry_opener(settings: ReviewSettings, snapshots: SnapshotStore) -> OpenRegistry:
    """Return what the check calls at each run to get its registry; the snapshot is read afresh."""

    async def open_registry() -> RegistryAdapter | None:
        if settings.registry_adapter == "http":
            return HttpRegistry(settings.registry_http_url)
        if settings.registry_snapshot_file is not None:
            data = await asyncio.to_thread(settings.registry_snapshot_file.read_bytes)
        else:
            data = await snapshots.load_current()
        if data is None:
            return None
        records = await asyncio.to_thread(parse_snapshot, data)
        log.info("registry_check.snapshot_loaded", records=len(records))
        return SnapshotRegistry(records)

    return open_registry


def build(settings: ReviewSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or ReviewSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    catalogue = load_catalogue(settings.catalogue_file)

    repository = ReviewRepository(runtime.db)
    for collection in repository.outbox_collections:
        runtime.relay.register(collection)
    snapshots = SnapshotStore(settings, runtime.storage, runtime.db)
    photos = PhotoLinks(settings, runtime.storage)
    service = ReviewService(repository, runtime.clock, runtime.relay.kick)
    check = RegistryCheck(
        repository, catalogue, registry_opener(settings, snapshots), runtime.clock, runtime.relay.kick,
        concurrency=settings.registry_check_concurrency,
        batch_size=settings.registry_check_batch_size,
        progress_every=settings.registry_check_progress_every,
        progress_interval_s=settings.registry_check_progress_interval_s,
    )

    @runtime.on_start
    async def prepare(_runtime: Runtime) -> None:
        await repository.create_indexes()
        await snapshots.ensure_bucket()
        # Results of a check that crashed between its writes take effect now, not at the next run.
        await check.recover()

    register_subscribers(runtime.broker, settings, service)
    runtime.add_job(registry_check_job(settings, check))
    router = build_router(
        service, photos, snapshots, catalogue, runtime.clock,
        max_page=settings.queue_page_max, snapshot_max_bytes=settings.registry_snapshot_max_bytes,
    )
    app = create_app(
        runtime, title="review-svc",
        description="Reviews: outlet review, nightly registry check, training-manager spot checks.",
        routers=[router],
    )
    return runtime, app
