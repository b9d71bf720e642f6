"""Grading and the shipped question banks."""

import random

import pytest

from bangke_contracts.catalogue import load_catalogue
from exam_svc.adapters.question_banks import load_question_banks
from exam_svc.domain.exam import AnswerInvalid, Option, Question, QuestionBank, grade

BANKS = load_question_banks()


def question(number: int, answer: str = "A") -> Question:
    return Question(f"q{number}", f"题目{number}", (Option("A", "甲"), Option("B", "乙")), answer)


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
