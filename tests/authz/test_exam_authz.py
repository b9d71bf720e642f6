"""Authorisation of every exam-svc operation, for every role and for other engineers' attempts."""

from datetime import UTC, datetime

import pytest

from authz.conftest import AuthzEnv, SignedTarget
from authz.events import ENGINEERS, wait_for
from authz.framework import (
    MEMBERS,
    ListOwned,
    Owned,
    Request,
    Roles,
    Rule,
    call,
    classification_problems,
    docs_problems,
    ops_table,
)
from authz.token_cases import signer_bad_tokens, token_problems
from bangke_contracts.qualifications import QualificationApplied, QualificationAppliedPayload
from exam_svc.bootstrap import build
from exam_svc.settings import ExamSettings

pytestmark = pytest.mark.integration

PREFIX = "/api/exam"
QUALIFICATION_TYPE = "tv_wall_mounting"


def qualification_id(env: AuthzEnv, who: str) -> str:
    return f"q-{env.subject(who)}"


@pytest.fixture(scope="module")
async def target(launch, authz_env: AuthzEnv) -> SignedTarget:
    """exam-svc with a pending TV wall mounting application for each engineer of the cast."""
    service = await launch(build, ExamSettings)
    for who in ENGINEERS:
        member = MEMBERS[who]
        await authz_env.send(QualificationApplied(producer="qualification-svc", payload=QualificationAppliedPayload(
            qualification_id=qualification_id(authz_env, who), engineer_id=authz_env.subject(who),
            outlet_id=authz_env.scope_id(member.outlet), region_id=authz_env.scope_id(member.region),
            qualification_type=QUALIFICATION_TYPE, applied_at=datetime.now(UTC),
        )))
    applications = service.runtime.db["applications"]
    for who in ENGINEERS:
        engineer_id = authz_env.subject(who)
        await wait_for(lambda: applications.find_one({"_id": engineer_id, f"applications.{QUALIFICATION_TYPE}": {"$exists": True}}))
    return SignedTarget(service, authz_env)


async def start_attempt(target: SignedTarget) -> dict:
    """Start (or resume) A's attempt."""
    response = await call(target, "engineer_a", "POST", f"{PREFIX}/attempts", start_body())
    assert response.status_code == 201, response.text
    return response.json()


def start_body() -> Request:
    return Request(json={"qualification_type": QUALIFICATION_TYPE})


async def attempt_of_a(target: SignedTarget) -> Request:
    cache = target.__dict__.setdefault("cache", {})
    if "attempt" not in cache:
        cache["attempt"] = await start_attempt(target)
    return Request(path_params={"attempt_id": cache["attempt"]["attempt_id"]})


async def open_attempt_of_a(target: SignedTarget) -> Request:
    """A's open attempt with answers (the first option of every question) to submit."""
    attempt = await start_attempt(target)
    answers = {question["question_id"]: question["options"][0]["key"] for question in attempt["questions"]}
    return Request(path_params={"attempt_id": attempt["attempt_id"]}, json={"answers": answers})


async def attempt_marker(target: SignedTarget) -> str:
    return (await attempt_of_a(target)).path_params["attempt_id"]


async def application_marker(target: SignedTarget) -> str:
    return qualification_id(target.env, "engineer_a")


async def no_request(_target: SignedTarget) -> Request:
    return Request()


async def start_request(_target: SignedTarget) -> Request:
    return start_body()


A_ONLY = frozenset({"engineer_a"})

TABLE: dict[tuple[str, str], Rule] = {
    **ops_table(PREFIX),
    ("GET", f"{PREFIX}/exams"): ListOwned(allowed=A_ONLY, setup=no_request, marker_of=application_marker),
    # Each engineer starts an attempt at their own application; the body names no engineer.
    ("POST", f"{PREFIX}/attempts"): Roles(roles=frozenset({"engineer"}), setup=start_request),
    ("GET", f"{PREFIX}/attempts"): ListOwned(allowed=A_ONLY, setup=no_request, marker_of=attempt_marker),
    ("GET", f"{PREFIX}/attempts/{{attempt_id}}"): Owned(allowed=A_ONLY, setup=attempt_of_a),
    ("POST", f"{PREFIX}/attempts/{{attempt_id}}/answers"): Owned(allowed=A_ONLY, setup=open_attempt_of_a),
}


async def test_every_operation_classified(target: SignedTarget):
    problems = classification_problems(target.service.app.openapi(), TABLE)

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("operation", sorted(TABLE), ids=lambda op: f"{op[0]} {op[1]}")
async def test_operation_authorisation(target: SignedTarget, operation: tuple[str, str]):
    method, path = operation

    problems = await TABLE[operation].check(target, method, path)

    assert not problems, f"{method} {path}:\n" + "\n".join(problems)


async def test_docs_and_probes_public(target: SignedTarget):
    problems = await docs_problems(target.base_url, PREFIX)

    assert not problems, "\n".join(problems)


async def test_bad_tokens_rejected(target: SignedTarget):
    tokens = signer_bad_tokens(target.env.signer, target.env.subject("engineer_a"))

    problems = await token_problems(target.base_url, "GET", f"{PREFIX}/attempts", tokens)

    assert not problems, "\n".join(problems)
