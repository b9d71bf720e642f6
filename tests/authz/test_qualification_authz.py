"""Authorisation of every qualification-svc operation, for every role and for foreign scopes."""

import pytest

from authz.conftest import AuthzEnv, SignedTarget
from authz.events import register_engineers, wait_for
from authz.framework import (
    ALL_ROLES,
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
from qualification_svc.bootstrap import build
from qualification_svc.settings import QualificationSettings

pytestmark = pytest.mark.integration

PREFIX = "/api/qualification"


@pytest.fixture(scope="module")
async def target(launch, authz_env: AuthzEnv) -> SignedTarget:
    service = await launch(build, QualificationSettings)
    await register_engineers(authz_env)
    engineers = service.runtime.db["engineers"]
    for who in ("engineer_a", "engineer_peer", "engineer_far"):
        engineer_id = authz_env.subject(who)
        await wait_for(lambda: engineers.find_one({"_id": engineer_id, "authenticated": True}))
    return SignedTarget(service, authz_env)


async def _apply(target: SignedTarget, qualification_type: str) -> dict:
    async with target.service.client(headers=target.headers("engineer_a")) as client:
        response = await client.post("/qualifications", json={"qualification_type": qualification_type})
    assert response.status_code == 201, response.text
    return response.json()


async def qualification_of_a(target: SignedTarget) -> Request:
    """A's pending TV wall mounting application, created once."""
    cache = target.__dict__.setdefault("cache", {})
    if "tv" not in cache:
        cache["tv"] = await _apply(target, "tv_wall_mounting")
    return Request(path_params={"qualification_id": cache["tv"]["qualification_id"]})


async def withdrawable_of_a(target: SignedTarget) -> Request:
    """A new pending application of A; a withdrawn one frees the type for the next call."""
    created = await _apply(target, "water_purifier_installation")
    return Request(path_params={"qualification_id": created["qualification_id"]})


async def marker_of_a(target: SignedTarget) -> str:
    return (await qualification_of_a(target)).path_params["qualification_id"]


async def apply_body(_target: SignedTarget) -> Request:
    return Request(json={"qualification_type": "washing_machine_installation"})


IN_SCOPE = frozenset({"engineer_a", "outlet_manager_own", "training_manager_own", "operator"})

TABLE: dict[tuple[str, str], Rule] = {
    **ops_table(PREFIX),
    ("GET", f"{PREFIX}/types"): Roles(roles=ALL_ROLES),
    # Each engineer applies for themself; the body names no engineer, so there is no foreign object.
    ("POST", f"{PREFIX}/qualifications"): Roles(roles=frozenset({"engineer"}), setup=apply_body),
    ("GET", f"{PREFIX}/qualifications"): ListOwned(
        allowed=IN_SCOPE, setup=lambda _t: _none(), marker_of=marker_of_a
    ),
    ("GET", f"{PREFIX}/qualifications/{{qualification_id}}"): Owned(allowed=IN_SCOPE, setup=qualification_of_a),
    ("POST", f"{PREFIX}/qualifications/{{qualification_id}}/withdraw"): Owned(
        allowed=frozenset({"engineer_a"}), setup=withdrawable_of_a, fresh=True
    ),
}


async def _none() -> Request:
    return Request()


async def test_every_operation_classified(target: SignedTarget):
    problems = classification_problems(target.service.app.openapi(), TABLE)

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("operation", sorted(TABLE), ids=lambda op: f"{op[0]} {op[1]}")
async def test_operation_authorisation(target: SignedTarget, operation: tuple[str, str]):
    method, path = operation

    problems = await TABLE[operation].check(target, method, path)

    assert not problems, f"{method} {path}:\n" + "\n".join(problems)


async def test_foreign_list_filters_return_nothing(target: SignedTarget):
    marker = await marker_of_a(target)
    engineer_a = target.env.subject("engineer_a")

    async with target.service.client() as client:
        for who in ("engineer_peer", "outlet_manager_far", "training_manager_far"):
            response = await client.get("/qualifications", params={"engineer_id": engineer_a}, headers=target.headers(who))
            assert response.status_code in (200, 403, 404), response.text
            assert marker not in response.text, f"{who} read A's qualification through ?engineer_id="


async def test_docs_and_probes_public(target: SignedTarget):
    problems = await docs_problems(target.base_url, PREFIX)

    assert not problems, "\n".join(problems)


async def test_bad_tokens_rejected(target: SignedTarget):
    tokens = signer_bad_tokens(target.env.signer, target.env.subject("engineer_a"))

    problems = await token_problems(target.base_url, "GET", f"{PREFIX}/qualifications", tokens)

    assert not problems, "\n".join(problems)
