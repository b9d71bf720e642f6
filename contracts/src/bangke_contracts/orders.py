"""Events of order-svc: the lifecycle of a service order."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from . import topics
from .common import Id
from .envelope import Event, Payload


class OrderRef(Payload):
    order_id: Id
    outlet_id: Id
    service_type: str
    qualification_type: str


class OrderCreatedPayload(OrderRef):
    appointment_start: datetime
    appointment_end: datetime
    created_at: datetime


class OrderCreated(Event[OrderCreatedPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.created"] = "order.created"
    payload: OrderCreatedPayload


class OrderAcceptedPayload(OrderRef):
    engineer_id: Id
    accepted_at: datetime


class OrderAccepted(Event[OrderAcceptedPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.accepted"] = "order.accepted"
    payload: OrderAcceptedPayload


class OrderAtRiskPayload(OrderRef):
    engineer_id: Id
    reason: str
    flagged_at: datetime


class OrderAtRisk(Event[OrderAtRiskPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.at_risk"] = "order.at_risk"
    payload: OrderAtRiskPayload


class OrderCompletedPayload(OrderRef):
    engineer_id: Id
    completed_at: datetime


class OrderCompleted(Event[OrderCompletedPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.completed"] = "order.completed"
    payload: OrderCompletedPayload


OrderEvent = Annotated[
    OrderCreated | OrderAccepted | OrderAtRisk | OrderCompleted,
    Field(discriminator="type"),
]
