"""Exam platforms: where engineers answer questions and where finished scores are read from.

``ScoreSource`` is all that score collection needs, so an external exam system can replace the
built-in platform by implementing it (and, if engineers answer there, by pointing them to it).
``BuiltInExamPlatform`` serves questions from the shipped banks and grades answers itself.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ..domain.exam import Grade, Question, QuestionBank, grade


@dataclass(frozen=True, slots=True)
class FinishedAttempt:
    """A finished attempt as read by score collection."""

    attempt_id: str
    engineer_id: str
    qualification_type: str
    score: int
    finished_at: datetime


class ScoreSource(Protocol):
    """Source of finished attempts on an exam platform, the one interface score collection needs.

    ``uncollected`` returns finished attempts not yet marked collected, oldest first;
    ``mark_collected`` must be safe to call twice. Collection is idempotent on the attempt id,
    so a source that returns an attempt again after a crash causes no second score event.
    """

    name: str

    async def uncollected(self, limit: int) -> list[FinishedAttempt]: ...

    async def mark_collected(self, attempt_id: str, collected_at: datetime) -> None: ...


@dataclass(slots=True)
class Attempt:
    attempt_id: str
    engineer_id: str
    qualification_type: str
    qualification_id: str
    questions: list[Question]
    started_at: datetime
    status: str = "started"
    answers: dict[str, str] = field(default_factory=dict)
    correct: int | None = None
    score: int | None = None
    finished_at: datetime | None = None
    collected_at: datetime | None = None


class AttemptNotOpen(Exception):
    def __init__(self, attempt_id: str) -> None:
        super().__init__(f"attempt {attempt_id} is finished")
        self.attempt_id = attempt_id


class BuiltInExamPlatform:
    """Attempts in this service's database, questions from the question banks."""

    name = "builtin"

    def __init__(self, db: AsyncDatabase, banks: dict[str, QuestionBank], questions_per_attempt: int) -> None:
        self.attempts: AsyncCollection = db["attempts"]
        self.banks = banks
        self.questions_per_attempt = questions_per_attempt
        self._rng = random.SystemRandom()

    async def create_indexes(self) -> None:
        await self.attempts.create_index([("engineer_id", 1), ("started_at", -1)])
        await self.attempts.create_index([("status", 1), ("collected", 1), ("finished_at", 1)])

    def has_exam(self, qualification_type: str) -> bool:
        return qualification_type in self.banks

    async def open_attempt(self, engineer_id: str, qualification_type: str) -> Attempt | None:
        document = await self.attempts.find_one(
            {"engineer_id": engineer_id, "qualification_type": qualification_type, "status": "started"}
        )
        return self._from_document(document) if document else None

    async def start(self, engineer_id: str, qualification_type: str, qualification_id: str, now: datetime) -> Attempt:
        questions = self.banks[qualification_type].draw(self.questions_per_attempt, self._rng)
        attempt = Attempt(uuid.uuid4().hex, engineer_id, qualification_type, qualification_id, questions, now)
        await self.attempts.insert_one(self._to_document(attempt))
        return attempt

    async def get(self, attempt_id: str) -> Attempt | None:
        document = await self.attempts.find_one({"_id": attempt_id})
        return self._from_document(document) if document else None

    async def list_for(self, engineer_id: str, limit: int = 100) -> list[Attempt]:
        cursor = self.attempts.find({"engineer_id": engineer_id}).sort("started_at", -1).limit(limit)
        return [self._from_document(document) async for document in cursor]

    async def submit(self, attempt: Attempt, answers: dict[str, str], now: datetime) -> Grade:
        """Grade and finish ``attempt``; raise AttemptNotOpen when it was finished already."""
        result = grade(attempt.questions, answers)
        update = await self.attempts.update_one(
            {"_id": attempt.attempt_id, "status": "started"},
            {"$set": {"status": "finished", "answers": answers, "correct": result.correct, "score": result.score,
                      "finished_at": now, "collected": False}},
        )
        if update.modified_count != 1:
            raise AttemptNotOpen(attempt.attempt_id)
        return result

    async def uncollected(self, limit: int) -> list[FinishedAttempt]:
        cursor = self.attempts.find({"status": "finished", "collected": False}).sort("finished_at", 1).limit(limit)
        return [
            FinishedAttempt(d["_id"], d["engineer_id"], d["qualification_type"], d["score"], d["finished_at"])
            async for d in cursor
        ]

    async def mark_collected(self, attempt_id: str, collected_at: datetime) -> None:
        await self.attempts.update_one(
            {"_id": attempt_id}, {"$set": {"collected": True, "collected_at": collected_at}}
        )

    def _to_document(self, attempt: Attempt) -> dict[str, Any]:
        return {
            "_id": attempt.attempt_id,
            "engineer_id": attempt.engineer_id,
            "qualification_type": attempt.qualification_type,
            "qualification_id": attempt.qualification_id,
            # Question ids only: the bank is the one source of texts and answers.
            "question_ids": [q.question_id for q in attempt.questions],
            "started_at": attempt.started_at,
            "status": attempt.status,
            "collected": False,
        }

    def _from_document(self, d: dict[str, Any]) -> Attempt:
        bank = self.banks.get(d["qualification_type"])
        questions = [q for q in (bank.question(i) if bank else None for i in d["question_ids"]) if q is not None]
        return Attempt(
            attempt_id=d["_id"], engineer_id=d["engineer_id"], qualification_type=d["qualification_type"],
            qualification_id=d["qualification_id"], questions=questions, started_at=d["started_at"],
            status=d["status"], answers=d.get("answers") or {}, correct=d.get("correct"), score=d.get("score"),
            finished_at=d.get("finished_at"), collected_at=d.get("collected_at"),
        )
