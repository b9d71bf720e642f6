"""Wire qualification-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .adapters.repository import EngineerRepository
from .adapters.serialised import KeyedLocks, SerialisedCollection
from .entrypoints.http import build_router
from .entrypoints.jobs import register_jobs
from .entrypoints.subscribers import register_subscribers
from .service_layer.handlers import QualificationService
from .settings import QualificationSettings


def build(settings: QualificationSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or QualificationSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)

    repository = EngineerRepository(runtime.db)
    locks = KeyedLocks()
    service = QualificationService(
        repository, load_catalogue(settings.catalogue_file), runtime.clock, runtime.relay, locks
    )
    runtime.relay.register(SerialisedCollection(repository.collection, locks))  # type: ignore[arg-type]

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
