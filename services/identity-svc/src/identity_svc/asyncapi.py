"""AsyncAPI entry point: `faststream docs gen identity_svc.asyncapi:app` documents this service's topics."""

from bangke_contracts import topics
from bangke_contracts.identity import EngineerEvent, OrganisationEvent
from bangke_runtime.asyncapi import asyncapi_app, declare_publications

from .bootstrap import build

runtime, _http_app = build()
declare_publications(runtime, {topics.IDENTITY_ENGINEERS: EngineerEvent, topics.IDENTITY_ORGANISATION: OrganisationEvent})
app = asyncapi_app(runtime, "Identity: engineers, providers, regions and outlets.")
