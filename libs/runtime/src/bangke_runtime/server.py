"""Run one service process: uvicorn serving the FastAPI app, whose lifespan starts everything else."""

import uvicorn
from fastapi import FastAPI

from .gc_pauses import settle_garbage_collector
from .settings import ServiceSettings


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    settle_garbage_collector()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=10,
    )
