"""HTTP request and response bodies of exam-svc."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class StartAttemptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qualification_type: str = Field(min_length=1, max_length=64, examples=["split_ac_installation"])


class SubmitAnswersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str] = Field(
        description="Question id to the chosen option key; an unanswered question counts as wrong.",
        examples=[{"split_ac_installation-01": "B"}],
    )


class OptionView(BaseModel):
    key: str
    text: str


class QuestionView(BaseModel):
    """A question as served to the engineer, without the answer."""

    question_id: str
    text: str
    points: int = Field(description="Points for a correct answer. The score is the share of all points earned, 0 to 100.")
    options: list[OptionView]


class AttemptView(BaseModel):
    attempt_id: str
    qualification_type: str
    qualification_name: str
    status: str = Field(description="started or finished.")
    started_at: datetime
    questions: list[QuestionView]
    answers: dict[str, str] = Field(default_factory=dict)
    correct: int | None = None
    score: int | None = Field(None, description="0 to 100 once finished.")
    passed: bool | None = Field(None, description="Score of 80 or more.")
    finished_at: datetime | None = None
    collected_at: datetime | None = Field(None, description="When the score was sent to qualification-svc.")


class AvailableExamView(BaseModel):
    qualification_type: str
    qualification_name: str
    qualification_id: str
    question_bank: bool = Field(description="Whether the built-in platform has questions for this exam.")
