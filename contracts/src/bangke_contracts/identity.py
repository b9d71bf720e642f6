"""Events of identity-svc: engineers, providers, regions and outlets."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from . import topics
from .common import Id
from .envelope import Event, Payload


class EngineerRegisteredPayload(Payload):
    engineer_id: Id
    provider_id: Id
    outlet_id: Id
    region_id: Id
    name: str = Field(description="Real name as registered.", examples=["张伟"])
    id_number_sha256: str = Field(
        description="SHA-256 hex digest of the upper-cased resident ID number; other services match holders with it."
    )
    registered_at: datetime


class EngineerRegistered(Event[EngineerRegisteredPayload]):
    topic: ClassVar[str] = topics.IDENTITY_ENGINEERS
    type: Literal["engineer.registered"] = "engineer.registered"
    payload: EngineerRegisteredPayload


class EngineerAuthenticatedPayload(Payload):
    engineer_id: Id
    method: str = Field(description="Adapter that authenticated the real name.", examples=["local_checks"])
    authenticated_at: datetime


class EngineerAuthenticated(Event[EngineerAuthenticatedPayload]):
    topic: ClassVar[str] = topics.IDENTITY_ENGINEERS
    type: Literal["engineer.authenticated"] = "engineer.authenticated"
    payload: EngineerAuthenticatedPayload


EngineerEvent = Annotated[EngineerRegistered | EngineerAuthenticated, Field(discriminator="type")]


class OutletCreatedPayload(Payload):
    outlet_id: Id
    region_id: Id
    provider_id: Id
    name: str


class OutletCreated(Event[OutletCreatedPayload]):
    topic: ClassVar[str] = topics.IDENTITY_ORGANISATION
    type: Literal["outlet.created"] = "outlet.created"
    payload: OutletCreatedPayload


class ProviderApprovedPayload(Payload):
    provider_id: Id
    name: str
    service_type: str
    approved_at: datetime


class ProviderApproved(Event[ProviderApprovedPayload]):
    topic: ClassVar[str] = topics.IDENTITY_ORGANISATION
    type: Literal["provider.approved"] = "provider.approved"
    payload: ProviderApprovedPayload


OrganisationEvent = Annotated[OutletCreated | ProviderApproved, Field(discriminator="type")]
