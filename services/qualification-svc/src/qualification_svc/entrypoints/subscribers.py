"""Kafka subscribers of qualification-svc: identity, certificates and exam scores.

Each subscriber has its own consumer group and commits after its handler returned; the handlers
record the event id in the engineer's document in the same write as the effect.
"""

import structlog

from bangke_contracts.certificates import (
    CertificateEvent,
    CertificateExpired,
    CertificateRevoked,
    CertificateSuperseded,
    CertificateTookEffect,
)
from bangke_contracts.exams import ExamEvent
from bangke_contracts.identity import EngineerAuthenticated, EngineerEvent, EngineerRegistered
from bangke_contracts.topics import CERTIFICATES, EXAMS, IDENTITY_ENGINEERS
from bangke_runtime.kafka import subscriber_options
from bangke_runtime.runtime import Runtime

from ..service_layer.handlers import QualificationService

log = structlog.get_logger()


def register_subscribers(runtime: Runtime, service: QualificationService) -> None:
    settings = runtime.settings
    broker = runtime.broker

    @broker.subscriber(settings.topic(IDENTITY_ENGINEERS), **subscriber_options(settings, "qualification-identity"))
    async def on_identity_engineers(event: EngineerEvent) -> None:
        match event:
            case EngineerRegistered():
                await service.on_engineer_registered(event)
            case EngineerAuthenticated():
                await service.on_engineer_authenticated(event)

    @broker.subscriber(settings.topic(CERTIFICATES), **subscriber_options(settings, "qualification-certificates"))
    async def on_certificates(event: CertificateEvent) -> None:
        match event:
            case CertificateTookEffect():
                await service.on_certificate_took_effect(event)
            case CertificateSuperseded():
                await service.on_certificate_superseded(event)
            case CertificateExpired() | CertificateRevoked():
                await service.on_certificate_ended(event)
            case _:
                # Submissions, withdrawals and rejections do not change what is in effect.
                pass

    @broker.subscriber(settings.topic(EXAMS), **subscriber_options(settings, "qualification-exams"))
    async def on_exams(event: ExamEvent) -> None:
        await service.on_exam_score(event)
