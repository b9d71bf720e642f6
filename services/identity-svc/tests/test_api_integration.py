"""identity-svc on the real servers: onboarding, sign-in, tokens, events, rate limits, scopes, masking."""

import random
from datetime import date

import httpx
import jwt
import pytest

from bangke_contracts.topics import IDENTITY_ENGINEERS, IDENTITY_ORGANISATION
from bangke_runtime.auth import JwtVerifier
from bangke_runtime.personal_data import id_number_digest, make_id_number
from bangke_runtime.settings import ServiceSettings
from harness.kafka_tools import read_topic, record_json
from harness.services import free_port
from identity_svc.adapters.repository import Collections
from identity_svc.bootstrap import build
from identity_svc.domain.errors import IdNumberAlreadyRegistered, MobileAlreadyRegistered
from identity_svc.service_layer.accounts import insert_account
from identity_svc.domain.validation import CREDIT_CODE_CHARACTERS, credit_code_check_character
from identity_svc.settings import IdentitySettings

pytestmark = pytest.mark.integration

OPERATOR_MOBILE = "13900000000"
OPERATOR_PASSWORD = "Operator123"
PASSWORD = "Secret123"


def credit_code() -> str:
    first17 = "91330100" + "".join(random.choice(CREDIT_CODE_CHARACTERS) for _ in range(9))
    return first17 + credit_code_check_character(first17)


def mobile() -> str:
    return "13" + "".join(random.choice("0123456789") for _ in range(9))


def id_number() -> str:
    return make_id_number("330106", date(1988, 5, 17), random.randrange(1000))


class Api:
    """Calls to one running identity-svc, with helpers for the onboarding steps."""

    def __init__(self, service) -> None:
        self.service = service
        self.jwks_url = f"{service.base_url}/auth/.well-known/jwks.json"

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.service.client(headers=headers)

    async def token_response(self, mobile_number: str, password: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.service.base_url, timeout=30) as client:
            return await client.post("/auth/token", json={"mobile": mobile_number, "password": password})

    async def sign_in(self, mobile_number: str, password: str = PASSWORD) -> dict:
        response = await self.token_response(mobile_number, password)
        assert response.status_code == 200, response.text
        return response.json()

    async def operator(self) -> str:
        return (await self.sign_in(OPERATOR_MOBILE, OPERATOR_PASSWORD))["access_token"]

    async def call(self, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        async with self.client(token) as client:
            return await client.request(method, path, **kwargs)

    async def sign_up_provider(self, admin_mobile: str) -> dict:
        response = await self.call(
            "POST", "/providers",
            json={
                "service_type": "installation_maintenance",
                "company": {"name": f"测试安维公司{random.randrange(10**6)}", "credit_code": credit_code(), "address": "杭州市西湖区文三路 100 号"},
                "contact": {"name": "李娜", "mobile": mobile()},
                "settlement_account": {"account_name": "测试安维公司", "bank": "工商银行文三路支行", "account_number": "6222021202001234567"},
                "admin": {"name": "王强", "mobile": admin_mobile, "password": PASSWORD},
            },
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def approved_provider_with_outlet(self, operator: str, region_id: str) -> tuple[dict, str, dict]:
        """Return the provider, its admin's access token and an outlet of it."""
        admin_mobile = mobile()
        provider = await self.sign_up_provider(admin_mobile)
        approved = await self.call("POST", f"/providers/{provider['id']}/approve", operator)
        assert approved.status_code == 200, approved.text
        admin = (await self.sign_in(admin_mobile))["access_token"]
        outlet = await self.call(
            "POST", "/outlets", admin, json={"region_id": region_id, "name": "西湖网点", "address": "古墩路 88 号"}
        )
        assert outlet.status_code == 201, outlet.text
        return provider, admin, outlet.json()

    async def region(self, operator: str) -> str:
        response = await self.call("POST", "/regions", operator, json={"name": f"华东大区{random.randrange(10**6)}"})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def register_engineer(self, token: str | None, outlet_id: str, **overrides) -> httpx.Response:
        body = {"name": "张伟", "id_number": id_number(), "mobile": mobile(), "outlet_id": outlet_id, "password": PASSWORD}
        body.update(overrides)
        path = "/engineers" if token else "/engineers/self-registration"
        return await self.call("POST", path, token, json=body)


@pytest.fixture
async def api(start_service, tmp_path) -> Api:
    port = free_port()
    service = await start_service(
        build,
        IdentitySettings,
        http_port=port,
        jwt_keys_dir=tmp_path / "jwt-keys",
        jwt_jwks_file=None,
        jwt_jwks_url=f"http://127.0.0.1:{port}/auth/.well-known/jwks.json",
        jwt_key_activation_delay_s=0,
        bootstrap_operator_mobile=OPERATOR_MOBILE,
        bootstrap_operator_password=OPERATOR_PASSWORD,
        sign_in_max_failures_per_mobile=3,
    )
    return Api(service)


async def test_onboarding_to_me_with_events(api, infra, isolation):
    operator = await api.operator()
    admin_mobile = mobile()
    provider = await api.sign_up_provider(admin_mobile)
    assert provider["status"] == "pending"
    assert provider["settlement_account"]["account_number"] == "***************4567"
    admin = (await api.sign_in(admin_mobile))["access_token"]
    region_id = await api.region(operator)

    early = await api.call("POST", "/outlets", admin, json={"region_id": region_id, "name": "西湖网点", "address": "古墩路 88 号"})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "provider_not_approved"

    approved = await api.call("POST", f"/providers/{provider['id']}/approve", operator)
    assert approved.json()["status"] == "approved"
    outlet = (await api.call("POST", "/outlets", admin, json={"region_id": region_id, "name": "西湖网点", "address": "古墩路 88 号"})).json()
    number, engineer_mobile = id_number(), mobile()
    registered = await api.register_engineer(admin, outlet["id"], id_number=number, mobile=engineer_mobile)
    assert registered.status_code == 201, registered.text
    engineer = registered.json()
    assert engineer["authentication"]["method"] == "local_checks"
    assert "未向" in engineer["authentication"]["note"]
    assert engineer["authenticated"] is True
    assert engineer["id_number"] == number

    tokens = await api.sign_in(engineer_mobile)
    me = (await api.call("GET", "/me", tokens["access_token"])).json()
    assert me["id"] == engineer["id"]
    assert me["role"] == "engineer"
    assert (me["outlet_id"], me["region_id"], me["provider_id"]) == (outlet["id"], region_id, provider["id"])
    assert me["id_number"] == number
    assert me["mobile"] == engineer_mobile

    verifier = JwtVerifier(ServiceSettings(jwt_jwks_url=api.jwks_url, jwt_jwks_file=None))
    principal = await verifier.verify(tokens["access_token"])
    assert (principal.subject, principal.role, principal.outlet_id) == (engineer["id"], "engineer", outlet["id"])

    organisation = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + IDENTITY_ORGANISATION, expect=2)
    assert sorted(record_json(r)["type"] for r in organisation) == ["outlet.created", "provider.approved"]
    engineers = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + IDENTITY_ENGINEERS, expect=2)
    events = {record_json(r)["type"]: record_json(r) for r in engineers}
    assert set(events) == {"engineer.registered", "engineer.authenticated"}
    assert events["engineer.registered"]["payload"]["id_number_sha256"] == id_number_digest(number)
    assert events["engineer.authenticated"]["payload"]["method"] == "local_checks"
    assert all(r.key == engineer["id"].encode() for r in engineers)
    assert all(number.encode() not in r.value and engineer_mobile.encode() not in r.value for r in engineers)


async def test_registration_rejects_bad_and_duplicate_input(api):
    operator = await api.operator()
    _provider, admin, outlet = await api.approved_provider_with_outlet(operator, await api.region(operator))
    number, engineer_mobile = id_number(), mobile()
    assert (await api.register_engineer(admin, outlet["id"], id_number=number, mobile=engineer_mobile)).status_code == 201

    same_number = await api.register_engineer(None, outlet["id"], id_number=number.lower())
    assert same_number.status_code == 409
    assert same_number.json()["error"]["code"] == "id_number_already_registered"
    same_mobile = await api.register_engineer(admin, outlet["id"], mobile=engineer_mobile)
    assert same_mobile.status_code == 409
    assert same_mobile.json()["error"]["code"] == "mobile_already_registered"

    bad_check = await api.register_engineer(admin, outlet["id"], id_number=number[:17] + ("1" if number[17] == "0" else "0"))
    assert bad_check.status_code == 422
    assert bad_check.json()["error"]["code"] == "id_number_invalid"
    assert bad_check.json()["error"]["details"]["reason"] == "id_number_check_character"
    bad_mobile = await api.register_engineer(admin, outlet["id"], mobile="1234567")
    assert bad_mobile.json()["error"]["code"] == "mobile_invalid"
    bad_code = await api.call("POST", "/providers", json={
        "service_type": "installation_maintenance",
        "company": {"name": "某公司", "credit_code": "91350100M000100Y44", "address": "某地"},
        "contact": {"name": "李娜", "mobile": mobile()},
        "settlement_account": {"account_name": "某公司", "bank": "某银行", "account_number": "6222021202001234567"},
        "admin": {"name": "王强", "mobile": mobile(), "password": PASSWORD},
    })
    assert bad_code.status_code == 422
    assert bad_code.json()["error"]["code"] == "credit_code_invalid"

    engineers = (await api.call("GET", "/engineers", admin)).json()
    assert len(engineers) == 1


async def test_scopes_and_masking(api):
    operator = await api.operator()
    region_id = await api.region(operator)
    provider, admin, outlet = await api.approved_provider_with_outlet(operator, region_id)
    _other, other_admin, other_outlet = await api.approved_provider_with_outlet(operator, region_id)
    number, engineer_mobile = id_number(), mobile()
    engineer = (await api.register_engineer(admin, outlet["id"], id_number=number, mobile=engineer_mobile)).json()

    foreign = await api.call("GET", f"/engineers/{engineer['id']}", other_admin)
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "engineer_not_found"
    assert (await api.call("GET", "/engineers", other_admin)).json() == []
    cross = await api.register_engineer(other_admin, outlet["id"])
    assert cross.status_code == 403
    assert (await api.call("GET", f"/providers/{provider['id']}", other_admin)).status_code == 404

    manager_mobile = mobile()
    created = await api.call("POST", "/staff", admin, json={
        "role": "outlet_manager", "name": "赵敏", "mobile": manager_mobile, "password": PASSWORD, "outlet_id": outlet["id"],
    })
    assert created.status_code == 201, created.text
    assert (await api.call("POST", "/staff", admin, json={
        "role": "outlet_manager", "name": "赵敏", "mobile": mobile(), "password": PASSWORD, "outlet_id": other_outlet["id"],
    })).status_code == 404
    assert (await api.call("POST", "/staff", admin, json={
        "role": "training_manager", "name": "钱进", "mobile": mobile(), "password": PASSWORD, "region_id": region_id,
    })).status_code == 403

    manager = (await api.sign_in(manager_mobile))["access_token"]
    seen = (await api.call("GET", f"/engineers/{engineer['id']}", manager)).json()
    assert seen["mobile"] == engineer_mobile[:3] + "****" + engineer_mobile[-4:]
    assert seen["id_number"] == number[:3] + "*" * 11 + number[-4:]
    by_admin = (await api.call("GET", f"/engineers/{engineer['id']}", admin)).json()
    assert (by_admin["mobile"], by_admin["id_number"]) == (engineer_mobile, number)
    by_operator = (await api.call("GET", f"/engineers/{engineer['id']}", operator)).json()
    assert by_operator["id_number"] == number

    training_mobile = mobile()
    assert (await api.call("POST", "/staff", operator, json={
        "role": "training_manager", "name": "钱进", "mobile": training_mobile, "password": PASSWORD, "region_id": region_id,
    })).status_code == 201
    training = (await api.sign_in(training_mobile))["access_token"]
    claims = jwt.decode(training, options={"verify_signature": False})
    assert (claims["role"], claims["region_id"], claims["provider_id"]) == ("training_manager", region_id, None)
    assert [e["id"] for e in (await api.call("GET", "/engineers", training)).json()] == [engineer["id"]]


async def test_sign_in_rate_limit(api):
    operator = await api.operator()
    _provider, _admin, outlet = await api.approved_provider_with_outlet(operator, await api.region(operator))
    engineer_mobile = mobile()
    await api.register_engineer(None, outlet["id"], mobile=engineer_mobile)

    for attempts_left in (2, 1, 0):
        wrong = await api.token_response(engineer_mobile, "Wrong1234")
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "credentials_invalid"
        assert wrong.json()["error"]["details"]["attempts_left"] == attempts_left

    blocked = await api.token_response(engineer_mobile, PASSWORD)
    assert blocked.status_code == 429
    error = blocked.json()["error"]
    assert error["code"] == "too_many_attempts"
    assert "分钟后重试" in error["message"]
    assert 0 < error["details"]["retry_after_s"] <= 900
    assert blocked.headers["Retry-After"] == str(error["details"]["retry_after_s"])
    assert (await api.token_response(OPERATOR_MOBILE, OPERATOR_PASSWORD)).status_code == 200


async def test_refresh_rotation_and_reuse(api):
    first = await api.sign_in(OPERATOR_MOBILE, OPERATOR_PASSWORD)
    async with httpx.AsyncClient(base_url=api.service.base_url, timeout=30) as client:
        renewed = await client.post("/auth/token", json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        assert renewed.status_code == 200, renewed.text
        second = renewed.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert (await api.call("GET", "/me", second["access_token"])).status_code == 200

        reused = await client.post("/auth/token", json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        assert reused.status_code == 401
        assert reused.json()["error"]["code"] == "refresh_token_reused"
        successor = await client.post("/auth/token", json={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
        assert successor.json()["error"]["code"] == "refresh_token_revoked"
        unknown = await client.post("/auth/token", json={"grant_type": "refresh_token", "refresh_token": "x" * 43})
        assert unknown.json()["error"]["code"] == "refresh_token_invalid"

        third = await api.sign_in(OPERATOR_MOBILE, OPERATOR_PASSWORD)
        assert (await client.post("/auth/revoke", json={"refresh_token": third["refresh_token"]})).status_code == 204
        revoked = await client.post("/auth/token", json={"grant_type": "refresh_token", "refresh_token": third["refresh_token"]})
        assert revoked.json()["error"]["code"] == "refresh_token_revoked"


async def test_key_rotation_and_bad_tokens(api):
    operator = await api.operator()
    old_kid = jwt.get_unverified_header(operator)["kid"]
    rotated = await api.call("POST", "/keys/rotate", operator)
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]
    fresh = await api.operator()

    assert jwt.get_unverified_header(fresh)["kid"] == new_kid != old_kid
    async with httpx.AsyncClient(timeout=10) as client:
        jwks = (await client.get(api.jwks_url)).json()
    assert {key["kid"] for key in jwks["keys"]} == {old_kid, new_kid}
    verifier = JwtVerifier(ServiceSettings(jwt_jwks_url=api.jwks_url, jwt_jwks_file=None))
    assert (await verifier.verify(operator)).role == "operator"
    assert (await verifier.verify(fresh)).role == "operator"
    assert (await api.call("GET", "/me", operator)).status_code == 200
    assert (await api.call("GET", "/me", fresh)).status_code == 200

    missing = await api.call("GET", "/me")
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "token_missing")
    header, payload, signature = fresh.split(".")
    tampered = await api.call("GET", "/me", f"{header}.{payload}.{signature[:-4]}AAAA")
    assert (tampered.status_code, tampered.json()["error"]["code"]) == (401, "token_invalid")
    wrong_password = await api.token_response(OPERATOR_MOBILE, "Wrong1234")
    assert wrong_password.json()["error"]["message"] == "手机号或密码错误"


async def test_unique_indexes_reject_racing_inserts(api):
    # Two registrations that both passed the pre-checks: the unique indexes decide, and the error names the field.
    collections = Collections.of(api.service.runtime.db)
    first_mobile, digest = mobile(), id_number_digest(id_number())
    await insert_account(collections, {"_id": "race-1", "mobile": first_mobile, "id_number_key": digest})

    with pytest.raises(IdNumberAlreadyRegistered):
        await insert_account(collections, {"_id": "race-2", "mobile": mobile(), "id_number_key": digest})
    with pytest.raises(MobileAlreadyRegistered):
        await insert_account(collections, {"_id": "race-3", "mobile": first_mobile, "id_number_key": "other"})
    assert await collections.accounts.count_documents({"_id": {"$in": ["race-2", "race-3"]}}) == 0
