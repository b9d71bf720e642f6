"""The envelope every event travels in.

An event class fixes ``type`` (a dotted, past-tense name such as ``certificate.took_effect``), the
``schema_version`` it is written in, and the model of its ``payload``. Consumers declare the event
classes they accept; a message whose type or version they do not know fails validation and is
dead-lettered instead of being guessed at.
"""

from datetime import UTC, datetime
import builtins
from typing import Any, ClassVar, Generic, Literal, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from .topics import TOPICS

PayloadT = TypeVar("PayloadT", bound=BaseModel)


class Payload(BaseModel):
    """Base of every event payload: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(BaseModel, Generic[PayloadT]):
    """Envelope fields shared by every event; subclasses narrow ``type`` and ``payload``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[str] = ""

    event_id: UUID = Field(default_factory=uuid4, description="Unique id; consumers record it to apply each event once.")
    type: str = Field(description="Event type, dotted and past tense.", examples=["certificate.took_effect"])
    schema_version: Literal[1] = Field(1, description="Version of the payload schema; consumers reject versions they do not know.")
    occurred_at: AwareDatetime = Field(
        default_factory=lambda: datetime.now(UTC), description="When the fact happened, in UTC."
    )
    producer: str = Field(description="Service that produced the event.", examples=["certificate-svc"])
    correlation_id: UUID = Field(
        default_factory=uuid4, description="Id shared by every event caused by one user request or job run."
    )
    causation_id: UUID | None = Field(None, description="Id of the event or request that caused this one.")
    payload: PayloadT

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def key(self) -> str:
        """Return the Kafka key: the payload field that the event's topic is keyed by.

        Engineer streams are keyed by the engineer id and order streams by the order id, so all
        events of one engineer, or of one order, stay in order on one partition.
        """
        names = [spec.key for spec in TOPICS if spec.name == self.topic] + ["engineer_id", "order_id", "provider_id"]
        for name in names:
            value = getattr(self.payload, name, None)
            if value:
                return str(value)
        return str(self.event_id)

    def caused(self, event_cls: builtins.type["EventT"], payload: Any, producer: str) -> "EventT":
        """Build the event ``event_cls`` that this event caused, keeping the correlation id."""
        return event_cls(
            producer=producer,
            correlation_id=self.correlation_id,
            causation_id=self.event_id,
            payload=payload,
        )


EventT = TypeVar("EventT", bound=Event[Any])
