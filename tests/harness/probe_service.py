"""A minimal service on the shared runtime, used to prove its delivery guarantees.

It consumes exam scores and adds each one to a per-engineer total, exactly once. When the file named
by ``BANGKE_PROBE_HANG_FILE`` exists, the handler stores its work, writes ``<file>.stored`` and then
hangs, so that a test can kill the process after the store and before the offset commit.
"""

import asyncio
import os
from pathlib import Path

import structlog
from fastapi import FastAPI

from datetime import UTC, datetime

from bangke_contracts.exams import ExamScoreCollected, ExamScoreCollectedPayload
from bangke_contracts.topics import EXAMS
from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.idempotency import apply_once
from bangke_runtime.kafka import subscriber_options
from bangke_runtime.runtime import Runtime, build_runtime
from bangke_runtime.server import serve
from bangke_runtime.settings import ServiceSettings

log = structlog.get_logger()


class ProbeSettings(ServiceSettings):
    service_name: str = "probe-svc"
    http_port: int = 8199


def build(settings: ProbeSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or ProbeSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    totals = runtime.db["totals"]
    hang_file = os.environ.get("BANGKE_PROBE_HANG_FILE")

    @runtime.broker.subscriber(settings.topic(EXAMS), **subscriber_options(settings, "probe-totals"))
    async def on_exam_score(event: ExamScoreCollected) -> None:
        applied = await apply_once(
            totals,
            {"_id": event.payload.engineer_id},
            event.event_id,
            {"$inc": {"score_sum": event.payload.score, "count": 1}},
            upsert=True,
        )
        log.info("probe.applied" if applied else "probe.skipped_duplicate", event_id=str(event.event_id))
        if hang_file and Path(hang_file).exists():
            Path(hang_file + ".stored").write_text(str(event.event_id))
            await asyncio.sleep(3600)

    app = create_app(runtime, title="probe-svc", routers=[])
    return runtime, app


def score_event(engineer_id: str, score: int) -> ExamScoreCollected:
    now = datetime.now(UTC)
    return ExamScoreCollected(
        producer="exam-svc",
        payload=ExamScoreCollectedPayload(
            attempt_id=f"attempt-{engineer_id}-{score}",
            engineer_id=engineer_id,
            qualification_type="tv_wall_mounting",
            score=score,
            passed=score >= 80,
            finished_at=now,
            collected_at=now,
        ),
    )


if __name__ == "__main__":
    runtime, app = build()
    serve(app, runtime.settings)
