"""The adapters and shared objects every use case needs, built once in ``bootstrap``."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from bangke_contracts.catalogue import Catalogue, CertificateType
from bangke_contracts.envelope import Event
from bangke_runtime.clock import Clock
from bangke_runtime.outbox import OutboxRelay

from ..adapters.engineers import EngineerDirectory
from ..adapters.notifications import NotificationStore
from ..adapters.photos import PhotoStorage
from ..adapters.repository import CertificateRepository
from ..domain.errors import CertificateTypeUnknown, ConcurrentUpdate, EngineerUnknown
from ..domain.model import Certificate, RecordedEvent
from ..domain.validation import EngineerIdentity
from ..settings import CertificateSettings

PRODUCER = "certificate-svc"


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: CertificateSettings
    catalogue: Catalogue
    clock: Clock
    relay: OutboxRelay
    certificates: CertificateRepository
    engineers: EngineerDirectory
    notifications: NotificationStore
    photos: PhotoStorage

    def certificate_type(self, code: str) -> CertificateType:
        certificate_type = self.catalogue.certificates.get(code)
        if certificate_type is None:
            raise CertificateTypeUnknown(field="certificate_type", value=code, known=sorted(self.catalogue.certificates))
        return certificate_type

    async def engineer(self, engineer_id: str) -> EngineerIdentity:
        engineer = await self.engineers.get(engineer_id)
        if engineer is None:
            # identity-svc's registration event has not reached this service yet.
            raise EngineerUnknown(engineer_id=engineer_id)
        return engineer

    async def store(self, certificate: Certificate, now: datetime, cause: Event[Any] | None = None) -> None:
        """Save the aggregate and its recorded events in one write; raise when another write came first."""
        events = envelopes(certificate.events, now, cause)
        if not await self.certificates.save(certificate, events):
            raise ConcurrentUpdate(certificate_id=certificate.certificate_id)
        if events:
            self.relay.kick()


def envelopes(recorded: list[RecordedEvent], now: datetime, cause: Event[Any] | None = None) -> list[Event[Any]]:
    """Wrap recorded events in envelopes; events caused by one request or event share a correlation id."""
    correlation_id = cause.correlation_id if cause is not None else uuid4()
    causation_id = cause.event_id if cause is not None else None
    return [
        item.event_cls(
            producer=PRODUCER,
            occurred_at=now,
            correlation_id=correlation_id,
            causation_id=causation_id,
            payload=item.payload,
        )
        for item in recorded
    ]
