"""AsyncAPI entry point: `faststream docs gen order_svc.asyncapi:app` documents this service's topics."""

from bangke_contracts import topics
from bangke_contracts.orders import OrderEvent
from bangke_runtime.asyncapi import asyncapi_app, declare_publications

from .bootstrap import build

runtime, _http_app = build()
declare_publications(runtime, {topics.ORDERS: OrderEvent})
app = asyncapi_app(runtime, "Orders: the lifecycle of service orders.")
