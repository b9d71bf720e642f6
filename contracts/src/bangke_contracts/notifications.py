"""Reminder events for engineers and outlet managers."""

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from . import topics
from .common import Id
from .envelope import Event, Payload


class ExpiryReminderPayload(Payload):
    reminder_id: Id = Field(description="Stable id: subject, version and days before, so a rerun sends nothing new.")
    engineer_id: Id
    outlet_id: Id
    subject: Literal["certificate", "qualification"]
    subject_id: Id
    subject_type: str
    expires_on: date
    days_before: int
    created_at: datetime


class ExpiryReminderIssued(Event[ExpiryReminderPayload]):
    topic: ClassVar[str] = topics.NOTIFICATIONS
    type: Literal["notification.expiry_reminder_issued"] = "notification.expiry_reminder_issued"
    payload: ExpiryReminderPayload


NotificationEvent = Annotated[ExpiryReminderIssued, Field(discriminator="type")]
