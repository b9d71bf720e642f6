"""Load question banks from JSON files: the ones shipped in the package, or an operator's folder.

Each file ``<qualification_type>.json`` contains ``{"qualification_type", "questions": [{"question_id",
"text", "options": [{"key", "text"}], "answer", "points"}]}``, in Simplified Chinese; ``points`` is
optional (1 when absent).
"""

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..domain.exam import Option, Question, QuestionBank

PACKAGED = "question_banks"


def _bank(data: dict[str, Any]) -> QuestionBank:
    return QuestionBank(
        qualification_type=data["qualification_type"],
        questions=tuple(
            Question(
                question_id=q["question_id"],
                text=q["text"],
                options=tuple(Option(o["key"], o["text"]) for o in q["options"]),
                answer=q["answer"],
                points=int(q.get("points", 1)),
            )
            for q in data["questions"]
        ),
    )


def load_question_banks(directory: Path | None = None) -> dict[str, QuestionBank]:
    """Return the banks by qualification type; the packaged ones when ``directory`` is None."""
    if directory is None:
        files = [f for f in resources.files("exam_svc").joinpath(PACKAGED).iterdir() if f.name.endswith(".json")]
    else:
        files = sorted(directory.glob("*.json"))
    banks = {}
    for file in files:
        bank = _bank(json.loads(file.read_text(encoding="utf-8")))
        banks[bank.qualification_type] = bank
    return banks
