"""Periodic jobs of exam-svc."""

from datetime import datetime
from typing import Any

from bangke_runtime.jobs import Every, PeriodicJob
from bangke_runtime.runtime import Runtime

from ..service_layer.handlers import ExamService
from ..settings import ExamSettings

COLLECT_SCORES = "collect_scores"


def register_jobs(runtime: Runtime, settings: ExamSettings, service: ExamService) -> None:
    async def collect(_now: datetime) -> dict[str, Any]:
        return await service.collect_scores()

    runtime.add_job(
        PeriodicJob(
            name=COLLECT_SCORES,
            schedule=Every(settings.score_collection_interval_s),
            run=collect,
            enabled=settings.score_collection_enabled,
            lease_s=10 * 60,
            description="Publish exam.score_collected for finished attempts not collected yet.",
        )
    )
