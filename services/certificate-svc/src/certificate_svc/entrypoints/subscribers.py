"""Kafka subscribers: identity events feed the engineer projection; review events move versions.

Both name their consumer group and commit after the handler returned (``subscriber_options``).
Unknown event types or schema versions fail validation and go to the dead-letter topic.
"""

from bangke_contracts.identity import EngineerEvent
from bangke_contracts.reviews import ReviewCompleted, ReviewEvent
from bangke_contracts.topics import IDENTITY_ENGINEERS, REVIEWS
from bangke_runtime.kafka import subscriber_options
from bangke_runtime.runtime import Runtime

from ..service_layer import identity, reviews
from ..service_layer.dependencies import Dependencies


def register_subscribers(runtime: Runtime, deps: Dependencies) -> None:
    settings = runtime.settings

    @runtime.broker.subscriber(
        settings.topic(IDENTITY_ENGINEERS), **subscriber_options(settings, "certificate-engineers")
    )
    async def on_identity_engineers(event: EngineerEvent) -> None:
        await identity.on_engineer_event(deps, event)

    @runtime.broker.subscriber(settings.topic(REVIEWS), **subscriber_options(settings, "certificate-reviews"))
    async def on_reviews(event: ReviewEvent) -> None:
        if isinstance(event, ReviewCompleted):
            await reviews.on_review_completed(deps, event)
        else:
            await reviews.on_decision_recorded(deps, event)
