"""Wire qualification-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .settings import QualificationSettings


def build(settings: QualificationSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or QualificationSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    app = create_app(runtime, title="qualification-svc", description="Qualifications: applications, the 10-per-engineer cap, validity, expiry.", routers=[])
    return runtime, app
