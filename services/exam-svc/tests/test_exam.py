"""Grading and the shipped question banks."""

import random

import pytest

from bangke_contracts.catalogue import load_catalogue
from exam_svc.adapters.question_banks import load_question_banks
from exam_svc.domain.exam import AnswerInvalid, Option, Question, QuestionBank, grade

BANKS = load_question_banks()


def question(number: int, answer: str = "A", points: int = 1) -> Question:
    return Question(f"q{number}", f"题目{number}", (Option("A", "甲"), Option("B", "乙")), answer, points)


def test_every_default_qualification_has_five_questions() -> None:
    for kind in load_catalogue().qualification_types:
        bank = BANKS[kind.code]
        assert len(bank.questions) >= 5, kind.code
        for q in bank.questions:
            assert len(q.options) == 4, q.question_id
            assert q.answer in q.option_keys()


@pytest.mark.parametrize(("correct", "score"), [(0, 0), (3, 60), (4, 80), (5, 100)])
def test_score_is_share_correct(correct: int, score: int) -> None:
    questions = [question(i) for i in range(5)]
    answers = {f"q{i}": ("A" if i < correct else "B") for i in range(5)}

    result = grade(questions, answers)

    assert result.score == score
    assert result.passed == (score >= 80)


def test_unanswered_counts_wrong_and_rounds_half_up() -> None:
    questions = [question(i) for i in range(8)]

    result = grade(questions, {"q0": "A", "q1": "A", "q2": "A", "q3": "A", "q4": "A", "q5": "A", "q6": "A"})

    assert result.correct == 7
    assert result.score == 88  # 87.5 rounds up


@pytest.mark.parametrize(("wrong", "score"), [((), 100), ((0,), 80), ((0, 3), 79), ((2,), 95), ((4,), 41)])
def test_score_is_share_of_points(wrong: tuple[int, ...], score: int) -> None:
    questions = [question(i, points=p) for i, p in enumerate((20, 15, 5, 1, 59))]
    answers = {f"q{i}": ("B" if i in wrong else "A") for i in range(5)}

    result = grade(questions, answers)

    assert (result.score, result.points, result.total_points) == (score, score, 100)
    assert result.correct == 5 - len(wrong)


def test_question_without_points_rejected() -> None:
    with pytest.raises(ValueError, match="points"):
        question(1, points=0)


def test_ac_repair_bank_reaches_79_80_and_95() -> None:
    questions = list(BANKS["ac_repair"].questions)
    right = {q.question_id: q.answer for q in questions}
    by_points = {q.points: q.question_id for q in questions}

    def score_missing(*points: int) -> int:
        missed = {by_points[p] for p in points}
        answers = dict(right)
        for question_id in missed:
            answers[question_id] = "B" if right[question_id] == "A" else "A"
        return grade(questions, answers).score

    assert sum(q.points for q in questions) == 100
    assert (score_missing(20, 1), score_missing(20), score_missing(5)) == (79, 80, 95)


def test_answer_outside_attempt_rejected() -> None:
    with pytest.raises(AnswerInvalid) as raised:
        grade([question(1)], {"q9": "A"})

    assert raised.value.reason == "not_in_attempt"


def test_unknown_option_rejected() -> None:
    with pytest.raises(AnswerInvalid) as raised:
        grade([question(1)], {"q1": "E"})

    assert raised.value.allowed == ("A", "B")


def test_draw_is_distinct_and_bounded() -> None:
    bank = BANKS["split_ac_installation"]

    drawn = bank.draw(4, random.Random(1))
    everything = bank.draw(50, random.Random(2))

    assert len({q.question_id for q in drawn}) == 4
    assert len(everything) == len(bank.questions)


def test_bank_rejects_answer_outside_options() -> None:
    with pytest.raises(ValueError):
        QuestionBank("x", (question(1, answer="D"),))
