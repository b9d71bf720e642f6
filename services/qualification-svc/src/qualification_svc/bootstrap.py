"""Wire qualification-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .adapters.repository import COLLECTION, EngineerCache, EngineerRepository
from .adapters.serialised import KeyedLocks, KnownOutboxes, SerialisedCollection
from .entrypoints.http import build_router
from .entrypoints.jobs import register_jobs
from .entrypoints.subscribers import register_subscribers
from .service_layer.handlers import QualificationService
from .settings import QualificationSettings


def build(settings: QualificationSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or QualificationSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)

    # On FerretDB the engineer's lock, held from load to save, replaces the revision filter, whose
    # evaluation would read the document a second time (see adapters/repository.py).
    def in_process_guard() -> bool:
        return runtime.write_policy.single_writer

    known = KnownOutboxes()
    # Used only while in_process_guard is true: loads then read this instead of the database.
    cache = EngineerCache(settings.engineer_cache_size)
    # Published outbox entries are removed by the engineer's next save, or by the relay once it is
    # quiet (lazy clearing): most certificate events then cost one write instead of two.
    repository = EngineerRepository(
        runtime.db,
        in_process_guard=in_process_guard,
        known=known,
        published=lambda engineer_id: runtime.relay.published_ids(COLLECTION, engineer_id),
        cache=cache,
    )
    locks = KeyedLocks()
    service = QualificationService(
        repository, load_catalogue(settings.catalogue_file), runtime.clock, runtime.relay, locks
    )
    runtime.relay.register(
        SerialisedCollection(
            repository.collection,  # type: ignore[arg-type]
            locks,
            in_process_guard,
            known,
            before_write=cache.forget,
            cached=repository.stored_document,
            after_write=repository.remember_document,
        ),
        lazy_clear=True,
    )

    async def create_indexes(_runtime: Runtime) -> None:
        await repository.create_indexes()

    runtime.on_start(create_indexes)
    register_subscribers(runtime, service)
    register_jobs(runtime, settings, service)

    app = create_app(
        runtime,
        title="qualification-svc",
        description="Qualifications: applications, the 10-per-engineer cap, validity, expiry.",
        routers=[build_router(service)],
    )
    app.state.qualification_service = service
    return runtime, app
