"""exam-svc on the real servers, with qualification-svc started beside it."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bangke_contracts.identity import (
    EngineerAuthenticated,
    EngineerAuthenticatedPayload,
    EngineerRegistered,
    EngineerRegisteredPayload,
)
from bangke_contracts.topics import EXAMS, IDENTITY_ENGINEERS
from exam_svc.adapters.question_banks import load_question_banks
from exam_svc.bootstrap import build as build_exam
from exam_svc.settings import ExamSettings
from harness.kafka_tools import produce_raw, read_topic, record_json
from qualification_svc.bootstrap import build as build_qualification
from qualification_svc.settings import QualificationSettings

pytestmark = pytest.mark.integration

ENGINEER = "eng-exam"
BANK = load_question_banks()["tv_wall_mounting"]


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout_s: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.1)


async def register(infra: Any, isolation: Any) -> None:
    now = datetime.now(UTC)
    topic = isolation.topic_prefix + IDENTITY_ENGINEERS
    for event in (
        EngineerRegistered(producer="identity-svc", payload=EngineerRegisteredPayload(
            engineer_id=ENGINEER, provider_id="provider-1", outlet_id="outlet-1", region_id="region-1",
            name="李娜", id_number_sha256="0" * 64, registered_at=now,
        )),
        EngineerAuthenticated(producer="identity-svc", payload=EngineerAuthenticatedPayload(
            engineer_id=ENGINEER, method="local_checks", authenticated_at=now,
        )),
    ):
        await produce_raw(infra.kafka_bootstrap, topic, event.model_dump_json().encode(), key=ENGINEER.encode())


def right_answers(attempt: dict[str, Any]) -> dict[str, str]:
    return {q["question_id"]: BANK.question(q["question_id"]).answer for q in attempt["questions"]}


def wrong_answers(attempt: dict[str, Any]) -> dict[str, str]:
    answers = {}
    for q in attempt["questions"]:
        right = BANK.question(q["question_id"]).answer
        answers[q["question_id"]] = next(o["key"] for o in q["options"] if o["key"] != right)
    return answers


async def test_exam_to_granted_qualification(start_service, infra, isolation, signer):
    qualifications = await start_service(build_qualification, QualificationSettings)
    exams = await start_service(build_exam, ExamSettings)
    engineer = signer.headers("engineer", ENGINEER, outlet_id="outlet-1", region_id="region-1")
    operator = signer.headers("operator", "ops-1")
    await register(infra, isolation)
    engineers = qualifications.runtime.db["engineers"]
    await wait_for(lambda: engineers.find_one({"_id": ENGINEER, "authenticated": True}))

    async with exams.client(headers=engineer) as exam, qualifications.client(headers=engineer) as qualification:
        refused = await exam.post("/attempts", json={"qualification_type": "tv_wall_mounting"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "exam_not_available"
        assert "请先申请「电视挂装」" in refused.json()["error"]["message"]

        assert (await qualification.post("/qualifications", json={"qualification_type": "tv_wall_mounting"})).status_code == 201

        async def exam_open() -> bool:
            return [e["qualification_type"] for e in (await exam.get("/exams")).json()] == ["tv_wall_mounting"]

        await wait_for(exam_open)

        first = (await exam.post("/attempts", json={"qualification_type": "tv_wall_mounting"})).json()
        assert len(first["questions"]) == len(BANK.questions)
        assert all("answer" not in q for q in first["questions"])
        resumed = (await exam.post("/attempts", json={"qualification_type": "tv_wall_mounting"})).json()
        assert resumed["attempt_id"] == first["attempt_id"]

        bad_option = await exam.post(f"/attempts/{first['attempt_id']}/answers",
                                     json={"answers": {first["questions"][0]["question_id"]: "Z"}})
        assert bad_option.status_code == 422
        assert bad_option.json()["error"]["details"]["field"] == f"answers.{first['questions'][0]['question_id']}"

        failed = await exam.post(f"/attempts/{first['attempt_id']}/answers", json={"answers": wrong_answers(first)})
        assert failed.status_code == 200, failed.text
        assert failed.json()["score"] == 0
        assert failed.json()["passed"] is False
        resubmitted = await exam.post(f"/attempts/{first['attempt_id']}/answers", json={"answers": right_answers(first)})
        assert resubmitted.status_code == 409

        retake = (await exam.post("/attempts", json={"qualification_type": "tv_wall_mounting"})).json()
        assert retake["attempt_id"] != first["attempt_id"]
        passed = await exam.post(f"/attempts/{retake['attempt_id']}/answers", json={"answers": right_answers(retake)})
        assert passed.json()["score"] == 100

        stranger = signer.headers("engineer", "eng-other", outlet_id="outlet-1", region_id="region-1")
        assert (await exam.get(f"/attempts/{retake['attempt_id']}", headers=stranger)).status_code == 404

        run = await exam.post("/ops/jobs/collect_scores/run", headers=operator)
        assert run.status_code == 200, run.text
        assert run.json()["result"] == {"attempts_seen": 2, "scores_published": 2}
        rerun = await exam.post("/ops/jobs/collect_scores/run", headers=operator)
        assert rerun.json()["result"] == {"attempts_seen": 0, "scores_published": 0}

        async def granted() -> dict[str, Any] | None:
            items = (await qualification.get("/qualifications")).json()
            return items[0] if items and items[0]["status"] == "granted" else None

        item = await wait_for(granted)
        assert item["passed_score"] == 100
        assert [r["score"] for r in item["exam_results"]] == [0, 100]
        assert item["valid_until"] == "2099-12-31"

        async def exam_closed() -> bool:
            response = await exam.post("/attempts", json={"qualification_type": "tv_wall_mounting"})
            return response.status_code == 409 and response.json()["error"]["details"]["application_status"] == "granted"

        await wait_for(exam_closed)

    scores = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + EXAMS, expect=3, timeout_s=5)
    payloads = sorted((record_json(r)["payload"] for r in scores), key=lambda p: p["score"])
    assert [(p["score"], p["passed"]) for p in payloads] == [(0, False), (100, True)]
    assert {p["attempt_id"] for p in payloads} == {first["attempt_id"], retake["attempt_id"]}
    assert all(r.key == ENGINEER.encode() for r in scores)
