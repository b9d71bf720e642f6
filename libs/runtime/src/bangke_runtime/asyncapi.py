"""AsyncAPI documents generated from the services' subscribers and declared publishers.

The outbox relay publishes through ``broker.publish``, which AsyncAPI cannot see, so each service
declares the topics it produces with ``declare_publications``. ``faststream docs gen
<service>.asyncapi:app`` then documents both directions, and a test keeps the checked-in documents in
``contracts/asyncapi/`` equal to what the code generates, so that a schema change shows in review.
"""

from typing import Any

from faststream import FastStream
from faststream.specification import AsyncAPI

from bangke_contracts.topics import TOPICS

from .runtime import Runtime

_DESCRIPTIONS = {spec.name: spec.description for spec in TOPICS}


def declare_publications(runtime: Runtime, publications: dict[str, Any]) -> None:
    """Declare, for documentation only, the event union this service publishes on each topic."""
    for topic, schema in publications.items():
        runtime.broker.publisher(
            runtime.settings.topic(topic),
            schema=schema,
            title=f"{topic}:publish",
            description=_DESCRIPTIONS.get(topic, ""),
        )


def asyncapi_app(runtime: Runtime, description: str) -> FastStream:
    """Return the FastStream application whose ``schema`` ``faststream docs gen`` renders."""
    specification = AsyncAPI(
        runtime.broker,
        title=runtime.settings.service_name,
        version="0.1.0",
        description=description,
    )
    return FastStream(runtime.broker, specification=specification)
