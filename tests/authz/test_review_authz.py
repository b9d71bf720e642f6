"""Authorisation of every review-svc operation, for every role and for other outlets' and regions' reviews."""

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from authz.conftest import AuthzEnv, SignedTarget
from authz.events import wait_for
from authz.framework import (
    ListOwned,
    Owned,
    Request,
    Roles,
    Rule,
    classification_problems,
    docs_problems,
    ops_table,
)
from authz.token_cases import signer_bad_tokens, token_problems
from bangke_contracts.certificates import CertificateSubmitted, CertificateSubmittedPayload
from harness.log_scan import id_number
from review_svc.bootstrap import build
from review_svc.service_layer.reviews import review_id_for
from review_svc.settings import ReviewSettings

pytestmark = pytest.mark.integration

PREFIX = "/api/review"
OPERATOR = frozenset({"operator"})
OUTLET_REVIEWER = frozenset({"outlet_manager_own"})
SEES_TASK = frozenset({"outlet_manager_own", "training_manager_own"})


@pytest.fixture(scope="module")
async def target(launch, authz_env: AuthzEnv) -> SignedTarget:
    service = await launch(build, ReviewSettings, registry_check_enabled=False)
    return SignedTarget(service, authz_env)


async def submitted_task(target: SignedTarget) -> str:
    """Publish certificate-svc's submission of a certificate of A; return the review id once stored."""
    env = target.env
    holder_id = id_number()
    payload = CertificateSubmittedPayload(
        certificate_id=f"cert-{uuid.uuid4().hex[:12]}", version=1, engineer_id=env.subject("engineer_a"),
        certificate_type="low_voltage_electrician", outlet_id=env.scope_id("O1"), region_id=env.scope_id("R1"),
        kind="long_term", registry_confirmable=True, number="T" + holder_id, holder_name="张伟",
        holder_id_number=holder_id, issued_on=date(2024, 3, 1), expires_on=date(2030, 2, 28),
        photo_keys=["photos/front.jpg", "photos/back.jpg"], submitted_at=datetime.now(UTC),
    )
    await env.send(CertificateSubmitted(producer="certificate-svc", payload=payload))
    review_id = review_id_for(payload.certificate_id, payload.version)
    tasks = target.service.runtime.db.list_collection_names
    repository = target.service.runtime.db

    async def stored() -> bool:
        for name in await tasks():
            if await repository[name].find_one({"_id": review_id}):
                return True
        return False

    await wait_for(stored)
    return review_id


async def task_of_a(target: SignedTarget) -> Request:
    cache = target.__dict__.setdefault("cache", {})
    if "task" not in cache:
        cache["task"] = await submitted_task(target)
    return Request(path_params={"review_id": cache["task"]})


async def fresh_task_of_a(target: SignedTarget) -> Request:
    return Request(path_params={"review_id": await submitted_task(target)})


async def fresh_task_to_reject(target: SignedTarget) -> Request:
    request = await fresh_task_of_a(target)
    return Request(path_params=request.path_params, json={"reason": "证书照片模糊，请重新拍摄上传"})


async def task_marker(target: SignedTarget) -> str:
    return (await task_of_a(target)).path_params["review_id"]


async def no_request(_target: SignedTarget) -> Request:
    return Request()


async def snapshot_upload(_target: SignedTarget) -> Request:
    row = {
        "name": "张伟", "sex": "男", "certificate_number": "T" + id_number(), "operation_category": "电工作业",
        "operation_item": "低压电工作业", "first_issued_on": "2024-03-01", "validity_start": "2024-03-01",
        "validity_end": "2030-02-28", "status": "有效", "issuing_authority": "杭州市应急管理局",
    }
    return Request(content=(json.dumps(row, ensure_ascii=False) + "\n").encode())


TABLE: dict[tuple[str, str], Rule] = {
    **ops_table(PREFIX),
    ("GET", f"{PREFIX}/tasks"): ListOwned(allowed=OUTLET_REVIEWER, setup=no_request, marker_of=task_marker),
    ("GET", f"{PREFIX}/tasks/{{review_id}}"): Owned(allowed=SEES_TASK, setup=task_of_a),
    # At the outlet step only A's outlet manager decides. The region's training manager sees the task,
    # so acting before the outlet manager may be refused as the wrong step (409) instead of 403/404.
    ("POST", f"{PREFIX}/tasks/{{review_id}}/approve"): Owned(
        allowed=OUTLET_REVIEWER, setup=fresh_task_of_a, wrong_step=frozenset({"training_manager_own"})
    ),
    ("POST", f"{PREFIX}/tasks/{{review_id}}/reject"): Owned(
        allowed=OUTLET_REVIEWER, setup=fresh_task_to_reject, wrong_step=frozenset({"training_manager_own"})
    ),
    ("GET", f"{PREFIX}/ops/registry-snapshot"): Roles(roles=OPERATOR),
    ("PUT", f"{PREFIX}/ops/registry-snapshot"): Roles(roles=OPERATOR, setup=snapshot_upload),
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
    tokens = signer_bad_tokens(target.env.signer, target.env.subject("outlet_manager_own"), role="outlet_manager")

    problems = await token_problems(target.base_url, "GET", f"{PREFIX}/tasks", tokens)

    assert not problems, "\n".join(problems)
