"""Exams of the built-in platform: question banks, drawing questions, grading.

Each question carries points (1 unless its bank says otherwise). A score is the share of the
attempt's points earned by correct answers, 0 to 100, rounded half up; an unanswered question
counts as wrong. The pass mark (80) is applied by qualification-svc, from the contract.
"""

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bangke_contracts.exams import PASS_MARK


@dataclass(frozen=True, slots=True)
class Option:
    key: str
    text: str


@dataclass(frozen=True, slots=True)
class Question:
    question_id: str
    text: str
    options: tuple[Option, ...]
    answer: str
    points: int = 1

    def __post_init__(self) -> None:
        if self.points < 1:
            raise ValueError(f"question {self.question_id}: invalid points {self.points}, use a whole number from 1")

    def option_keys(self) -> tuple[str, ...]:
        return tuple(option.key for option in self.options)


@dataclass(frozen=True, slots=True)
class QuestionBank:
    qualification_type: str
    questions: tuple[Question, ...]

    def __post_init__(self) -> None:
        ids = [q.question_id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError(f"question bank {self.qualification_type} repeats a question id")
        for question in self.questions:
            if question.answer not in question.option_keys():
                raise ValueError(f"question {question.question_id} has answer {question.answer} outside its options")

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.question_id == question_id), None)

    def draw(self, count: int, rng: random.Random) -> list[Question]:
        """Draw ``count`` distinct questions in random order (all of them when the bank is smaller)."""
        return rng.sample(list(self.questions), min(count, len(self.questions)))


@dataclass(frozen=True, slots=True)
class Grade:
    correct: int
    total: int
    score: int
    points: int = 0
    total_points: int = 0

    @property
    def passed(self) -> bool:
        return self.score >= PASS_MARK


class AnswerInvalid(Exception):
    """An answer names a question outside the attempt or an option the question does not have."""

    def __init__(self, question_id: str, reason: str, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(f"answer to {question_id}: {reason}")
        self.question_id = question_id
        self.reason = reason
        self.allowed = allowed


def check_answers(questions: list[Question], answers: dict[str, str]) -> None:
    by_id = {q.question_id: q for q in questions}
    for question_id, choice in answers.items():
        question = by_id.get(question_id)
        if question is None:
            raise AnswerInvalid(question_id, "not_in_attempt", tuple(by_id))
        if choice not in question.option_keys():
            raise AnswerInvalid(question_id, "unknown_option", question.option_keys())


def grade(questions: list[Question], answers: dict[str, str]) -> Grade:
    """Grade ``answers`` (question id to option key) against ``questions``; check them first."""
    if not questions:
        raise ValueError("an attempt without questions cannot be graded")
    check_answers(questions, answers)
    right = [q for q in questions if answers.get(q.question_id) == q.answer]
    earned = sum(q.points for q in right)
    total_points = sum(q.points for q in questions)
    score = int((Decimal(100 * earned) / Decimal(total_points)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return Grade(len(right), len(questions), score, earned, total_points)
