"""Kafka subscribers of order-svc: qualification and engineer events feed the eligibility projection.

Qualification events arrive in batches of up to ``QUALIFICATION_BATCH`` records, and each outlet and
region document is written once per batch instead of once per event (service_layer/projection.py).
Engineer events are handled one at a time.
"""

from pydantic import SkipValidation

from bangke_contracts.identity import EngineerEvent
from bangke_contracts.qualifications import QualificationEvent
from bangke_contracts.topics import IDENTITY_ENGINEERS, QUALIFICATIONS
from bangke_runtime.kafka import DeadLetterPolicy, batch_subscriber_options, subscriber_options
from bangke_runtime.runtime import Runtime

from ..service_layer import projection
from ..service_layer.context import OrderContext

QUALIFICATION_BATCH = 200
"""Maximum qualification records handled together. A batch is what the consumer has fetched, and it
is not held back to fill up."""


def register_subscribers(runtime: Runtime, ctx: OrderContext) -> None:
    settings = runtime.settings
    dead_letters = DeadLetterPolicy(settings)
    dead_letters.broker = runtime.broker

    @runtime.broker.subscriber(
        settings.topic(QUALIFICATIONS),
        **batch_subscriber_options(settings, "order-qualifications", max_records=QUALIFICATION_BATCH),
    )
    async def on_qualifications(records: SkipValidation[QualificationEvent]) -> None:
        # ``records`` is the list of consumed ConsumerRecords, unparsed (decoder ``raw_records``), so
        # that one bad record does not fail the batch. The annotation documents each message's payload.
        await projection.on_qualification_records(ctx, records, dead_letters)  # type: ignore[arg-type]

    @runtime.broker.subscriber(settings.topic(IDENTITY_ENGINEERS), **subscriber_options(settings, "order-engineers"))
    async def on_engineers(event: EngineerEvent) -> None:
        await projection.on_engineer_event(ctx, event)
