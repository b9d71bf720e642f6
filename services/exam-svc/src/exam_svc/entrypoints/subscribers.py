"""Kafka subscribers of exam-svc: which exams each engineer may take, from qualifications.v1."""

from bangke_contracts.qualifications import QualificationEvent, QualificationValidityChanged
from bangke_contracts.topics import QUALIFICATIONS
from bangke_runtime.kafka import subscriber_options
from bangke_runtime.runtime import Runtime

from ..service_layer.handlers import ExamService


def register_subscribers(runtime: Runtime, service: ExamService) -> None:
    settings = runtime.settings

    @runtime.broker.subscriber(settings.topic(QUALIFICATIONS), **subscriber_options(settings, "exam-applications"))
    async def on_qualifications(event: QualificationEvent) -> None:
        if isinstance(event, QualificationValidityChanged):
            # A new validity does not change whether an exam may be taken.
            return
        await service.on_qualification_event(event)
