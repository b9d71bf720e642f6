"""Wire identity-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .settings import IdentitySettings


def build(settings: IdentitySettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or IdentitySettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    app = create_app(runtime, title="identity-svc", description="Identity: accounts, real-name authentication, providers, outlets, regions, tokens.", routers=[])
    return runtime, app
