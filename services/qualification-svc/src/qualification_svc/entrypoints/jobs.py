"""Periodic jobs of qualification-svc."""

from datetime import datetime
from typing import Any

from bangke_runtime.jobs import DailyAt, PeriodicJob
from bangke_runtime.runtime import Runtime

from ..service_layer.handlers import QualificationService
from ..settings import QualificationSettings

LAPSE_SWEEP = "lapse_sweep"


def register_jobs(runtime: Runtime, settings: QualificationSettings, service: QualificationService) -> None:
    async def sweep(_now: datetime) -> dict[str, Any]:
        return await service.sweep_lapses()

    runtime.add_job(
        PeriodicJob(
            name=LAPSE_SWEEP,
            schedule=DailyAt(settings.lapse_sweep_at),
            run=sweep,
            enabled=settings.lapse_sweep_enabled,
            description="Lapse granted qualifications whose validity ended before today (China Standard Time).",
        )
    )
