"""Wire order-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .settings import OrderSettings


def build(settings: OrderSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or OrderSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    app = create_app(runtime, title="order-svc", description="Orders: service orders, dispatch eligibility, acceptance, paperless job records.", routers=[])
    return runtime, app
