"""Value types shared by several contracts."""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

Id = Annotated[str, StringConstraints(min_length=1, max_length=64), Field(examples=["7b1f3c2e9d0a4e55"])]

CertificateKind = Literal["temporary", "long_term"]
"""Temporary certificates no registry can confirm; long-term ones are official licences."""

Role = Literal[
    "engineer",
    "outlet_manager",
    "training_manager",
    "provider_admin",
    "dispatcher",
    "operator",
]
