"""Use cases of exam-svc: attempts on the built-in platform, the application projection, score collection."""

from datetime import UTC, datetime
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from bangke_contracts.exams import PASS_MARK, ExamScoreCollected, ExamScoreCollectedPayload
from bangke_contracts.qualifications import (
    QualificationApplied,
    QualificationGranted,
    QualificationLapsed,
    QualificationWithdrawn,
)
from bangke_runtime.clock import Clock
from bangke_runtime.outbox import OutboxRelay, new_document_outbox

from ..adapters.applications import ApplicationRepository
from ..adapters.platform import Attempt, BuiltInExamPlatform, FinishedAttempt, ScoreSource
from ..domain.exam import Grade

log = structlog.get_logger()

PRODUCER = "exam-svc"


class ExamNotAvailable(Exception):
    """The engineer has no pending application for the qualification type."""

    def __init__(self, qualification_type: str, status: str | None) -> None:
        super().__init__(f"no pending application for {qualification_type} (status {status})")
        self.qualification_type = qualification_type
        self.status = status


class NoQuestionBank(Exception):
    def __init__(self, qualification_type: str) -> None:
        super().__init__(f"no question bank for {qualification_type}")
        self.qualification_type = qualification_type


class ExamService:
    def __init__(
        self,
        platform: BuiltInExamPlatform,
        score_source: ScoreSource,
        applications: ApplicationRepository,
        scores: AsyncCollection,
        clock: Clock,
        relay: OutboxRelay,
    ) -> None:
        self.platform = platform
        self.score_source = score_source
        self.applications = applications
        self.scores = scores
        self.clock = clock
        self.relay = relay

    # --- attempts -------------------------------------------------------------------------------

    async def start_attempt(self, engineer_id: str, qualification_type: str) -> Attempt:
        """Start an attempt, or return the one still open for the same exam."""
        application = (await self.applications.applications(engineer_id)).get(qualification_type)
        if application is None or application["status"] != "applied":
            raise ExamNotAvailable(qualification_type, application["status"] if application else None)
        if not self.platform.has_exam(qualification_type):
            raise NoQuestionBank(qualification_type)

        open_attempt = await self.platform.open_attempt(engineer_id, qualification_type)
        if open_attempt is not None:
            return open_attempt
        attempt = await self.platform.start(
            engineer_id, qualification_type, application["qualification_id"], self.clock.now()
        )
        log.info("exam.attempt_started", engineer_id=engineer_id, attempt_id=attempt.attempt_id,
                 qualification_type=qualification_type, questions=len(attempt.questions))
        return attempt

    async def submit(self, attempt: Attempt, answers: dict[str, str]) -> Grade:
        result = await self.platform.submit(attempt, answers, self.clock.now())
        log.info("exam.attempt_finished", engineer_id=attempt.engineer_id, attempt_id=attempt.attempt_id,
                 qualification_type=attempt.qualification_type, score=result.score)
        return result

    # --- qualifications.v1 ----------------------------------------------------------------------

    async def on_qualification_event(
        self, event: QualificationApplied | QualificationWithdrawn | QualificationGranted | QualificationLapsed
    ) -> None:
        p = event.payload
        event_id = str(event.event_id)
        if isinstance(event, QualificationApplied):
            applied = await self.applications.record_applied(p.engineer_id, p.qualification_type, p.qualification_id, event_id)
        else:
            status = {"qualification.withdrawn": "withdrawn", "qualification.granted": "granted",
                      "qualification.lapsed": "lapsed"}[event.type]
            applied = await self.applications.record_status(
                p.engineer_id, p.qualification_type, p.qualification_id, status, event_id
            )
        log.info("exam.application_projected", engineer_id=p.engineer_id, qualification_type=p.qualification_type,
                 event_type=event.type, applied=applied)

    # --- score collection -----------------------------------------------------------------------

    async def collect_scores(self, batch_size: int = 200) -> dict[str, Any]:
        """Publish a score event for every finished attempt not collected yet; a rerun publishes nothing new.

        The score document's id is the platform name and attempt id, so an attempt that the source
        returns again (it crashed before ``mark_collected``) finds its document and adds no event.
        """
        published = seen = 0
        while True:
            batch = await self.score_source.uncollected(batch_size)
            if not batch:
                break
            for attempt in batch:
                seen += 1
                if await self._store_score(attempt):
                    published += 1
                await self.score_source.mark_collected(attempt.attempt_id, self.clock.now())
            if len(batch) < batch_size:
                break
        if published:
            self.relay.kick()
        return {"attempts_seen": seen, "scores_published": published}

    async def _store_score(self, attempt: FinishedAttempt) -> bool:
        now = self.clock.now()
        event = ExamScoreCollected(
            producer=PRODUCER,
            occurred_at=now,
            payload=ExamScoreCollectedPayload(
                attempt_id=attempt.attempt_id,
                engineer_id=attempt.engineer_id,
                qualification_type=attempt.qualification_type,
                score=attempt.score,
                passed=attempt.score >= PASS_MARK,
                finished_at=attempt.finished_at.astimezone(UTC),
                collected_at=now,
            ),
        )
        document = {
            "_id": f"{self.score_source.name}:{attempt.attempt_id}",
            "attempt_id": attempt.attempt_id,
            "engineer_id": attempt.engineer_id,
            "qualification_type": attempt.qualification_type,
            "score": attempt.score,
            "finished_at": attempt.finished_at,
            "collected_at": now,
            **new_document_outbox([event]),
        }
        try:
            await self.scores.insert_one(document)
        except DuplicateKeyError:
            log.info("exam.score_already_collected", attempt_id=attempt.attempt_id)
            return False
        log.info("exam.score_collected", engineer_id=attempt.engineer_id, attempt_id=attempt.attempt_id,
                 qualification_type=attempt.qualification_type, score=attempt.score)
        return True
