"""Settings of certificate-svc, read from BANGKE_* environment variables."""

from datetime import time

from pydantic import Field, field_validator

from bangke_runtime.settings import ServiceSettings

MEGABYTE = 1024 * 1024


class CertificateSettings(ServiceSettings):
    service_name: str = "certificate-svc"
    http_port: int = 8102

    photo_max_bytes: int = Field(10 * MEGABYTE, gt=0, description="Largest accepted certificate photo, in bytes.")
    upload_url_expires_s: int = Field(600, ge=60, le=3600, description="Lifetime of a presigned upload URL, in seconds.")

    scheduled_jobs: bool = Field(
        True, description="Run the daily jobs on their schedule; when false they run only when an operator triggers them."
    )
    expiry_sweep_at: time = Field(
        time(0, 5), description="Time of day (China Standard Time) of the daily sweep that expires certificates."
    )
    reminders_at: time = Field(
        time(9, 0), description="Time of day (China Standard Time) of the daily expiry reminders."
    )
    reminder_days: tuple[int, ...] = Field(
        (30, 7, 1),
        description="Days before expiry on which the engineer and the outlet manager are reminded (JSON list).",
    )

    @field_validator("reminder_days")
    @classmethod
    def _positive_and_sorted(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(day < 0 for day in value):
            raise ValueError("reminder_days needs at least one day count, none negative")
        return tuple(sorted(set(value), reverse=True))
