"""AsyncAPI entry point: `faststream docs gen qualification_svc.asyncapi:app` documents this service's topics."""

from bangke_contracts import topics
from bangke_contracts.qualifications import QualificationEvent
from bangke_runtime.asyncapi import asyncapi_app, declare_publications

from .bootstrap import build

runtime, _http_app = build()
declare_publications(runtime, {topics.QUALIFICATIONS: QualificationEvent})
app = asyncapi_app(runtime, "Qualifications: applications, grants, validity changes and lapses.")
