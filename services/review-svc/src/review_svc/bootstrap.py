"""Wire review-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .settings import ReviewSettings


def build(settings: ReviewSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or ReviewSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    app = create_app(runtime, title="review-svc", description="Reviews: outlet review, nightly registry check, training-manager spot checks.", routers=[])
    return runtime, app
