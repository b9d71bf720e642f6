"""Kafka subscribers of order-svc: qualification and engineer events feed the eligibility projection.

Qualification events are handled one at a time. Measured with make bench at 50 events/s on a clean
stack, eligibility hop p50 / p99: one at a time, 5.2 s / 8.3 s. Tried and dropped: a batch subscriber
with two engineers at once under one write lock per database, 8.8 s / 14.7 s. One at a time under
that database lock, 9.8 s / 14.2 s. So the database lock was the loss, not the batches, but the
batches alone were not measured on the stack.
"""

from bangke_contracts.identity import EngineerEvent
from bangke_contracts.qualifications import QualificationEvent
from bangke_contracts.topics import IDENTITY_ENGINEERS, QUALIFICATIONS
from bangke_runtime.kafka import subscriber_options
from bangke_runtime.runtime import Runtime

from ..service_layer import projection
from ..service_layer.context import OrderContext


def register_subscribers(runtime: Runtime, ctx: OrderContext) -> None:
    settings = runtime.settings

    @runtime.broker.subscriber(settings.topic(QUALIFICATIONS), **subscriber_options(settings, "order-qualifications"))
    async def on_qualifications(event: QualificationEvent) -> None:
        await projection.on_qualification_event(ctx, event)

    @runtime.broker.subscriber(settings.topic(IDENTITY_ENGINEERS), **subscriber_options(settings, "order-engineers"))
    async def on_engineers(event: EngineerEvent) -> None:
        await projection.on_engineer_event(ctx, event)
