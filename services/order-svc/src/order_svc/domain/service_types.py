"""Service types: the qualification each one needs and the evidence a job of that type must carry.

The catalogue is a JSON file (``data/service_types.json`` by default, or ``BANGKE_SERVICE_TYPES_FILE``),
so operators change service types and evidence rules without code. Loading checks it against the
qualification catalogue: a service type that names an unknown qualification type or evidence kind is
rejected at start-up rather than producing orders no engineer can ever take or complete.
"""

import json
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bangke_contracts.catalogue import Catalogue

MediaKind = Literal["image", "video"]


class EvidenceKind(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name: str
    media: MediaKind


class ServiceType(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name: str
    qualification_type: str
    required_evidence: tuple[str, ...] = Field(description="Evidence kinds a job must carry, each at least once.")


class ServiceTypeCatalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    evidence_kinds: tuple[EvidenceKind, ...]
    service_types: tuple[ServiceType, ...]

    @model_validator(mode="after")
    def _consistent(self) -> "ServiceTypeCatalogue":
        kinds = [kind.code for kind in self.evidence_kinds]
        if len(kinds) != len(set(kinds)):
            raise ValueError("evidence kind codes must be unique")
        codes = [service.code for service in self.service_types]
        if len(codes) != len(set(codes)):
            raise ValueError("service type codes must be unique")
        for service in self.service_types:
            unknown = set(service.required_evidence) - set(kinds)
            if unknown:
                raise ValueError(f"service type {service.code} requires unknown evidence kinds {sorted(unknown)}")
        return self

    @cached_property
    def services(self) -> dict[str, ServiceType]:
        return {service.code: service for service in self.service_types}

    @cached_property
    def kinds(self) -> dict[str, EvidenceKind]:
        return {kind.code: kind for kind in self.evidence_kinds}

    def check_against(self, catalogue: Catalogue) -> None:
        """Raise ValueError when a service type needs a qualification type the catalogue lacks."""
        for service in self.service_types:
            if service.qualification_type not in catalogue.qualifications:
                raise ValueError(
                    f"service type {service.code} needs unknown qualification type {service.qualification_type}"
                )


def load_service_types(path: Path | None = None) -> ServiceTypeCatalogue:
    """Load the service-type catalogue from ``path``, or the default that ships with order-svc."""
    if path is None:
        text = resources.files("order_svc").joinpath("data/service_types.json").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return ServiceTypeCatalogue.model_validate(json.loads(text))
