"""Wire certificate-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .settings import CertificateSettings


def build(settings: CertificateSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or CertificateSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    app = create_app(runtime, title="certificate-svc", description="Certificates: licences, their versions and photos.", routers=[])
    return runtime, app
