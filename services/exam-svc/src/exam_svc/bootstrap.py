"""Wire exam-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .settings import ExamSettings


def build(settings: ExamSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or ExamSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    app = create_app(runtime, title="exam-svc", description="Exams: question banks, attempts, 30-minute score collection.", routers=[])
    return runtime, app
