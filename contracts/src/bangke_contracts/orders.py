"""Events of order-svc: the lifecycle of a service order.

A dispatcher or the retail order system creates an order. It is offered to one engineer or published
to its outlet's order pool, then accepted (接单) or declined. It is flagged at risk when the assigned
engineer's qualification lapses or no longer covers the appointment. The engineer checks in on site
and completes it once the evidence its service type requires is recorded.
"""

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from . import topics
from .common import Id
from .envelope import Event, Payload


class OrderRef(Payload):
    order_id: Id
    outlet_id: Id
    service_type: str = Field(examples=["split_ac_installation"])
    qualification_type: str = Field(examples=["split_ac_installation"])


class OrderCreatedPayload(OrderRef):
    region_id: Id | None = None
    dispatch_area: Literal["outlet", "region"] = Field(
        "outlet", description="Engineers of the order's outlet, or of its whole region, may receive it."
    )
    appointment_start: datetime
    appointment_end: datetime
    created_at: datetime


class OrderCreated(Event[OrderCreatedPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.created"] = "order.created"
    payload: OrderCreatedPayload


class OrderOfferedPayload(OrderRef):
    engineer_id: Id = Field(description="Engineer the order is offered to.")
    offered_at: datetime
    reassigned_from: Id | None = Field(None, description="Engineer who held the order before, when it was reassigned.")


class OrderOffered(Event[OrderOfferedPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.offered"] = "order.offered"
    payload: OrderOfferedPayload


class OrderPublishedToPoolPayload(OrderRef):
    published_at: datetime


class OrderPublishedToPool(Event[OrderPublishedToPoolPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.published_to_pool"] = "order.published_to_pool"
    payload: OrderPublishedToPoolPayload


class OrderAcceptedPayload(OrderRef):
    engineer_id: Id
    accepted_at: datetime


class OrderAccepted(Event[OrderAcceptedPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.accepted"] = "order.accepted"
    payload: OrderAcceptedPayload


class OrderDeclinedPayload(OrderRef):
    engineer_id: Id
    reason: str = Field(description="Reason the engineer gave, as typed.")
    declined_at: datetime


class OrderDeclined(Event[OrderDeclinedPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.declined"] = "order.declined"
    payload: OrderDeclinedPayload


class OrderAtRiskPayload(OrderRef):
    engineer_id: Id
    reason: str = Field(examples=["qualification_lapsed", "validity_shortened"])
    valid_until: date | None = Field(
        None, description="The qualification's new last day in effect (China Standard Time); none when it lapsed."
    )
    appointment_end: datetime | None = None
    flagged_at: datetime


class OrderAtRisk(Event[OrderAtRiskPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.at_risk"] = "order.at_risk"
    payload: OrderAtRiskPayload


class OrderCheckedInPayload(OrderRef):
    engineer_id: Id
    checked_in_at: datetime


class OrderCheckedIn(Event[OrderCheckedInPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.checked_in"] = "order.checked_in"
    payload: OrderCheckedInPayload


class OrderCompletedPayload(OrderRef):
    engineer_id: Id
    completed_at: datetime
    evidence_kinds: tuple[str, ...] = Field((), description="Kinds of evidence recorded on the job.")


class OrderCompleted(Event[OrderCompletedPayload]):
    topic: ClassVar[str] = topics.ORDERS
    type: Literal["order.completed"] = "order.completed"
    payload: OrderCompletedPayload


OrderEvent = Annotated[
    OrderCreated
    | OrderOffered
    | OrderPublishedToPool
    | OrderAccepted
    | OrderDeclined
    | OrderAtRisk
    | OrderCheckedIn
    | OrderCompleted,
    Field(discriminator="type"),
]
