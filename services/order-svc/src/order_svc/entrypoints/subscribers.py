"""Kafka subscribers of order-svc: qualification and engineer events feed the eligibility projection.

Qualification events arrive in batches: one engineer's events are applied in their Kafka order,
two engineers side by side, and the offsets are committed once the whole batch is applied. Each
event is applied exactly as on its own (``projection.on_qualification_event``), and applying it
again changes nothing, so a batch that comes again after a crash is safe.
"""

from typing import Any

from pydantic import SkipValidation, TypeAdapter

from bangke_contracts.identity import EngineerEvent
from bangke_contracts.qualifications import QualificationEvent
from bangke_contracts.topics import IDENTITY_ENGINEERS, QUALIFICATIONS
from bangke_runtime.batches import apply_by_key
from bangke_runtime.kafka import DeadLetterPolicy, batch_subscriber_options, subscriber_options
from bangke_runtime.runtime import Runtime

from ..service_layer import projection
from ..service_layer.context import OrderContext

QUALIFICATION_BATCH = 200
"""Maximum qualification records handled together, from what the consumer has fetched."""

ENGINEERS_AT_ONCE = 2
"""Engineers of one batch applied side by side, so that one's reads overlap another's writes. On
FerretDB with 300 engineers, the projection applied 122 events/s with 2 at once, 73 to 108 with 1
and 63 with 8: more reads beside the writes slowed each write."""

_qualification_event: TypeAdapter[Any] = TypeAdapter(QualificationEvent)


def register_subscribers(runtime: Runtime, ctx: OrderContext) -> None:
    settings = runtime.settings
    dead_letters = DeadLetterPolicy(settings)
    dead_letters.broker = runtime.broker

    async def apply_engineer(_engineer_id: str, events: list[Any]) -> None:
        for event in events:
            await projection.on_qualification_event(ctx, event)

    @runtime.broker.subscriber(
        settings.topic(QUALIFICATIONS),
        **batch_subscriber_options(settings, "order-qualifications", max_records=QUALIFICATION_BATCH),
    )
    async def on_qualifications(records: SkipValidation[QualificationEvent]) -> None:
        # The decoder hands over the consumed records unparsed (see qualification-svc's certificate
        # subscriber): each is parsed on its own, and the annotation documents the payload in AsyncAPI.
        await apply_by_key(
            records,  # type: ignore[arg-type]
            _qualification_event,
            lambda event: event.payload.engineer_id,
            apply_engineer,
            dead_letters,
            settings,
            at_once=ENGINEERS_AT_ONCE,
        )

    @runtime.broker.subscriber(settings.topic(IDENTITY_ENGINEERS), **subscriber_options(settings, "order-engineers"))
    async def on_engineers(event: EngineerEvent) -> None:
        await projection.on_engineer_event(ctx, event)
