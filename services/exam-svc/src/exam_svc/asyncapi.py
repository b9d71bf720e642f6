"""AsyncAPI entry point: `faststream docs gen exam_svc.asyncapi:app` documents this service's topics."""

from faststream import FastStream

from .bootstrap import build

runtime, _http_app = build()
app = FastStream(runtime.broker)
