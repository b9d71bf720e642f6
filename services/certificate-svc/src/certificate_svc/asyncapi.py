"""AsyncAPI entry point: `faststream docs gen certificate_svc.asyncapi:app` documents this service's topics."""

from bangke_contracts import topics
from bangke_contracts.certificates import CertificateEvent
from bangke_contracts.notifications import NotificationEvent
from bangke_runtime.asyncapi import asyncapi_app, declare_publications

from .bootstrap import build

runtime, _http_app = build()
declare_publications(runtime, {topics.CERTIFICATES: CertificateEvent, topics.NOTIFICATIONS: NotificationEvent})
app = asyncapi_app(runtime, "Certificates: the lifecycle of each certificate version, and expiry reminders.")
