"""order-svc on the real servers: dispatch eligibility, lapses between offer and acceptance, at-risk
orders, evidence uploads through presigned URLs, and the scope of engineers' access.

Qualification and engineer events are produced onto the test's prefixed topics, as qualification-svc
and identity-svc would publish them.
"""

import asyncio
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from bangke_contracts.envelope import Event
from bangke_contracts.identity import EngineerRegistered, EngineerRegisteredPayload
from bangke_contracts.qualifications import (
    QualificationGranted,
    QualificationGrantedPayload,
    QualificationLapsed,
    QualificationLapsedPayload,
    QualificationValidityChanged,
    QualificationValidityChangedPayload,
)
from bangke_contracts.topics import IDENTITY_ENGINEERS, ORDERS, QUALIFICATIONS, dead_letter_topic
from bangke_runtime.clock import china_date
from harness.kafka_tools import produce_raw, read_topic, record_json
from order_svc.adapters.eligibility_store import EligibilityStore
from order_svc.bootstrap import build
from order_svc.settings import OrderSettings
from harness.waiting import wait_for

pytestmark = pytest.mark.integration

OUTLET, OTHER_OUTLET, REGION = "outlet-sh-01", "outlet-sh-02", "region-east"
SPLIT_AC = "split_ac_installation"
TV = "tv_wall_mounting"


def tiny_jpeg() -> bytes:
    """Build a valid 8x8 grey baseline JPEG: one block whose only coefficient is a zero DC difference."""

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">HH", marker, len(body) + 2) + body

    one_code_of_length_2 = bytes([0, 1] + [0] * 14) + b"\x00"
    return b"".join(
        [
            b"\xff\xd8",
            segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xFFDB, b"\x00" + b"\x01" * 64),
            segment(0xFFC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"),
            segment(0xFFC4, b"\x00" + one_code_of_length_2),
            segment(0xFFC4, b"\x10" + one_code_of_length_2),
            segment(0xFFDA, b"\x01\x01\x00\x00\x3f\x00"),
            # DC "00" (difference 0), AC "00" (end of block), padded with ones.
            b"\x0f",
            b"\xff\xd9",
        ]
    )



class Scenario:
    """Produces upstream events and calls order-svc as dispatchers, engineers and managers."""

    def __init__(self, service, infra, isolation, signer) -> None:
        self.service = service
        self.infra = infra
        self.prefix = isolation.topic_prefix
        self.signer = signer
        self.dispatcher = signer.headers("dispatcher", "dispatcher-1", provider_id="provider-1", outlet_id=OUTLET, region_id=REGION)

    def engineer(self, engineer_id: str, outlet_id: str = OUTLET) -> dict[str, str]:
        return self.signer.headers("engineer", engineer_id, provider_id="provider-1", outlet_id=outlet_id, region_id=REGION)

    async def produce(self, topic: str, event: Event[Any]) -> None:
        await produce_raw(self.infra.kafka_bootstrap, self.prefix + topic, event.model_dump_json().encode(), key=event.key().encode())

    async def register(self, engineer_id: str, name: str, outlet_id: str = OUTLET) -> None:
        await self.produce(
            IDENTITY_ENGINEERS,
            EngineerRegistered(
                producer="identity-svc",
                payload=EngineerRegisteredPayload(
                    engineer_id=engineer_id, provider_id="provider-1", outlet_id=outlet_id, region_id=REGION, name=name,
                    id_number_sha256="0" * 64, registered_at=datetime.now(UTC),
                ),
            ),
        )

    def ref(self, engineer_id: str, qualification_type: str, outlet_id: str = OUTLET) -> dict[str, str]:
        return {
            "qualification_id": f"q-{engineer_id}-{qualification_type}", "engineer_id": engineer_id,
            "outlet_id": outlet_id, "region_id": REGION, "qualification_type": qualification_type,
        }

    async def grant(self, engineer_id: str, qualification_type: str, valid_until: date, outlet_id: str = OUTLET) -> None:
        await self.produce(
            QUALIFICATIONS,
            QualificationGranted(
                producer="qualification-svc",
                payload=QualificationGrantedPayload(
                    **self.ref(engineer_id, qualification_type, outlet_id), valid_until=valid_until, score=92,
                    granted_at=datetime.now(UTC),
                ),
            ),
        )

    async def lapse(self, engineer_id: str, qualification_type: str) -> None:
        await self.produce(
            QUALIFICATIONS,
            QualificationLapsed(
                producer="qualification-svc",
                payload=QualificationLapsedPayload(
                    **self.ref(engineer_id, qualification_type), reason="certificate_expired", lapsed_at=datetime.now(UTC)
                ),
            ),
        )

    async def shrink(self, engineer_id: str, qualification_type: str, valid_until: date, previous: date) -> None:
        await self.produce(
            QUALIFICATIONS,
            QualificationValidityChanged(
                producer="qualification-svc",
                payload=QualificationValidityChangedPayload(
                    **self.ref(engineer_id, qualification_type), valid_until=valid_until, previous_valid_until=previous,
                    changed_at=datetime.now(UTC),
                ),
            ),
        )

    def client(self) -> httpx.AsyncClient:
        return self.service.client()

    async def create_order(self, client: httpx.AsyncClient, service_type: str, start: datetime) -> dict[str, Any]:
        response = await client.post(
            "/orders",
            headers=self.dispatcher,
            json={
                "service_type": service_type,
                "outlet_id": OUTLET,
                "customer": {"name": "王芳", "mobile": "13800138000", "address": "上海市浦东新区世纪大道100号2号楼1201室"},
                "appointment": {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()},
            },
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def eligible_ids(self, client: httpx.AsyncClient, order_id: str) -> list[str]:
        response = await client.get(f"/orders/{order_id}/eligible-engineers", headers=self.dispatcher)
        assert response.status_code == 200, response.text
        return [item["engineer_id"] for item in response.json()]

    async def offer_and_accept(self, client: httpx.AsyncClient, order_id: str, engineer_id: str) -> None:
        offered = await client.post(f"/orders/{order_id}/offer", headers=self.dispatcher, json={"engineer_id": engineer_id})
        assert offered.status_code == 200, offered.text
        accepted = await client.post(f"/orders/{order_id}/accept", headers=self.engineer(engineer_id))
        assert accepted.status_code == 200, accepted.text


@pytest.fixture
async def scenario(start_service, infra, isolation, signer) -> Scenario:
    service = await start_service(build, OrderSettings)
    return Scenario(service, infra, isolation, signer)


def in_days(days: int) -> datetime:
    """Return 10:00 China time, ``days`` days from today."""
    day = china_date(datetime.now(UTC)) + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


def today_plus(days: int) -> date:
    return china_date(datetime.now(UTC)) + timedelta(days=days)


async def test_dispatch_offers_only_eligible(scenario: Scenario):
    await scenario.register("eng-valid", "张伟")
    await scenario.grant("eng-valid", SPLIT_AC, today_plus(365))
    await scenario.grant("eng-short", SPLIT_AC, today_plus(5))
    await scenario.grant("eng-tv-only", TV, today_plus(365))
    await scenario.grant("eng-elsewhere", SPLIT_AC, today_plus(365), outlet_id=OTHER_OUTLET)
    await scenario.grant("eng-lapsed", SPLIT_AC, today_plus(365))

    async with scenario.client() as client:
        order = await scenario.create_order(client, "split_ac_installation", in_days(10))
        order_id = order["order_id"]

        async def eligible_set() -> set[str]:
            return set(await scenario.eligible_ids(client, order_id))

        await wait_for(lambda: _equals(eligible_set(), {"eng-valid", "eng-lapsed"}))
        await scenario.lapse("eng-lapsed", SPLIT_AC)
        await wait_for(lambda: _equals(scenario.eligible_ids(client, order_id), ["eng-valid"]))

        async def named() -> list[dict[str, Any]]:
            listing = (await client.get(f"/orders/{order_id}/eligible-engineers", headers=scenario.dispatcher)).json()
            return listing if listing[0]["engineer_name"] else []

        # The registration arrives on another topic, possibly after the grant: the name is filled in then.
        assert (await wait_for(named))[0]["engineer_name"] == "张伟"

        async def refusal_reason(engineer_id: str) -> str | None:
            # None of these engineers may take the order, so each offer is refused and changes nothing.
            response = await client.post(f"/orders/{order_id}/offer", headers=scenario.dispatcher, json={"engineer_id": engineer_id})
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "engineer_not_eligible"
            return response.json()["error"]["details"]["reason"]

        for engineer_id, reason in (
            ("eng-short", "validity_too_short"), ("eng-tv-only", "not_held"), ("eng-elsewhere", "not_held"), ("eng-lapsed", "lapsed"),
        ):
            assert await wait_for(lambda: _equals(refusal_reason(engineer_id), reason)), engineer_id

        offered = await client.post(f"/orders/{order_id}/offer", headers=scenario.dispatcher, json={"engineer_id": "eng-valid"})
        assert offered.status_code == 200, offered.text
        assert offered.json()["status"] == "offered"

        # A dispatcher of another outlet cannot see or dispatch the order.
        stranger = scenario.signer.headers("dispatcher", "dispatcher-2", provider_id="provider-1", outlet_id=OTHER_OUTLET)
        assert (await client.get(f"/orders/{order_id}", headers=stranger)).status_code == 404
        assert (await client.get(f"/orders/{order_id}/eligible-engineers", headers=stranger)).status_code == 404


async def _equals(awaitable: Awaitable[Any], expected: Any) -> bool:
    return await awaitable == expected


async def _nonempty(awaitable: Awaitable[list[str]]) -> list[str]:
    return await awaitable


async def test_lapse_between_offer_and_accept_refused(scenario: Scenario):
    await scenario.grant("eng-a", SPLIT_AC, today_plus(365))

    async with scenario.client() as client:
        order = await scenario.create_order(client, "split_ac_installation", in_days(3))
        order_id = order["order_id"]
        await wait_for(lambda: _nonempty(scenario.eligible_ids(client, order_id)))
        offered = await client.post(f"/orders/{order_id}/offer", headers=scenario.dispatcher, json={"engineer_id": "eng-a"})
        assert offered.status_code == 200, offered.text

        await scenario.lapse("eng-a", SPLIT_AC)
        await wait_for(lambda: _empty(scenario.eligible_ids(client, order_id)))

        refused = await client.post(f"/orders/{order_id}/accept", headers=scenario.engineer("eng-a"))
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "engineer_not_eligible"
        assert error["details"]["reason"] == "lapsed"
        assert error["details"]["qualification_type"] == SPLIT_AC
        assert error["details"]["since"] is not None
        assert "「空调安装」资质已于" in error["message"]
        assert "失效" in error["message"]

        unchanged = (await client.get(f"/orders/{order_id}", headers=scenario.dispatcher)).json()
        assert unchanged["status"] == "offered"
        assert unchanged["engineer_id"] is None


async def _empty(awaitable: Awaitable[list[str]]) -> bool:
    return not await awaitable


async def test_shrink_and_lapse_flag_orders_at_risk(scenario: Scenario, infra, isolation):
    await scenario.grant("eng-shrink", SPLIT_AC, today_plus(365))
    await scenario.grant("eng-lapse", SPLIT_AC, today_plus(365))
    await scenario.grant("eng-safe", SPLIT_AC, today_plus(365))

    async with scenario.client() as client:
        shrunk_order = await scenario.create_order(client, "split_ac_installation", in_days(20))
        lapsed_order = await scenario.create_order(client, "split_ac_installation", in_days(20))
        safe_order = await scenario.create_order(client, "split_ac_installation", in_days(2))
        await wait_for(lambda: _count(scenario.eligible_ids(client, shrunk_order["order_id"]), 3))
        await scenario.offer_and_accept(client, shrunk_order["order_id"], "eng-shrink")
        await scenario.offer_and_accept(client, lapsed_order["order_id"], "eng-lapse")
        await scenario.offer_and_accept(client, safe_order["order_id"], "eng-safe")

        # Validity shrinks to before the appointment for one engineer, lapses for another,
        # and shrinks for a third but still covers that engineer's appointment.
        await scenario.shrink("eng-shrink", SPLIT_AC, today_plus(10), today_plus(365))
        await scenario.lapse("eng-lapse", SPLIT_AC)
        await scenario.shrink("eng-safe", SPLIT_AC, today_plus(10), today_plus(365))

        async def at_risk_ids() -> set[str]:
            response = await client.get("/orders/at-risk", headers=scenario.dispatcher)
            assert response.status_code == 200, response.text
            ids = {order["order_id"] for order in response.json()}
            return ids if len(ids) >= 2 else set()

        flagged = await wait_for(at_risk_ids)
        assert flagged == {shrunk_order["order_id"], lapsed_order["order_id"]}

        detail = (await client.get(f"/orders/{shrunk_order['order_id']}", headers=scenario.dispatcher)).json()
        assert detail["at_risk"]["reason"] == "validity_shortened"
        assert detail["at_risk"]["valid_until"] == today_plus(10).isoformat()
        assert detail["job_log"][-1]["action"] == "flagged_at_risk"
        lapsed_detail = (await client.get(f"/orders/{lapsed_order['order_id']}", headers=scenario.dispatcher)).json()
        assert lapsed_detail["at_risk"]["reason"] == "qualification_lapsed"

        manager = scenario.signer.headers("outlet_manager", "manager-1", outlet_id=OUTLET)
        supervised = (await client.get("/supervision", params={"kind": "at_risk"}, headers=manager)).json()
        assert {order["order_id"] for order in supervised} == flagged

    records = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + ORDERS, expect=20, timeout_s=10)
    risky = {record_json(r)["payload"]["order_id"] for r in records if record_json(r)["type"] == "order.at_risk"}
    assert risky == flagged


async def _count(awaitable: Awaitable[list[str]], expected: int) -> bool:
    return len(await awaitable) >= expected


async def test_completion_needs_uploaded_evidence(scenario: Scenario, infra, isolation):
    await scenario.grant("eng-tv", TV, today_plus(365))
    engineer = scenario.engineer("eng-tv")

    async with scenario.client() as client:
        order = await scenario.create_order(client, "tv_wall_mounting", in_days(1))
        order_id = order["order_id"]
        await wait_for(lambda: _nonempty(scenario.eligible_ids(client, order_id)))
        await scenario.offer_and_accept(client, order_id, "eng-tv")
        checked_in = await client.post(f"/orders/{order_id}/check-in", headers=engineer, json={"location": {"latitude": 31.23, "longitude": 121.47}})
        assert checked_in.status_code == 200, checked_in.text

        refused = await client.post(f"/orders/{order_id}/complete", headers=engineer)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "evidence_missing"
        assert refused.json()["error"]["details"]["missing"] == ["before_photo", "after_photo"]
        assert "施工前照片" in refused.json()["error"]["message"]

        # Bytes that are not an image are uploaded but not recorded.
        bad = await _upload(client, engineer, order_id, "before_photo", b"plain text, not a photo")
        wrong = await client.post(f"/orders/{order_id}/evidence", headers=engineer, json={"kind": "before_photo", "key": bad})
        assert wrong.status_code == 422, wrong.text
        assert wrong.json()["error"]["code"] == "upload_wrong_type"

        for kind in ("before_photo", "after_photo"):
            key = await _upload(client, engineer, order_id, kind, tiny_jpeg())
            recorded = await client.post(f"/orders/{order_id}/evidence", headers=engineer, json={"kind": kind, "key": key})
            assert recorded.status_code == 201, recorded.text
        assert recorded.json()["evidence"][-1]["media_type"] == "image/jpeg"
        assert recorded.json()["missing_evidence"] == []

        completed = await client.post(f"/orders/{order_id}/complete", headers=engineer)
        assert completed.status_code == 200, completed.text
        body = completed.json()
        assert body["status"] == "completed"
        actions = [entry["action"] for entry in body["job_log"]]
        assert actions == ["created", "offered", "accepted", "checked_in", "evidence_recorded", "evidence_recorded", "completed"]
        assert all(entry["at"] and entry["actor_id"] for entry in body["job_log"])

    records = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + ORDERS, expect=5, timeout_s=15)
    types = [record_json(r)["type"] for r in records]
    assert "order.completed" in types


async def _upload(client: httpx.AsyncClient, engineer: dict[str, str], order_id: str, kind: str, data: bytes) -> str:
    grant = await client.post(f"/orders/{order_id}/evidence/uploads", headers=engineer, json={"kind": kind, "content_type": "image/jpeg"})
    assert grant.status_code == 201, grant.text
    async with httpx.AsyncClient(timeout=30.0) as storage:
        put = await storage.put(grant.json()["url"], content=data, headers={"Content-Type": "image/jpeg"})
    assert put.status_code == 200, put.text
    return grant.json()["key"]


async def test_other_engineer_gets_404(scenario: Scenario):
    await scenario.grant("eng-owner", TV, today_plus(365))
    await scenario.grant("eng-other", TV, today_plus(365))
    other = scenario.engineer("eng-other")

    async with scenario.client() as client:
        order = await scenario.create_order(client, "tv_wall_mounting", in_days(1))
        order_id = order["order_id"]
        await wait_for(lambda: _count(scenario.eligible_ids(client, order_id), 2))
        await scenario.offer_and_accept(client, order_id, "eng-owner")

        owner_view = (await client.get(f"/orders/{order_id}", headers=scenario.engineer("eng-owner"))).json()
        assert owner_view["customer"]["mobile"] == "13800138000"

        assert (await client.get(f"/orders/{order_id}", headers=other)).status_code == 404
        for path, body in (
            ("accept", None), ("decline", {"reason": "忙"}), ("check-in", {}), ("complete", None),
            ("notes", {"text": "改一下"}), ("evidence/uploads", {"kind": "before_photo"}),
            ("evidence", {"kind": "before_photo", "key": f"orders/{order_id}/before_photo/x"}),
        ):
            response = await client.post(f"/orders/{order_id}/{path}", headers=other, json=body)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"]["code"] == "order_not_found"
        assert (await client.get("/orders", headers=other)).json() == []

        manager = scenario.signer.headers("outlet_manager", "manager-1", outlet_id=OUTLET)
        managed = (await client.get(f"/orders/{order_id}", headers=manager)).json()
        assert managed["customer"]["mobile"] == "138****8000"
        assert managed["customer"]["masked"] is True
        other_manager = scenario.signer.headers("outlet_manager", "manager-2", outlet_id=OTHER_OUTLET)
        assert (await client.get(f"/orders/{order_id}", headers=other_manager)).status_code == 404


async def test_pool_and_supervision_lists(scenario: Scenario, clock_file):
    await scenario.grant("eng-pool", TV, today_plus(365))
    await scenario.grant("eng-ac-only", SPLIT_AC, today_plus(365))
    manager = scenario.signer.headers("outlet_manager", "manager-1", outlet_id=OUTLET)

    async with scenario.client() as client:
        order = await scenario.create_order(client, "tv_wall_mounting", in_days(1))
        order_id = order["order_id"]
        await wait_for(lambda: _nonempty(scenario.eligible_ids(client, order_id)))
        published = await client.post(f"/orders/{order_id}/publish", headers=scenario.dispatcher)
        assert published.status_code == 200, published.text
        assert published.json()["status"] == "pooled"

        async def pool_ids(engineer_id: str) -> list[str]:
            response = await client.get("/orders/pool", headers=scenario.engineer(engineer_id))
            assert response.status_code == 200, response.text
            return [item["order_id"] for item in response.json()]

        assert await pool_ids("eng-pool") == [order_id]
        assert await pool_ids("eng-ac-only") == []
        assert (await client.get(f"/orders/{order_id}", headers=scenario.engineer("eng-ac-only"))).status_code == 404
        pooled_view = (await client.get(f"/orders/{order_id}", headers=scenario.engineer("eng-pool"))).json()
        assert pooled_view["customer"]["masked"] is True

        accepted = await client.post(f"/orders/{order_id}/accept", headers=scenario.engineer("eng-pool"))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["engineer_id"] == "eng-pool"
        assert await pool_ids("eng-pool") == []

        # Move every clock past the appointment start: the order is a late check-in now.
        clock_file.write_text((in_days(1) + timedelta(minutes=30)).isoformat())
        late = (await client.get("/supervision", params={"kind": "late_check_in"}, headers=manager)).json()
        assert [item["order_id"] for item in late] == [order_id]

        checked_in = await client.post(f"/orders/{order_id}/check-in", headers=scenario.engineer("eng-pool"), json={})
        assert checked_in.status_code == 200, checked_in.text
        assert checked_in.json()["job_log"][-1]["details"]["late"] is True
        assert (await client.get("/supervision", params={"kind": "late_check_in"}, headers=manager)).json() == []
        missing = (await client.get("/supervision", params={"kind": "missing_evidence"}, headers=manager)).json()
        assert [item["order_id"] for item in missing] == [order_id]
        assert missing[0]["missing_evidence"] == ["before_photo", "after_photo"]

        other_manager = scenario.signer.headers("outlet_manager", "manager-2", outlet_id=OTHER_OUTLET)
        assert (await client.get("/supervision", params={"kind": "missing_evidence"}, headers=other_manager)).json() == []
        filtered = await client.get("/supervision", params={"kind": "missing_evidence", "outlet_id": OTHER_OUTLET}, headers=scenario.dispatcher)
        assert filtered.json() == []


async def test_grant_burst_lists_every_engineer(scenario: Scenario, infra, isolation):
    engineers = [f"eng-burst-{index:02d}" for index in range(24)]
    grants = [
        QualificationGranted(
            producer="qualification-svc",
            payload=QualificationGrantedPayload(
                **scenario.ref(engineer_id, SPLIT_AC), valid_until=today_plus(100 + index), score=92,
                granted_at=datetime.now(UTC),
            ),
        )
        for index, engineer_id in enumerate(engineers)
    ]
    topic = isolation.topic_prefix + QUALIFICATIONS
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=50)
    await producer.start()
    try:
        # One fetch's worth: every grant, a malformed record and the first grant again, all in one region.
        records = [(grant.key().encode(), grant.model_dump_json().encode()) for grant in grants]
        records[12:12] = [(b"eng-burst-12", b"{not json")]
        records.append(records[0])
        sent = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    store = EligibilityStore(scenario.service.runtime.db)

    async def region_listing() -> list[str]:
        found = await store.eligible("region", SPLIT_AC, REGION, today_plus(1), limit=100)
        return [item["engineer_id"] for item in found]

    # Every engineer reaches the one region document, latest validity first.
    assert await wait_for(lambda: _equals(region_listing(), list(reversed(engineers))))
    async with scenario.client() as client:
        order = await scenario.create_order(client, "split_ac_installation", in_days(10))
        assert sorted(await scenario.eligible_ids(client, order["order_id"])) == engineers

    dead = await read_topic(infra.kafka_bootstrap, dead_letter_topic(topic), expect=1)
    assert [record.value for record in dead] == [b"{not json"]
