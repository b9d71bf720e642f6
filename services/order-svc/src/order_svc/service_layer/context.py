"""The dependencies that the use cases of order-svc share: stores, storage, clock, catalogues and the relay."""

from dataclasses import dataclass
from datetime import datetime

from bangke_contracts.catalogue import Catalogue
from bangke_runtime.clock import Clock
from bangke_runtime.outbox import OutboxRelay
from bangke_runtime.storage import ObjectStorage

from ..adapters.eligibility_store import EligibilityStore
from ..adapters.order_store import OrderStore
from ..domain.errors import ServiceTypeUnknown
from ..domain.service_types import ServiceType, ServiceTypeCatalogue
from ..settings import OrderSettings

PRODUCER = "order-svc"


@dataclass
class OrderContext:
    settings: OrderSettings
    orders: OrderStore
    eligibility: EligibilityStore
    storage: ObjectStorage
    clock: Clock
    relay: OutboxRelay
    service_types: ServiceTypeCatalogue
    catalogue: Catalogue

    def now(self) -> datetime:
        return self.clock.now()

    def service_type(self, code: str) -> ServiceType:
        service = self.service_types.services.get(code)
        if service is None:
            raise ServiceTypeUnknown(field="service_type", value=code, known=sorted(self.service_types.services))
        return service

    def qualification_name(self, code: str) -> str:
        qualification = self.catalogue.qualifications.get(code)
        return qualification.name if qualification else code

    def evidence_names(self) -> dict[str, str]:
        return {kind.code: kind.name for kind in self.service_types.evidence_kinds}

    @property
    def evidence_bucket(self) -> str:
        return self.storage.bucket_name(self.settings.evidence_bucket)
