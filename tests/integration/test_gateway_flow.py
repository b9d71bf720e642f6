"""One request's journey through the whole platform, on the real servers.

An operator and a provider admin register an engineer through the nginx gateway. identity-svc stores
the account and publishes EngineerRegistered through its outbox; certificate-svc consumes it into its
engineer projection; the engineer then creates a certificate through the gateway, which succeeds only
once that projection exists, and reads it back through the gateway.
"""

import asyncio
import random
from datetime import date

import httpx
import pytest

from bangke_runtime.personal_data import make_id_number
from certificate_svc.bootstrap import build as build_certificate
from certificate_svc.settings import CertificateSettings
from harness.gateway import TestGateway
from harness.services import free_port
from identity_svc.bootstrap import build as build_identity
from identity_svc.domain.validation import CREDIT_CODE_CHARACTERS, credit_code_check_character
from identity_svc.settings import IdentitySettings

pytestmark = pytest.mark.integration

OPERATOR_MOBILE = "13900000001"
OPERATOR_PASSWORD = "Operator123"
PASSWORD = "Secret123"


def mobile() -> str:
    return "13" + "".join(random.choice("0123456789") for _ in range(9))


def credit_code() -> str:
    first17 = "91330100" + "".join(random.choice(CREDIT_CODE_CHARACTERS) for _ in range(9))
    return first17 + credit_code_check_character(first17)


@pytest.fixture
async def platform(start_service, tmp_path):
    identity_port = free_port()
    jwks_url = f"http://127.0.0.1:{identity_port}/auth/.well-known/jwks.json"
    identity = await start_service(
        build_identity,
        IdentitySettings,
        http_port=identity_port,
        jwt_keys_dir=tmp_path / "jwt-keys",
        jwt_jwks_file=None,
        jwt_jwks_url=jwks_url,
        jwt_key_activation_delay_s=0,
        bootstrap_operator_mobile=OPERATOR_MOBILE,
        bootstrap_operator_password=OPERATOR_PASSWORD,
    )
    certificate = await start_service(
        build_certificate, CertificateSettings, jwt_jwks_file=None, jwt_jwks_url=jwks_url
    )
    gateway = TestGateway(
        {"identity": identity.settings.http_port, "certificate": certificate.settings.http_port},
        tmp_path / "gateway",
    )
    gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as client:
            yield client, gateway
    finally:
        gateway.stop()


async def sign_in(client: httpx.AsyncClient, mobile_number: str, password: str) -> dict[str, str]:
    response = await client.post("/auth/token", json={"mobile": mobile_number, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_registration_reaches_certificate_service_through_gateway(platform):
    client, gateway = platform
    operator = await sign_in(client, OPERATOR_MOBILE, OPERATOR_PASSWORD)

    region = await client.post("/api/identity/regions", headers=operator, json={"name": "华东大区"})
    assert region.status_code == 201, region.text
    admin_mobile = mobile()
    provider = await client.post(
        "/api/identity/providers",
        json={
            "service_type": "installation_maintenance",
            "company": {"name": "杭州安维服务有限公司", "credit_code": credit_code(), "address": "杭州市西湖区文三路 100 号"},
            "contact": {"name": "李娜", "mobile": mobile()},
            "settlement_account": {"account_name": "杭州安维服务有限公司", "bank": "工商银行文三路支行", "account_number": "6222021202001234567"},
            "admin": {"name": "王强", "mobile": admin_mobile, "password": PASSWORD},
        },
    )
    assert provider.status_code == 201, provider.text
    approved = await client.post(f"/api/identity/providers/{provider.json()['id']}/approve", headers=operator)
    assert approved.status_code == 200, approved.text
    admin = await sign_in(client, admin_mobile, PASSWORD)
    outlet = await client.post(
        "/api/identity/outlets", headers=admin, json={"region_id": region.json()["id"], "name": "西湖网点", "address": "古墩路 88 号"}
    )
    assert outlet.status_code == 201, outlet.text

    id_number = make_id_number("330106", date(1990, 3, 7), random.randrange(1000))
    engineer_mobile = mobile()
    registered = await client.post(
        "/api/identity/engineers",
        headers=admin,
        json={"name": "张伟", "id_number": id_number, "mobile": engineer_mobile, "outlet_id": outlet.json()["id"], "password": PASSWORD},
    )
    assert registered.status_code == 201, registered.text
    assert registered.headers["x-request-id"]
    engineer = await sign_in(client, engineer_mobile, PASSWORD)

    draft = {
        "certificate_type": "low_voltage_electrician",
        "number": "T" + id_number,
        "holder_name": "张伟",
        "holder_id_number": id_number,
        "issued_on": "2024-01-10",
        "expires_on": "2030-01-09",
    }
    created = None
    for _ in range(100):
        created = await client.post("/api/certificate/certificates", headers=engineer, json=draft)
        if created.status_code != 409 or created.json()["error"]["code"] != "engineer_unknown":
            break
        # certificate-svc has not consumed EngineerRegistered yet.
        await asyncio.sleep(0.2)
    assert created is not None
    assert created.status_code == 201, created.text

    listed = await client.get("/api/certificate/certificates", headers=engineer)
    assert listed.status_code == 200
    assert [item["certificate_id"] for item in listed.json()] == [created.json()["certificate_id"]]
    version = listed.json()[0]["versions"][0]
    assert version["holder_id_number_masked"] == id_number[:3] + "*" * 11 + id_number[-4:]
    assert "GET /api/certificate/certificates" in gateway.access_log.read_text()


async def test_gateway_errors_use_the_error_format(platform):
    client, _gateway = platform

    unknown = await client.get("/api/nowhere/things")
    too_large = await client.post("/api/identity/regions", content=b"x" * (2 * 1024 * 1024))

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "body_too_large"
    assert "对象存储" in too_large.json()["error"]["message"]
