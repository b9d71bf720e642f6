"""Periodic jobs: the daily expiry sweep and the daily expiry reminders (both runnable on demand)."""

from bangke_runtime.jobs import DailyAt, PeriodicJob
from bangke_runtime.runtime import Runtime

from ..service_layer import expiry
from ..service_layer.dependencies import Dependencies
from ..settings import CertificateSettings

EXPIRY_SWEEP = "certificate-expiry-sweep"
EXPIRY_REMINDERS = "certificate-expiry-reminders"


def register_jobs(runtime: Runtime, deps: Dependencies, settings: CertificateSettings) -> None:
    runtime.add_job(
        PeriodicJob(
            name=EXPIRY_SWEEP,
            schedule=DailyAt(settings.expiry_sweep_at),
            run=lambda now: expiry.expire_due_certificates(deps, now),
            enabled=settings.scheduled_jobs,
            description="Expire certificate versions whose expiry date has passed in China Standard Time.",
        )
    )
    runtime.add_job(
        PeriodicJob(
            name=EXPIRY_REMINDERS,
            schedule=DailyAt(settings.reminders_at),
            run=lambda now: expiry.issue_expiry_reminders(deps, now),
            enabled=settings.scheduled_jobs,
            description=f"Remind engineers and outlet managers {list(settings.reminder_days)} days before a certificate expires.",
        )
    )
