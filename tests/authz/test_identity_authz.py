"""Authorisation of every identity-svc operation, with tokens identity-svc signs itself.

The module builds the whole cast through the API: two regions, two approved providers with an outlet
each, their managers, dispatchers and engineers, and the training managers; then every member signs
in. It also checks the token errors and the ID and mobile number checks of registration.
"""

import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from authz.conftest import AuthzEnv
from authz.framework import (
    ALL_ROLES,
    CALLERS,
    CHINESE,
    MEMBERS,
    ListOwned,
    Owned,
    Public,
    Request,
    Roles,
    Rule,
    classification_problems,
    docs_problems,
    ops_table,
)
from authz.token_cases import bad_tokens, token_problems
from harness.log_scan import id_number, mobile, password
from harness.services import free_port
from identity_svc.bootstrap import build
from identity_svc.domain.validation import CREDIT_CODE_CHARACTERS, credit_code_check_character
from identity_svc.settings import IdentitySettings

pytestmark = pytest.mark.integration

PREFIX = "/api/identity"
_names = itertools.count(1)


def unique_name(stem: str) -> str:
    return f"{stem}{next(_names)}{random.randrange(10**6)}"


def credit_code() -> str:
    first17 = "91330100" + "".join(random.choice(CREDIT_CODE_CHARACTERS) for _ in range(9))
    return first17 + credit_code_check_character(first17)


def provider_signup(admin_mobile: str | None = None, admin_password: str | None = None) -> dict[str, Any]:
    return {
        "service_type": "installation_maintenance",
        "company": {"name": unique_name("测试安维公司"), "credit_code": credit_code(), "address": "杭州市西湖区文三路 100 号"},
        "contact": {"name": "李娜", "mobile": mobile()},
        "settlement_account": {"account_name": "测试安维公司", "bank": "工商银行文三路支行", "account_number": "6222021202001234567"},
        "admin": {"name": "王强", "mobile": admin_mobile or mobile(), "password": admin_password or password()},
    }


@dataclass
class IdentityTarget:
    """identity-svc with the cast's accounts and their own access tokens."""

    base_url: str
    keys_dir: Path
    ids: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    spare_refresh_tokens: list[str] = field(default_factory=list)
    service: Any = None
    prefix: str = PREFIX

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def request(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = self.headers(who) if who else {}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30.0) as client:
            return await client.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> dict[str, Any]:
        response = await self.request(method, path, who, **kwargs)
        assert response.is_success, f"{method} {path} as {who}: {response.status_code} {response.text}"
        return response.json()

    async def sign_in(self, who: str) -> dict[str, Any]:
        mobile_number, secret = self.credentials[who]
        return await self.ok("POST", "/auth/token", json={"mobile": mobile_number, "password": secret})


async def build_cast(target: IdentityTarget) -> None:
    """Create the cast's organisation and accounts through the API, then sign every member in."""
    signed_in = await target.sign_in("operator")
    target.tokens["operator"] = signed_in["access_token"]
    for label in ("R1", "R2"):
        target.ids[label] = (await target.ok("POST", f"{PREFIX}/regions", "operator", json={"name": unique_name("大区")}))["id"]

    for side, provider, outlet, region in (("own", "P1", "O1", "R1"), ("far", "P2", "O2", "R2")):
        admin = f"provider_admin_{side}"
        target.credentials[admin] = (mobile(), password())
        created = await target.ok("POST", f"{PREFIX}/providers", json=provider_signup(*target.credentials[admin]))
        target.ids[provider] = created["id"]
        target.ids[admin] = created["admin_account_id"]
        await target.ok("POST", f"{PREFIX}/providers/{created['id']}/approve", "operator")
        target.tokens[admin] = (await target.sign_in(admin))["access_token"]
        body = {"region_id": target.ids[region], "name": unique_name("网点"), "address": "古墩路 88 号"}
        target.ids[outlet] = (await target.ok("POST", f"{PREFIX}/outlets", admin, json=body))["id"]

        for role in ("outlet_manager", "dispatcher"):
            who = f"{role}_{side}"
            target.credentials[who] = (mobile(), password())
            staff = {"role": role, "name": "赵敏", "mobile": target.credentials[who][0],
                     "password": target.credentials[who][1], "outlet_id": target.ids[outlet]}
            target.ids[who] = (await target.ok("POST", f"{PREFIX}/staff", admin, json=staff))["id"]
        trainer = f"training_manager_{side}"
        target.credentials[trainer] = (mobile(), password())
        staff = {"role": "training_manager", "name": "钱进", "mobile": target.credentials[trainer][0],
                 "password": target.credentials[trainer][1], "region_id": target.ids[region]}
        target.ids[trainer] = (await target.ok("POST", f"{PREFIX}/staff", "operator", json=staff))["id"]

    for who, admin, outlet in (("engineer_a", "provider_admin_own", "O1"), ("engineer_peer", "provider_admin_own", "O1"),
                               ("engineer_far", "provider_admin_far", "O2")):
        target.credentials[who] = (mobile(), password())
        body = engineer_body(target, outlet, *target.credentials[who])
        target.ids[who] = (await target.ok("POST", f"{PREFIX}/engineers", admin, json=body))["id"]

    for who in MEMBERS:
        signed_in = await target.sign_in(who)
        target.tokens[who] = signed_in["access_token"]
        target.refresh_tokens[who] = signed_in["refresh_token"]


def engineer_body(target: IdentityTarget, outlet: str, mobile_number: str | None = None,
                  secret: str | None = None) -> dict[str, Any]:
    return {"name": "张伟", "id_number": id_number(), "mobile": mobile_number or mobile(),
            "outlet_id": target.ids[outlet], "password": secret or password()}


@pytest.fixture(scope="module")
async def target(launch, authz_env: AuthzEnv) -> IdentityTarget:
    port = free_port()
    keys_dir = authz_env.directory / "identity-keys"
    operator_mobile, operator_password = mobile(), password()
    service = await launch(
        build, IdentitySettings,
        http_port=port,
        jwt_keys_dir=keys_dir,
        jwt_jwks_file=None,
        jwt_jwks_url=f"http://127.0.0.1:{port}/auth/.well-known/jwks.json",
        jwt_key_activation_delay_s=0,
        bootstrap_operator_mobile=operator_mobile,
        bootstrap_operator_password=operator_password,
        sign_in_max_failures_per_client=1000,
    )
    target = IdentityTarget(base_url=service.base_url, keys_dir=keys_dir, service=service)
    target.credentials["operator"] = (operator_mobile, operator_password)
    await build_cast(target)
    return target


# -- setups: each returns the call, creating what it needs on A's side (P1, O1, R1) ---------------

async def no_request(_target: IdentityTarget) -> Request:
    return Request()


async def signup(_target: IdentityTarget) -> Request:
    return Request(json=provider_signup)


async def region_body(_target: IdentityTarget) -> Request:
    return Request(json=lambda: {"name": unique_name("大区")})


async def own_provider(target: IdentityTarget) -> Request:
    return Request(path_params={"provider_id": target.ids["P1"]})


async def pending_provider(target: IdentityTarget) -> Request:
    created = await target.ok("POST", f"{PREFIX}/providers", json=provider_signup())
    return Request(path_params={"provider_id": created["id"]})


async def pending_provider_to_reject(target: IdentityTarget) -> Request:
    request = await pending_provider(target)
    return Request(path_params=request.path_params, json={"reason": "营业执照信息与统一社会信用代码不一致"})


async def outlet_of_p1(target: IdentityTarget) -> Request:
    return Request(json=lambda: {"provider_id": target.ids["P1"], "region_id": target.ids["R1"],
                                 "name": unique_name("网点"), "address": "古墩路 1 号"})


async def own_outlet(target: IdentityTarget) -> Request:
    return Request(path_params={"outlet_id": target.ids["O1"]})


async def staff_of_o1(target: IdentityTarget) -> Request:
    return Request(json=lambda: {"role": "outlet_manager", "name": "孙丽", "mobile": mobile(), "password": password(),
                                 "outlet_id": target.ids["O1"]})


async def engineer_of_o1(target: IdentityTarget) -> Request:
    return Request(json=lambda: engineer_body(target, "O1"))


async def engineer_a(target: IdentityTarget) -> Request:
    return Request(path_params={"engineer_id": target.ids["engineer_a"]})


async def sign_in_a(target: IdentityTarget) -> Request:
    mobile_number, secret = target.credentials["engineer_a"]
    return Request(json={"mobile": mobile_number, "password": secret})


async def refresh_to_revoke(target: IdentityTarget) -> Request:
    """One fresh refresh token of A per call, since a revoked token cannot be revoked twice."""
    for _ in range(len(CALLERS)):
        target.spare_refresh_tokens.append((await target.sign_in("engineer_a"))["refresh_token"])
    return Request(json=lambda: {"refresh_token": target.spare_refresh_tokens.pop()})


async def marker(target: IdentityTarget, key: str) -> str:
    return target.ids[key]


OPERATOR = frozenset({"operator"})
PROVIDER_MANAGERS = frozenset({"operator", "provider_admin_own"})
SEES_O1 = frozenset({"operator", "provider_admin_own", "engineer_a", "engineer_peer", "outlet_manager_own",
                     "training_manager_own", "dispatcher_own"})
SEES_A = frozenset({"operator", "provider_admin_own", "engineer_a", "outlet_manager_own", "training_manager_own",
                    "dispatcher_own"})

TABLE: dict[tuple[str, str], Rule] = {
    **ops_table(PREFIX),
    ("GET", f"{PREFIX}/service-types"): Public(),
    ("POST", f"{PREFIX}/providers"): Public(setup=signup),
    ("GET", f"{PREFIX}/providers"): Roles(roles=OPERATOR),
    ("GET", f"{PREFIX}/providers/{{provider_id}}"): Owned(allowed=PROVIDER_MANAGERS, setup=own_provider),
    ("POST", f"{PREFIX}/providers/{{provider_id}}/approve"): Owned(allowed=OPERATOR, setup=pending_provider),
    ("POST", f"{PREFIX}/providers/{{provider_id}}/reject"): Owned(allowed=OPERATOR, setup=pending_provider_to_reject),
    ("GET", f"{PREFIX}/regions"): Roles(roles=ALL_ROLES),
    ("POST", f"{PREFIX}/regions"): Roles(roles=OPERATOR, setup=region_body),
    # The body names provider P1: its admin and operators may create the outlet, P2's admin may not.
    ("POST", f"{PREFIX}/outlets"): Owned(allowed=PROVIDER_MANAGERS, setup=outlet_of_p1),
    ("GET", f"{PREFIX}/outlets"): ListOwned(allowed=SEES_O1, setup=no_request, marker_of=lambda t: marker(t, "O1")),
    ("GET", f"{PREFIX}/outlets/{{outlet_id}}"): Owned(allowed=SEES_O1, setup=own_outlet),
    ("POST", f"{PREFIX}/staff"): Owned(allowed=PROVIDER_MANAGERS, setup=staff_of_o1),
    ("GET", f"{PREFIX}/staff"): ListOwned(
        allowed=PROVIDER_MANAGERS, setup=no_request, marker_of=lambda t: marker(t, "outlet_manager_own")
    ),
    ("POST", f"{PREFIX}/engineers"): Owned(allowed=PROVIDER_MANAGERS, setup=engineer_of_o1),
    ("POST", f"{PREFIX}/engineers/self-registration"): Public(setup=engineer_of_o1),
    ("GET", f"{PREFIX}/engineers"): ListOwned(allowed=SEES_A, setup=no_request, marker_of=lambda t: marker(t, "engineer_a")),
    ("GET", f"{PREFIX}/engineers/{{engineer_id}}"): Owned(allowed=SEES_A, setup=engineer_a),
    ("POST", f"{PREFIX}/engineers/{{engineer_id}}/authentication"): Owned(
        allowed=frozenset({"engineer_a", "provider_admin_own", "operator"}), setup=engineer_a
    ),
    ("GET", f"{PREFIX}/me"): Roles(roles=ALL_ROLES),
    ("GET", f"{PREFIX}/keys"): Roles(roles=OPERATOR),
    ("POST", f"{PREFIX}/keys/rotate"): Roles(roles=OPERATOR),
    ("POST", "/auth/token"): Public(setup=sign_in_a),
    ("POST", "/auth/revoke"): Public(setup=refresh_to_revoke),
    ("GET", "/auth/.well-known/jwks.json"): Public(),
}


async def test_every_operation_classified(target: IdentityTarget):
    problems = classification_problems(target.service.app.openapi(), TABLE)

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("operation", sorted(TABLE), ids=lambda op: f"{op[0]} {op[1]}")
async def test_operation_authorisation(target: IdentityTarget, operation: tuple[str, str]):
    method, path = operation

    problems = await TABLE[operation].check(target, method, path)

    assert not problems, f"{method} {path}:\n" + "\n".join(problems)


async def test_me_returns_own_account(target: IdentityTarget):
    for who in MEMBERS:
        me = await target.ok("GET", f"{PREFIX}/me", who)

        assert me["id"] == target.ids.get(who, me["id"]), who
        assert me["role"] == MEMBERS[who].role


async def test_personal_data_masked_for_managers(target: IdentityTarget):
    mobile_number = target.credentials["engineer_a"][0]

    for who in ("outlet_manager_own", "training_manager_own", "dispatcher_own"):
        engineer = await target.ok("GET", f"{PREFIX}/engineers/{target.ids['engineer_a']}", who)
        assert engineer["mobile"] != mobile_number, f"{who} reads A's mobile number unmasked"
        assert "*" in engineer["id_number"], f"{who} reads A's ID number unmasked"


async def test_docs_and_probes_public(target: IdentityTarget):
    problems = await docs_problems(target.base_url, PREFIX)

    assert not problems, "\n".join(problems)


def expired_copy(target: IdentityTarget, token: str) -> str:
    """Sign an expired copy of ``token`` with identity-svc's own key, read from its key folder."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = serialization.load_pem_private_key((target.keys_dir / f"{kid}.pem").read_bytes(), password=None)
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(iat=int(time.time()) - 3600, exp=int(time.time()) - 1800)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def test_bad_tokens_rejected(target: IdentityTarget):
    valid = target.tokens["engineer_a"]
    tokens = bad_tokens(valid, expired_copy(target, valid), target.refresh_tokens["engineer_a"])

    problems = await token_problems(target.base_url, "GET", f"{PREFIX}/me", tokens)

    assert not problems, "\n".join(problems)


def with_other_check_character(number: str) -> str:
    return number[:17] + ("1" if number[17] == "0" else "0")


BAD_ID_NUMBERS = (
    ("too short", lambda: id_number()[:17], "id_number_format"),
    ("letter inside", lambda: id_number()[:10] + "A" + id_number()[11:], "id_number_format"),
    ("unknown region", lambda: "0" + id_number()[1:], "id_number_region"),
    ("impossible birth date", lambda: "11010119901332" + "1234", "id_number_birth_date"),
    ("wrong check character", lambda: with_other_check_character(id_number()), "id_number_check_character"),
)
BAD_MOBILES = ("1234567", "23800138000", "1380013800a", "138001380001", "12800138000")


async def engineer_count(target: IdentityTarget) -> int:
    return len(await target.ok("GET", f"{PREFIX}/engineers", "operator", params={"limit": 200}))


@pytest.mark.parametrize("case", BAD_ID_NUMBERS, ids=lambda case: case[0])
async def test_registration_rejects_bad_id_number(target: IdentityTarget, case):
    _name, make_number, reason = case
    before = await engineer_count(target)
    body = {**engineer_body(target, "O1"), "id_number": make_number()}

    response = await target.request("POST", f"{PREFIX}/engineers/self-registration", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "id_number_invalid"
    assert error["details"]["field"] == "id_number"
    assert error["details"]["reason"] == reason
    assert "身份证号" in error["message"]
    assert CHINESE.search(error["message"])
    assert await engineer_count(target) == before


@pytest.mark.parametrize("bad_mobile", BAD_MOBILES)
async def test_registration_rejects_bad_mobile(target: IdentityTarget, bad_mobile: str):
    before = await engineer_count(target)
    body = {**engineer_body(target, "O1"), "mobile": bad_mobile}

    response = await target.request("POST", f"{PREFIX}/engineers/self-registration", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "mobile_invalid"
    assert error["details"]["field"] == "mobile"
    assert "手机号" in error["message"]
    assert await engineer_count(target) == before


async def test_staff_creation_rejects_bad_mobile(target: IdentityTarget):
    body = {"role": "outlet_manager", "name": "孙丽", "mobile": "1380013800", "password": password(),
            "outlet_id": target.ids["O1"]}

    response = await target.request("POST", f"{PREFIX}/staff", "provider_admin_own", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "mobile_invalid"
    assert "手机号" in response.json()["error"]["message"]
