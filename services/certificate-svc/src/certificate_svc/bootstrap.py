"""Wire certificate-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .adapters.engineers import EngineerDirectory
from .adapters.notifications import NotificationStore
from .adapters.photos import PhotoStorage
from .adapters.repository import CertificateRepository
from .entrypoints.http import build_router
from .entrypoints.jobs import register_jobs
from .entrypoints.subscribers import register_subscribers
from .service_layer.dependencies import Dependencies
from .settings import CertificateSettings


def build(settings: CertificateSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or CertificateSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    deps = Dependencies(
        settings=settings,
        catalogue=load_catalogue(settings.catalogue_file),
        clock=runtime.clock,
        relay=runtime.relay,
        certificates=CertificateRepository(runtime.db["certificates"]),
        engineers=EngineerDirectory(runtime.db["engineers"]),
        notifications=NotificationStore(runtime.db["notifications"]),
        photos=PhotoStorage(
            runtime.storage, max_bytes=settings.photo_max_bytes, url_expires_s=settings.upload_url_expires_s
        ),
    )
    runtime.relay.register(deps.certificates.collection)
    runtime.relay.register(deps.notifications.collection)

    async def prepare(_runtime: Runtime) -> None:
        await deps.certificates.ensure_indexes()
        await deps.notifications.ensure_indexes()
        await deps.photos.ensure_bucket()

    runtime.on_start(prepare)
    register_subscribers(runtime, deps)
    register_jobs(runtime, deps, settings)
    app = create_app(
        runtime,
        title="certificate-svc",
        description="Certificates: licences, their versions and photos, review outcomes, expiry and reminders.",
        routers=[build_router(deps)],
    )
    return runtime, app
