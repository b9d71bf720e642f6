"""AsyncAPI entry point: `faststream docs gen exam_svc.asyncapi:app` documents this service's topics."""

from bangke_contracts import topics
from bangke_contracts.exams import ExamEvent
from bangke_runtime.asyncapi import asyncapi_app, declare_publications

from .bootstrap import build

runtime, _http_app = build()
declare_publications(runtime, {topics.EXAMS: ExamEvent})
app = asyncapi_app(runtime, "Exams: scores collected from the exam platform.")
