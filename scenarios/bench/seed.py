"""Seeding: engineers who passed their exams and wait only for a certificate to take effect.

Each engineer is registered through identity-svc's API by the local operator, so identity-svc itself
publishes EngineerRegistered and EngineerAuthenticated, and signs in to get a real engineer token.
Per engineer and per pair of PAIRS the seeding then:

1. produces `certificate.took_effect` (version 1) onto certificates.v1;
2. applies for the qualification through qualification-svc's API (it needs that certificate in effect);
3. produces `certificate.revoked` for version 1, so the pending application lacks its certificate;
4. produces a passing `exam.score_collected` onto exams.v1, which qualification-svc records as
   "passed, waiting for the certificate".

The measured event is then `certificate.took_effect` of version 2 (see measure.py). Certificate and
exam events come straight from the benchmark because certificate-svc and exam-svc reach those
outcomes only through reviewers, the registry check and the exam platform.
"""

import asyncio
import random
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from bangke_contracts.certificates import (
    CertificateRevoked,
    CertificateRevokedPayload,
    CertificateTookEffect,
    CertificateTookEffectPayload,
)
from bangke_contracts.envelope import Event
from bangke_contracts.exams import ExamScoreCollected, ExamScoreCollectedPayload
from bangke_contracts.topics import CERTIFICATES, EXAMS, IDENTITY_ENGINEERS, QUALIFICATIONS
from bangke_runtime.personal_data import make_id_number
from identity_svc.domain.validation import credit_code_check_character

from . import stack

PAIRS: tuple[tuple[str, str], ...] = (
    ("refrigeration_ac", "ac_repair"),
    ("low_voltage_electrician", "electric_water_heater_installation"),
    ("gas_appliance", "gas_water_heater_installation"),
    ("pre_job_training", "smart_lock_installation"),
)
"""(certificate type, qualification that needs only that certificate) in the default catalogue."""

PRODUCER = "bangke-bench"
HTTP_CONCURRENCY = 6
TOKEN_REUSE_S = 840
"""Seconds an access token is used before signing in again. identity-svc issues them for 900 s by default,
and each sign-in costs an Argon2id hash, so a token is kept until a minute before it expires."""
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
REGION_CODES = ("110101", "310104", "440106", "330106", "320102", "510104")


@dataclass
class Login:
    """An account's credentials and its latest access token, renewed because a full-size seeding outlives one token."""

    mobile: str
    password: str
    token: str = ""
    signed_in_at: float = float("-inf")
    # Requests of one account run side by side, and only one of them should sign in again.
    renewing: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def header(self, api: "Api") -> dict[str, str]:
        async with self.renewing:
            if time.monotonic() - self.signed_in_at > TOKEN_REUSE_S:
                self.token = await api.token(self.mobile, self.password)
                self.signed_in_at = time.monotonic()
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Engineer:
    engineer_id: str
    outlet_id: str
    region_id: str
    login: Login
    applied_at: dict[str, datetime] = field(default_factory=dict)
    """Qualification type -> when qualification-svc recorded the application (service clock)."""
    certificates: dict[str, str] = field(default_factory=dict)
    """Certificate type -> certificate id, the same for version 1 and version 2."""


@dataclass
class Organisation:
    run_id: str
    provider_id: str
    regions: list[str]
    outlets: list[tuple[str, str]]
    """(outlet id, region id)."""


def _credit_code() -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    first17 = "91" + "".join(random.choice("0123456789") for _ in range(6)) + "".join(
        random.choice(alphabet) for _ in range(9)
    )
    return first17 + credit_code_check_character(first17)


def _mobile() -> str:
    return "19" + "".join(random.choice(string.digits) for _ in range(9))


def _id_number() -> str:
    birth = date(1970, 1, 1) + timedelta(days=random.randrange(0, 30 * 365))
    return make_id_number(random.choice(REGION_CODES), birth, random.randrange(1, 1000))


def _name() -> str:
    return random.choice(SURNAMES) + random.choice(GIVEN) + random.choice(GIVEN)


def _password() -> str:
    return "Bench" + secrets.token_hex(6) + "7"


class Api:
    """identity-svc and qualification-svc, called on their own ports (the gateway caps a client at 50 requests/s)."""

    def __init__(self) -> None:
        self.identity = httpx.AsyncClient(base_url=stack.IDENTITY_URL, timeout=60.0)
        self.qualification = httpx.AsyncClient(base_url=stack.QUALIFICATION_URL, timeout=60.0)

    async def close(self) -> None:
        await self.identity.aclose()
        await self.qualification.aclose()

    async def token(self, mobile: str, password: str) -> str:
        response = await self.identity.post("/auth/token", json={"grant_type": "password", "mobile": mobile, "password": password})
        _check(response, "sign-in")
        return response.json()["access_token"]


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")


def operator_credentials() -> tuple[str, str]:
    """The local operator account that `make up` generates (deploy/local/bangke_stack/parts.py)."""
    import json

    stored = json.loads((stack.ROOT / ".stack" / "secrets" / "operator.json").read_text())
    return stored["mobile"], stored["password"]


async def set_up_organisation(api: Api, regions: int, outlets_per_region: int) -> tuple[Organisation, Login]:
    """Create a provider, regions and outlets of this run; return them and the operator's login."""
    run_id = uuid.uuid4().hex[:8]
    operator_login = Login(*operator_credentials())
    operator = await operator_login.header(api)

    signup = {
        "service_type": "installation_maintenance",
        "company": {"name": f"压测服务商{run_id}", "credit_code": _credit_code(), "address": "上海市徐汇区压测路 1 号"},
        "contact": {"name": _name(), "mobile": _mobile()},
        "settlement_account": {"account_name": f"压测服务商{run_id}", "bank": "中国工商银行上海徐汇支行", "account_number": "6222021202001234567"},
        "admin": {"name": _name(), "mobile": _mobile(), "password": _password()},
    }
    response = await api.identity.post("/api/identity/providers", json=signup)
    _check(response, "provider sign-up")
    provider_id = response.json()["id"]
    _check(await api.identity.post(f"/api/identity/providers/{provider_id}/approve", headers=operator), "provider approval")

    region_ids: list[str] = []
    outlets: list[tuple[str, str]] = []
    for r in range(regions):
        response = await api.identity.post("/api/identity/regions", json={"name": f"压测大区{run_id}-{r}"}, headers=operator)
        _check(response, "region")
        region_id = response.json()["id"]
        region_ids.append(region_id)
        for o in range(outlets_per_region):
            body = {"provider_id": provider_id, "region_id": region_id, "name": f"压测网点{run_id}-{r}-{o}", "address": "上海市徐汇区压测路 2 号"}
            response = await api.identity.post("/api/identity/outlets", json=body, headers=operator)
            _check(response, "outlet")
            outlets.append((response.json()["id"], region_id))
    return Organisation(run_id, provider_id, region_ids, outlets), operator_login


async def register_engineers(api: Api, operator: Login, organisation: Organisation, count: int) -> list[Engineer]:
    """Register ``count`` engineers spread over the outlets, and sign each one in."""
    semaphore = asyncio.Semaphore(HTTP_CONCURRENCY)
    done = 0
    started = time.monotonic()

    async def one(index: int) -> Engineer:
        nonlocal done
        outlet_id, region_id = organisation.outlets[index % len(organisation.outlets)]
        async with semaphore:
            for _attempt in range(5):
                mobile, password = _mobile(), _password()
                body = {"name": _name(), "id_number": _id_number(), "mobile": mobile, "outlet_id": outlet_id, "password": password}
                response = await api.identity.post("/api/identity/engineers", json=body, headers=await operator.header(api))
                if response.status_code == 409:
                    continue  # a made-up mobile or ID number that an earlier run already used
                _check(response, "engineer registration")
                engineer_id = response.json()["id"]
                login = Login(mobile, password)
                await login.header(api)
                break
            else:
                raise RuntimeError("engineer registration: five made-up mobiles or ID numbers in a row were taken")
        done += 1
        if done % 250 == 0:
            print(f"  engineers registered and signed in: {done}/{count} ({time.monotonic() - started:.0f} s)", flush=True)
        return Engineer(engineer_id, outlet_id, region_id, login)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def _encode(event: Event[Any]) -> tuple[bytes, bytes]:
    return event.key().encode(), event.model_dump_json().encode()


async def produce(producer: AIOKafkaProducer, topic: str, events: list[Event[Any]]) -> None:
    futures = []
    for event in events:
        key, value = _encode(event)
        futures.append(await producer.send(topic, value, key=key, headers=[("content-type", b"application/json")]))
    await asyncio.gather(*futures)


def took_effect(engineer: Engineer, certificate_type: str, version: int, now: datetime, expires_on: date) -> CertificateTookEffect:
    return CertificateTookEffect(
        producer=PRODUCER,
        occurred_at=now,
        payload=CertificateTookEffectPayload(
            certificate_id=engineer.certificates[certificate_type], version=version, engineer_id=engineer.engineer_id,
            certificate_type=certificate_type, issued_on=now.date() - timedelta(days=30), expires_on=expires_on,
            took_effect_at=now,
        ),
    )


async def apply_all(api: Api, engineers: list[Engineer], deadline_s: float = 240.0) -> int:
    """Apply for every qualification of PAIRS; retry while identity or certificate events are still arriving."""
    semaphore = asyncio.Semaphore(HTTP_CONCURRENCY)
    retries = 0
    started = time.monotonic()

    async def one(engineer: Engineer, qualification_type: str) -> None:
        nonlocal retries
        async with semaphore:
            while True:
                response = await api.qualification.post(
                    "/api/qualification/qualifications", json={"qualification_type": qualification_type},
                    headers=await engineer.login.header(api),
                )
                if response.status_code == 201:
                    engineer.applied_at[qualification_type] = datetime.fromisoformat(response.json()["applied_at"])
                    return
                code = (response.json().get("error") or {}).get("code") if response.headers.get("content-type", "").startswith("application/json") else None
                # Not yet authenticated or certificate not yet projected: the events are still on their way.
                if code in ("engineer_not_authenticated", "certificate_not_in_effect", "engineer_busy") and time.monotonic() - started < deadline_s:
                    retries += 1
                    await asyncio.sleep(0.5)
                    continue
                _check(response, f"apply {qualification_type}")

    await asyncio.gather(*(one(e, q) for e in engineers for _c, q in PAIRS))
    return retries


async def seed(
    api: Api, producer: AIOKafkaProducer, engineers: list[Engineer], expires_on: date
) -> dict[str, float]:
    """Bring every engineer to "passed, waiting for the certificate" for each pair; return stage timings."""
    timings: dict[str, float] = {}
    for engineer in engineers:
        engineer.certificates = {c: uuid.uuid4().hex for c, _q in PAIRS}

    t = time.monotonic()
    now = datetime.now(UTC)
    await produce(producer, CERTIFICATES, [took_effect(e, c, 1, now, expires_on) for e in engineers for c, _q in PAIRS])
    await stack.wait_for_groups(
        {"qualification-identity": [IDENTITY_ENGINEERS], "qualification-certificates": [CERTIFICATES]}, 600, "certificates v1"
    )
    timings["certificates version 1 projected"] = time.monotonic() - t

    t = time.monotonic()
    retries = await apply_all(api, engineers)
    timings["applications (HTTP)"] = time.monotonic() - t
    timings["application retries"] = retries

    t = time.monotonic()
    now = datetime.now(UTC)
    revoked = [
        CertificateRevoked(
            producer=PRODUCER, occurred_at=now,
            payload=CertificateRevokedPayload(
                certificate_id=e.certificates[c], version=1, engineer_id=e.engineer_id, certificate_type=c,
                reason="压测：撤销第 1 版，让申请等待新证书", revoked_at=now,
            ),
        )
        for e in engineers for c, _q in PAIRS
    ]
    await produce(producer, CERTIFICATES, revoked)
    await stack.wait_for_groups({"qualification-certificates": [CERTIFICATES]}, 600, "revocations")
    timings["version 1 revoked"] = time.monotonic() - t

    t = time.monotonic()
    now = datetime.now(UTC)
    scores = []
    for e in engineers:
        for _c, q in PAIRS:
            finished = max(now, e.applied_at[q] + timedelta(seconds=1))
            scores.append(
                ExamScoreCollected(
                    producer=PRODUCER, occurred_at=now,
                    payload=ExamScoreCollectedPayload(
                        attempt_id=uuid.uuid4().hex, engineer_id=e.engineer_id, qualification_type=q, score=92,
                        passed=True, finished_at=finished, collected_at=finished,
                    ),
                )
            )
    await produce(producer, EXAMS, scores)
    await stack.wait_for_groups({"qualification-exams": [EXAMS]}, 600, "exam scores")
    timings["exam scores recorded"] = time.monotonic() - t

    t = time.monotonic()
    await stack.wait_for_groups(
        {
            "order-qualifications": [QUALIFICATIONS],
            "exam-applications": [QUALIFICATIONS],
            "order-engineers": [IDENTITY_ENGINEERS],
            "review-certificates": [CERTIFICATES],
        },
        600,
        "quiet before the run",
    )
    timings["other consumers caught up"] = time.monotonic() - t
    return timings


async def verify_waiting(mongo: AsyncMongoClient, engineers: list[Engineer]) -> list[str]:
    """Read each engineer's qualification-svc document by ``_id``; return what is not in the expected state."""
    collection = mongo["bangke_qualification_svc"]["engineers"]
    problems: list[str] = []
    for engineer in engineers:
        document = await collection.find_one({"_id": engineer.engineer_id}, {"qualifications": 1, "certificates": 1})
        if document is None:
            problems.append(f"{engineer.engineer_id}: no document")
            continue
        by_type = {q["qualification_type"]: q for q in document.get("qualifications") or []}
        for _c, q in PAIRS:
            held = by_type.get(q)
            if held is None or held["status"] != "pending" or held.get("passed_score") is None:
                problems.append(f"{engineer.engineer_id}: {q} is {held and held['status']}, passed_score {held and held.get('passed_score')}")
        if document.get("certificates"):
            problems.append(f"{engineer.engineer_id}: still holds {len(document['certificates'])} certificates")
    return problems
