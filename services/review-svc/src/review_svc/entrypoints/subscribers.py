"""Kafka subscribers: certificate submissions open reviews, withdrawals cancel them."""

import structlog
from faststream.kafka import KafkaBroker

from bangke_contracts.certificates import CertificateEvent, CertificateSubmitted, CertificateWithdrawn
from bangke_contracts.topics import CERTIFICATES
from bangke_runtime.kafka import subscriber_options

from ..service_layer.reviews import ReviewService
from ..settings import ReviewSettings

log = structlog.get_logger()


def register_subscribers(broker: KafkaBroker, settings: ReviewSettings, service: ReviewService) -> None:
    @broker.subscriber(settings.topic(CERTIFICATES), **subscriber_options(settings, "review-certificates"))
    async def on_certificates(event: CertificateEvent) -> None:
        # Other certificate events (took effect, expired, ...) are certificate-svc's own outcomes.
        if isinstance(event, CertificateSubmitted):
            await service.open_review(event)
        elif isinstance(event, CertificateWithdrawn):
            await service.cancel_review(event)
