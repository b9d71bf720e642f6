"""Authorisation of every certificate-svc operation, for every role and for other engineers' certificates.

An engineer holds at most one certificate per type, so each object the walk needs in another state
gets its own type: a draft (electrician), a draft to submit (work at height), a submitted one to
withdraw (refrigeration), a withdrawn one to correct (gas appliance) and one in effect to renew and
to be reminded of (pre-job training).
"""

import struct
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from authz.conftest import AuthzEnv, SignedTarget
from authz.events import ENGINEER_NAME, ENGINEERS, engineer_id_numbers, register_engineers, wait_for
from authz.framework import (
    ListOwned,
    Owned,
    Request,
    Roles,
    Rule,
    call,
    classification_problems,
    docs_problems,
    ops_table,
    ALL_ROLES,
)
from authz.token_cases import signer_bad_tokens, token_problems
from bangke_contracts.reviews import ReviewCompleted, ReviewCompletedPayload
from certificate_svc.bootstrap import build
from certificate_svc.settings import CertificateSettings

pytestmark = pytest.mark.integration

PREFIX = "/api/certificate"
A_ONLY = frozenset({"engineer_a"})
PATTERNED_TYPES = {"low_voltage_electrician", "work_at_height", "refrigeration_ac"}


def png_bytes() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
async def target(launch, authz_env: AuthzEnv) -> SignedTarget:
    service = await launch(build, CertificateSettings, scheduled_jobs=False)
    await register_engineers(authz_env, authenticate=False)
    engineers = service.runtime.db["engineers"]
    for who in ENGINEERS:
        engineer_id = authz_env.subject(who)
        await wait_for(lambda: engineers.find_one({"_id": engineer_id}))
    return SignedTarget(service, authz_env)


def draft_body(env: AuthzEnv, who: str, certificate_type: str, expires_in_days: int = 2000) -> dict[str, Any]:
    number = engineer_id_numbers(env)[who]
    today = datetime.now(UTC).date()
    return {
        "certificate_type": certificate_type,
        "number": "T" + number if certificate_type in PATTERNED_TYPES else f"AUTHZ-{uuid.uuid4().hex[:8]}",
        "holder_name": ENGINEER_NAME,
        "holder_id_number": number,
        "issued_on": (today - timedelta(days=400)).isoformat(),
        "expires_on": (today + timedelta(days=expires_in_days)).isoformat(),
    }


async def as_a(target: SignedTarget, method: str, path: str, json: Any = None) -> dict[str, Any]:
    response = await call(target, "engineer_a", method, PREFIX + path, Request(json=json))
    assert response.is_success, f"{method} {path}: {response.text}"
    return response.json()


async def uploaded_key(target: SignedTarget, certificate_id: str, side: str) -> str:
    """Upload a PNG through a presigned URL as A; return the object key to attach."""
    grant = await as_a(target, "POST", f"/certificates/{certificate_id}/photos/{side}/upload-url")
    async with httpx.AsyncClient(timeout=30.0) as storage:
        stored = await storage.put(grant["url"], content=png_bytes())
    assert stored.status_code == 200, stored.text
    return grant["key"]


async def certificate_of_a(target: SignedTarget, certificate_type: str, state: str, expires_in_days: int = 2000) -> str:
    """Create A's certificate of ``certificate_type`` and bring it to ``state``, once per type."""
    cache = target.__dict__.setdefault("cache", {})
    if certificate_type in cache:
        return cache[certificate_type]
    created = await as_a(target, "POST", "/certificates", draft_body(target.env, "engineer_a", certificate_type, expires_in_days))
    certificate_id = created["certificate_id"]
    cache[certificate_type] = certificate_id
    if state == "draft":
        return certificate_id
    for side in ("front", "back"):
        await as_a(target, "PUT", f"/certificates/{certificate_id}/photos/{side}", {"key": await uploaded_key(target, certificate_id, side)})
    if state == "complete_draft":
        return certificate_id
    await as_a(target, "POST", f"/certificates/{certificate_id}/submit")
    if state == "withdrawn":
        await as_a(target, "POST", f"/certificates/{certificate_id}/withdraw")
    elif state == "in_effect":
        await approve(target, certificate_id)
    return certificate_id


async def approve(target: SignedTarget, certificate_id: str) -> None:
    """Publish review-svc's final approval of version 1 and wait until the certificate is in effect."""
    collection = target.service.runtime.db["certificates"]
    await wait_for(lambda: collection.find_one({"_id": certificate_id, "outbox_pending": False}))
    now = datetime.now(UTC)
    await target.env.send(ReviewCompleted(producer="review-svc", payload=ReviewCompletedPayload(
        review_id=uuid.uuid4().hex, certificate_id=certificate_id, version=1,
        engineer_id=target.env.subject("engineer_a"), outcome="approved", decided_by_role="training_manager",
        completed_at=now,
    )))

    async def in_effect() -> bool:
        view = await as_a(target, "GET", f"/certificates/{certificate_id}")
        return "in_effect" in str(view)

    await wait_for(in_effect)


async def draft_of_a(target: SignedTarget) -> Request:
    return Request(path_params={"certificate_id": await certificate_of_a(target, "low_voltage_electrician", "draft")})


async def photo_upload_of_a(target: SignedTarget) -> Request:
    request = await draft_of_a(target)
    request.path_params["side"] = "front"
    return request


async def photo_attach_of_a(target: SignedTarget) -> Request:
    request = await photo_upload_of_a(target)
    key = await uploaded_key(target, request.path_params["certificate_id"], "front")
    return Request(path_params=request.path_params, json={"key": key})


async def draft_change_of_a(target: SignedTarget) -> Request:
    request = await draft_of_a(target)
    return Request(path_params=request.path_params, json={"holder_name": ENGINEER_NAME})


async def complete_draft_of_a(target: SignedTarget) -> Request:
    return Request(path_params={"certificate_id": await certificate_of_a(target, "work_at_height", "complete_draft")})


async def submitted_of_a(target: SignedTarget) -> Request:
    return Request(path_params={"certificate_id": await certificate_of_a(target, "refrigeration_ac", "submitted")})


async def withdrawn_of_a(target: SignedTarget) -> Request:
    certificate_id = await certificate_of_a(target, "gas_appliance", "withdrawn")
    return Request(path_params={"certificate_id": certificate_id}, json={"holder_name": ENGINEER_NAME})


async def in_effect_of_a(target: SignedTarget) -> str:
    # Expires within the 30-day reminder window, so the reminder job has something to remind of.
    return await certificate_of_a(target, "pre_job_training", "in_effect", expires_in_days=20)


async def renewal_of_a(target: SignedTarget) -> Request:
    certificate_id = await in_effect_of_a(target)
    today = datetime.now(UTC).date()
    body = {"issued_on": today.isoformat(), "expires_on": (today + timedelta(days=700)).isoformat()}
    return Request(path_params={"certificate_id": certificate_id}, json=body)


async def reminders_of_a(target: SignedTarget) -> Request:
    """Run the reminder job once for A's certificate in effect, which expires within 30 days."""
    certificate_id = await in_effect_of_a(target)
    cache = target.__dict__.setdefault("cache", {})
    if "reminded" not in cache:
        jobs = await call(target, "operator", "GET", f"{PREFIX}/ops/jobs", Request())
        name = next(job["name"] for job in jobs.json() if "remind" in job["name"])
        run = await call(target, "operator", "POST", f"{PREFIX}/ops/jobs/{name}/run", Request())
        assert run.status_code == 200, run.text
        cache["reminded"] = certificate_id
    return Request()


async def reminder_marker(target: SignedTarget) -> str:
    return await in_effect_of_a(target)


async def list_marker(target: SignedTarget) -> str:
    return (await draft_of_a(target)).path_params["certificate_id"]


async def no_request(_target: SignedTarget) -> Request:
    return Request()


class CreateOwnDraft(Roles):
    """POST /certificates: each engineer creates a draft with their own ID number; other roles are refused.

    A already holds one certificate of every type, so A's creation is the work-at-height draft that
    the submit rule uses; the other roles send a draft naming A as holder.
    """

    async def check(self, target: SignedTarget, method: str, path: str) -> list[str]:
        problems = []
        for who in ("engineer_a", "engineer_peer", "engineer_far"):
            if who == "engineer_a":
                await complete_draft_of_a(target)
                continue
            body = draft_body(target.env, who, "gas_appliance")
            response = await call(target, who, method, path, Request(json=body))
            if response.status_code != 201:
                problems.append(f"{who}: expected 201, got {response.status_code} {response.text[:160]}")
        foreign_body = draft_body(target.env, "engineer_a", "pre_job_training")
        for who in ("outlet_manager_own", "training_manager_own", "provider_admin_own", "dispatcher_own", "operator"):
            response = await call(target, who, method, path, Request(json=foreign_body))
            if response.status_code not in (401, 403, 404):
                problems.append(f"{who}: expected 403, got {response.status_code} {response.text[:160]}")
        response = await call(target, "anonymous", method, path, Request(json=foreign_body))
        if response.status_code != 401:
            problems.append(f"anonymous: expected 401, got {response.status_code}")
        return problems


TABLE: dict[tuple[str, str], Rule] = {
    **ops_table(PREFIX),
    ("GET", f"{PREFIX}/types"): Roles(roles=ALL_ROLES),
    ("GET", f"{PREFIX}/certificates"): ListOwned(allowed=A_ONLY, setup=no_request, marker_of=list_marker),
    ("POST", f"{PREFIX}/certificates"): CreateOwnDraft(roles=frozenset({"engineer"})),
    ("GET", f"{PREFIX}/certificates/{{certificate_id}}"): Owned(allowed=A_ONLY, setup=draft_of_a),
    ("PATCH", f"{PREFIX}/certificates/{{certificate_id}}/draft"): Owned(allowed=A_ONLY, setup=draft_change_of_a),
    ("POST", f"{PREFIX}/certificates/{{certificate_id}}/photos/{{side}}/upload-url"): Owned(
        allowed=A_ONLY, setup=photo_upload_of_a
    ),
    ("PUT", f"{PREFIX}/certificates/{{certificate_id}}/photos/{{side}}"): Owned(allowed=A_ONLY, setup=photo_attach_of_a),
    ("POST", f"{PREFIX}/certificates/{{certificate_id}}/submit"): Owned(allowed=A_ONLY, setup=complete_draft_of_a),
    ("POST", f"{PREFIX}/certificates/{{certificate_id}}/withdraw"): Owned(allowed=A_ONLY, setup=submitted_of_a),
    ("POST", f"{PREFIX}/certificates/{{certificate_id}}/renewal"): Owned(allowed=A_ONLY, setup=renewal_of_a),
    ("POST", f"{PREFIX}/certificates/{{certificate_id}}/correction"): Owned(allowed=A_ONLY, setup=withdrawn_of_a),
    ("GET", f"{PREFIX}/notifications"): ListOwned(
        allowed=frozenset({"engineer_a", "outlet_manager_own"}), setup=reminders_of_a, marker_of=reminder_marker
    ),
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

    problems = await token_problems(target.base_url, "GET", f"{PREFIX}/certificates", tokens)

    assert not problems, "\n".join(problems)
