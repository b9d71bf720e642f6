"""AsyncAPI entry point: `faststream docs gen review_svc.asyncapi:app` documents this service's topics."""

from bangke_contracts import topics
from bangke_contracts.reviews import ReviewEvent
from bangke_runtime.asyncapi import asyncapi_app, declare_publications

from .bootstrap import build

runtime, _http_app = build()
declare_publications(runtime, {topics.REVIEWS: ReviewEvent})
app = asyncapi_app(runtime, "Reviews: decisions of outlet managers, the registry check and training managers.")
