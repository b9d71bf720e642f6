"""The catalogue of certificate and qualification types, shared by every service.

The product ships a default (``data/catalogue.json``); operators replace it without code by pointing
``BANGKE_CATALOGUE_FILE`` at their own JSON file of the same shape and restarting the services.
Type codes are the stable identifiers in events and APIs; names are what users read.
"""

import json
import re
from functools import cached_property
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .common import CertificateKind


class CertificateType(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name: str
    kind: CertificateKind
    registry_confirmable: bool
    operation_category: str | None = Field(None, description="作业类别 in the safety registry.")
    operation_item: str | None = Field(None, description="操作项目 in the safety registry.")
    number_pattern: str | None = Field(None, description="Regular expression a certificate number must match, if known.")
    number_hint: str = ""

    @field_validator("number_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    def number_fits(self, number: str) -> bool:
        return self.number_pattern is None or re.fullmatch(self.number_pattern, number) is not None


class QualificationType(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name: str
    required_certificates: tuple[str, ...] = ()


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    certificate_types: tuple[CertificateType, ...]
    qualification_types: tuple[QualificationType, ...]

    @model_validator(mode="after")
    def _consistent(self) -> "Catalogue":
        codes = [item.code for item in self.certificate_types]
        if len(codes) != len(set(codes)):
            raise ValueError("certificate type codes must be unique")
        qualification_codes = [item.code for item in self.qualification_types]
        if len(qualification_codes) != len(set(qualification_codes)):
            raise ValueError("qualification type codes must be unique")
        for qualification in self.qualification_types:
            unknown = set(qualification.required_certificates) - set(codes)
            if unknown:
                raise ValueError(f"qualification {qualification.code} requires unknown certificate types {sorted(unknown)}")
        return self

    @cached_property
    def certificates(self) -> dict[str, CertificateType]:
        return {item.code: item for item in self.certificate_types}

    @cached_property
    def qualifications(self) -> dict[str, QualificationType]:
        return {item.code: item for item in self.qualification_types}


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load the catalogue from ``path``, or the default that ships with the contracts."""
    if path is None:
        text = resources.files("bangke_contracts").joinpath("data/catalogue.json").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return Catalogue.model_validate(json.loads(text))
