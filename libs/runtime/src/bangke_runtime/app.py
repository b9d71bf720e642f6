"""FastAPI application factory shared by the services.

Every service mounts its routes under ``/api/<name>`` (the gateway forwards paths unchanged) and gets
``/healthz`` and ``/readyz`` both there and at the root, the one error format, and operator routes
to list and trigger its periodic jobs.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from .auth import Principal, require_roles
from .errors import Conflict, ErrorResponse, NotFound, install_error_handlers
from .jobs import JobAlreadyRunning
from .logging import configure_logging
from .runtime import Runtime

log = structlog.get_logger()

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 422)
}


class JobNotFound(NotFound):
    code = "job_not_found"
    message = "任务不存在"


class JobBusy(Conflict):
    code = "job_running"
    message = "该任务正在运行，请稍后再试"


def _probe_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["probes"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.settings.service_name}

    @router.get("/readyz", summary="Readiness: Kafka, MongoDB and object storage answer")
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(check["ok"] for check in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    return router


def _ops_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/ops", tags=["operations"], responses=ERROR_RESPONSES)
    operator = require_roles("operator")

    @router.get("/jobs", summary="List periodic jobs and their recent runs")
    async def list_jobs(_principal: Principal = operator) -> list[dict[str, Any]]:
        return [
            {
                "name": job.name,
                "description": job.description,
                "enabled": job.enabled,
                "recent_runs": await runtime.jobs.recent_runs(job.name, limit=5),
            }
            for job in runtime.jobs.jobs.values()
        ]

    @router.post("/jobs/{name}/run", summary="Run a periodic job now")
    async def run_job(name: str, _principal: Principal = operator) -> dict[str, Any]:
        if name not in runtime.jobs.jobs:
            raise JobNotFound(job=name, known=sorted(runtime.jobs.jobs))
        try:
            return await runtime.jobs.run_now(name, trigger="operator")
        except JobAlreadyRunning as error:
            raise JobBusy(job=name) from error

    return router


def create_app(runtime: Runtime, *, title: str, routers: Sequence[APIRouter], description: str = "") -> FastAPI:
    settings = runtime.settings
    prefix = f"/api/{settings.service_name.removesuffix('-svc')}"

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=f"{prefix}/docs",
        openapi_url=f"{prefix}/openapi.json",
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.middleware("http")
    async def bind_request_ids(request: Request, call_next: Any) -> Any:
        structlog.contextvars.bind_contextvars(request_id=request.headers.get("x-request-id"))
        try:
            return await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    app.include_router(_probe_router(runtime))
    app.include_router(_probe_router(runtime), prefix=prefix, include_in_schema=False)
    app.include_router(_ops_router(runtime), prefix=prefix)
    for router in routers:
        app.include_router(router, prefix=prefix, responses=ERROR_RESPONSES)
    return app


def setup_logging(runtime: Runtime) -> None:
    settings = runtime.settings
    configure_logging(settings.service_name, settings.log_format, settings.log_level)
