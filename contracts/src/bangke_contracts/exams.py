"""Events of exam-svc: scores collected from the exam platform."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from . import topics
from .common import Id
from .envelope import Event, Payload

PASS_MARK = 80
"""A score of 80 or more passes a qualification exam."""


class ExamScoreCollectedPayload(Payload):
    attempt_id: Id
    engineer_id: Id
    qualification_type: str
    score: int = Field(ge=0, le=100)
    passed: bool
    finished_at: datetime
    collected_at: datetime


class ExamScoreCollected(Event[ExamScoreCollectedPayload]):
    topic: ClassVar[str] = topics.EXAMS
    type: Literal["exam.score_collected"] = "exam.score_collected"
    payload: ExamScoreCollectedPayload


ExamEvent = Annotated[ExamScoreCollected, Field(discriminator="type")]
