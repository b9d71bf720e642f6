"""Wire exam-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .adapters.applications import ApplicationRepository
from .adapters.platform import BuiltInExamPlatform
from .adapters.question_banks import load_question_banks
from .entrypoints.http import build_router
from .entrypoints.jobs import register_jobs
from .entrypoints.subscribers import register_subscribers
from .service_layer.handlers import ExamService
from .settings import ExamSettings


def build(settings: ExamSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or ExamSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)

    catalogue = load_catalogue(settings.catalogue_file)
    platform = BuiltInExamPlatform(
        runtime.db, load_question_banks(settings.question_bank_dir), settings.questions_per_attempt
    )
    scores = runtime.db["scores"]
    # The built-in platform is also the score source; an external exam system's adapter goes here.
    applications = ApplicationRepository(
        runtime.db, settings.application_cache_size, lambda: runtime.write_policy.single_writer
    )
    service = ExamService(platform, platform, applications, scores, runtime.clock, runtime.relay)
    runtime.relay.register(scores)

    async def create_indexes(_runtime: Runtime) -> None:
        await platform.create_indexes()

    runtime.on_start(create_indexes)
    register_subscribers(runtime, service)
    register_jobs(runtime, settings, service)

    app = create_app(
        runtime,
        title="exam-svc",
        description="Exams: question banks, attempts, 30-minute score collection.",
        routers=[build_router(service, catalogue)],
    )
    return runtime, app
