"""Periodic jobs of review-svc: the nightly registry check."""

from bangke_runtime.jobs import DailyAt, PeriodicJob

from ..service_layer.registry_check import RegistryCheck
from ..settings import ReviewSettings

REGISTRY_CHECK_JOB = "registry-check"


def registry_check_job(settings: ReviewSettings, check: RegistryCheck) -> PeriodicJob:
    return PeriodicJob(
        name=REGISTRY_CHECK_JOB,
        schedule=DailyAt(settings.registry_check_at),
        run=check.run,
        lease_s=settings.registry_check_lease_s,
        enabled=settings.registry_check_enabled,
        description="Look up every outlet-approved long-term certificate in the safety registry.",
    )
