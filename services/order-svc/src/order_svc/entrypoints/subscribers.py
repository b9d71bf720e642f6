"""Kafka subscribers of order-svc: qualification and engineer events feed the eligibility projection."""

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
