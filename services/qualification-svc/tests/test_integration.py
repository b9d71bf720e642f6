"""qualification-svc on the real servers: events in through Kafka, state in FerretDB, events out."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bangke_contracts.catalogue import load_catalogue
from bangke_contracts.certificates import (
    CertificateExpired,
    CertificateExpiredPayload,
    CertificateTookEffect,
    CertificateTookEffectPayload,
)
from bangke_contracts.envelope import Event
from bangke_contracts.exams import ExamScoreCollected, ExamScoreCollectedPayload
from bangke_contracts.identity import (
    EngineerAuthenticated,
    EngineerAuthenticatedPayload,
    EngineerRegistered,
    EngineerRegisteredPayload,
)
from bangke_contracts.topics import QUALIFICATIONS, dead_letter_topic
from harness.kafka_tools import produce_raw, read_topic, record_json
from qualification_svc.bootstrap import build
from qualification_svc.settings import QualificationSettings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout_s: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.1)


class Scenario:
    """Produce events for one engineer and wait until the service has applied them."""

    def __init__(self, service: Any, infra: Any, isolation: Any, engineer_id: str) -> None:
        self.service = service
        self.infra = infra
        self.isolation = isolation
        self.engineer_id = engineer_id
        self.engineers = service.runtime.db["engineers"]

    async def send(self, event: Event[Any], wait: bool = True) -> Event[Any]:
        topic = self.isolation.topic_prefix + event.topic
        await produce_raw(self.infra.kafka_bootstrap, topic, event.model_dump_json().encode(), key=event.key().encode())
        if wait:
            await wait_for(lambda: self.engineers.find_one({"_id": event.key(), "processed_events": str(event.event_id)}))
        return event

    async def register(self, outlet_id: str = "outlet-1", region_id: str = "region-1", authenticate: bool = True) -> None:
        await self.send(EngineerRegistered(producer="identity-svc", payload=EngineerRegisteredPayload(
            engineer_id=self.engineer_id, provider_id="provider-1", outlet_id=outlet_id, region_id=region_id,
            name="张伟", id_number_sha256="0" * 64, registered_at=NOW,
        )))
        if authenticate:
            await self.send(EngineerAuthenticated(producer="identity-svc", payload=EngineerAuthenticatedPayload(
                engineer_id=self.engineer_id, method="local_checks", authenticated_at=NOW,
            )))

    async def certificate(self, certificate_type: str, expires_on: date, version: int = 1,
                          replaces: int | None = None) -> Event[Any]:
        return await self.send(CertificateTookEffect(producer="certificate-svc", payload=CertificateTookEffectPayload(
            certificate_id=f"{self.engineer_id}-{certificate_type}", version=version, engineer_id=self.engineer_id,
            certificate_type=certificate_type, issued_on=date(2024, 1, 1), expires_on=expires_on,
            replaces_version=replaces, took_effect_at=NOW,
        )))

    async def expire(self, certificate_type: str, version: int, expired_on: date) -> Event[Any]:
        return await self.send(CertificateExpired(producer="certificate-svc", payload=CertificateExpiredPayload(
            certificate_id=f"{self.engineer_id}-{certificate_type}", version=version, engineer_id=self.engineer_id,
            certificate_type=certificate_type, expired_on=expired_on, expired_at=NOW,
        )))

    @staticmethod
    def score(engineer_id: str, qualification_type: str, value: int, attempt_id: str) -> ExamScoreCollected:
        finished = datetime.now(UTC) + timedelta(seconds=1)
        return ExamScoreCollected(producer="exam-svc", payload=ExamScoreCollectedPayload(
            attempt_id=attempt_id, engineer_id=engineer_id, qualification_type=qualification_type,
            score=value, passed=value >= 80, finished_at=finished, collected_at=finished,
        ))


async def qualification_events(infra: Any, isolation: Any, expect: int) -> list[dict[str, Any]]:
    records = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + QUALIFICATIONS, expect=expect, timeout_s=15)
    return [record_json(record) for record in records]


def by_type(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["qualification_type"]: item for item in items}


@pytest.fixture
def extended_catalogue(tmp_path: Path) -> Path:
    """The default catalogue plus twelve types that need no certificate, so the cap can be reached."""
    data = load_catalogue().model_dump(mode="json")
    data["qualification_types"] += [
        {"code": f"extra_{index:02d}", "name": f"测试资质{index}", "required_certificates": []} for index in range(12)
    ]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


async def test_apply_exam_renew_expire(start_service, infra, isolation, signer):
    service = await start_service(build, QualificationSettings)
    engineer = Scenario(service, infra, isolation, "eng-flow")
    headers = signer.headers("engineer", "eng-flow", outlet_id="outlet-1", region_id="region-1")
    await engineer.register()
    await engineer.certificate("refrigeration_ac", date(2028, 6, 30))

    async with service.client(headers=headers) as client:
        refused = await client.post("/qualifications", json={"qualification_type": "split_ac_installation"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "certificate_not_in_effect"
        assert "高处安装、维护、拆除作业" in refused.json()["error"]["message"]
        assert "上传" in refused.json()["error"]["message"]

        await engineer.certificate("work_at_height", date(2027, 6, 30))
        applied = await client.post("/qualifications", json={"qualification_type": "split_ac_installation"})
        assert applied.status_code == 201, applied.text
        assert applied.json()["status"] == "pending"
        assert applied.json()["next_step"]["code"] == "take_exam"
        tv = await client.post("/qualifications", json={"qualification_type": "tv_wall_mounting"})
        assert tv.status_code == 201

        again = await client.post("/qualifications", json={"qualification_type": "split_ac_installation"})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "qualification_already_held"
        assert "证书" in again.json()["error"]["message"]

        await engineer.send(Scenario.score("eng-flow", "split_ac_installation", 79, "attempt-79"))
        listed = by_type((await client.get("/qualifications")).json())
        assert listed["split_ac_installation"]["status"] == "pending"
        assert listed["split_ac_installation"]["exam_results"][0]["score"] == 79

        passed = await engineer.send(Scenario.score("eng-flow", "split_ac_installation", 80, "attempt-80"))
        await engineer.send(Scenario.score("eng-flow", "tv_wall_mounting", 95, "attempt-95"))
        listed = by_type((await client.get("/qualifications")).json())
        split = listed["split_ac_installation"]
        assert split["status"] == "granted"
        assert split["in_effect"] is True
        assert split["valid_until"] == "2027-06-30"
        assert split["limiting_certificate"]["certificate_type"] == "work_at_height"
        assert split["next_step"]["code"] == "renew_certificate"
        assert listed["tv_wall_mounting"]["status"] == "granted"
        assert listed["tv_wall_mounting"]["valid_until"] == "2099-12-31"

        # The same score again: redelivered as is, and re-collected under a new event id.
        await engineer.send(passed, wait=False)
        await engineer.send(Scenario.score("eng-flow", "split_ac_installation", 80, "attempt-80"))
        await engineer.send(Scenario.score("eng-flow", "split_ac_installation", 30, "attempt-late"))
        listed = by_type((await client.get("/qualifications")).json())
        assert listed["split_ac_installation"]["status"] == "granted"
        assert listed["split_ac_installation"]["passed_score"] == 80
        assert len(listed["split_ac_installation"]["exam_results"]) == 2

        await engineer.certificate("work_at_height", date(2033, 6, 30), version=2, replaces=1)
        split = by_type((await client.get("/qualifications")).json())["split_ac_installation"]
        assert split["valid_until"] == "2028-06-30"
        assert split["limiting_certificate"]["certificate_type"] == "refrigeration_ac"

        await engineer.expire("refrigeration_ac", 1, date(2028, 6, 30))
        listed = by_type((await client.get("/qualifications")).json())
        assert listed["split_ac_installation"]["status"] == "lapsed"
        assert listed["split_ac_installation"]["lapse_reason"] == "certificate_expired"
        assert listed["tv_wall_mounting"]["status"] == "granted"

    events = await qualification_events(infra, isolation, expect=6)
    kinds = [(e["type"], e["payload"]["qualification_type"]) for e in events]
    assert kinds.count(("qualification.granted", "split_ac_installation")) == 1
    assert kinds.count(("qualification.applied", "split_ac_installation")) == 1
    changed = [e for e in events if e["type"] == "qualification.validity_changed"]
    assert [(c["payload"]["previous_valid_until"], c["payload"]["valid_until"]) for c in changed] == [
        ("2027-06-30", "2028-06-30")
    ]
    lapsed = [e for e in events if e["type"] == "qualification.lapsed"]
    assert [lapse["payload"]["reason"] for lapse in lapsed] == ["certificate_expired"]
    assert all(e["payload"]["outlet_id"] == "outlet-1" for e in events)


async def test_cap_withdraw_and_scope(start_service, infra, isolation, signer, extended_catalogue):
    service = await start_service(build, QualificationSettings, catalogue_file=extended_catalogue)
    engineer = Scenario(service, infra, isolation, "eng-cap")
    stranger = Scenario(service, infra, isolation, "eng-unauthenticated")
    await engineer.register(outlet_id="outlet-1", region_id="region-1")
    await stranger.register(outlet_id="outlet-2", region_id="region-2", authenticate=False)
    own = signer.headers("engineer", "eng-cap", outlet_id="outlet-1", region_id="region-1")

    async with service.client(headers=own) as client:
        types = (await client.get("/types")).json()
        split = next(t for t in types if t["code"] == "split_ac_installation")
        assert [c["name"] for c in split["required_certificates"]] == ["制冷与空调设备安装修理作业", "高处安装、维护、拆除作业"]

        ids = []
        for index in range(10):
            response = await client.post("/qualifications", json={"qualification_type": f"extra_{index:02d}"})
            assert response.status_code == 201, response.text
            ids.append(response.json()["qualification_id"])
        eleventh = await client.post("/qualifications", json={"qualification_type": "extra_10"})
        assert eleventh.status_code == 409
        assert eleventh.json()["error"]["code"] == "qualification_limit_reached"

        unknown = await client.post("/qualifications", json={"qualification_type": "no_such_type"})
        assert unknown.status_code == 422
        assert unknown.json()["error"]["details"]["field"] == "qualification_type"

        withdrawn = await client.post(f"/qualifications/{ids[0]}/withdraw")
        assert withdrawn.status_code == 200
        assert withdrawn.json()["status"] == "withdrawn"
        assert (await client.post("/qualifications", json={"qualification_type": "extra_10"})).status_code == 201

    denied = signer.headers("engineer", "eng-unauthenticated", outlet_id="outlet-2", region_id="region-2")
    async with service.client(headers=denied) as client:
        response = await client.post("/qualifications", json={"qualification_type": "tv_wall_mounting"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "engineer_not_authenticated"
        assert (await client.get(f"/qualifications/{ids[1]}")).status_code == 404
        assert (await client.post(f"/qualifications/{ids[1]}/withdraw")).status_code == 404

    manager = signer.headers("outlet_manager", "manager-1", outlet_id="outlet-1", region_id="region-1")
    other_manager = signer.headers("outlet_manager", "manager-2", outlet_id="outlet-2", region_id="region-2")
    trainer = signer.headers("training_manager", "trainer-1", region_id="region-1")
    async with service.client() as client:
        assert len((await client.get("/qualifications", headers=manager)).json()) == 11
        assert (await client.get("/qualifications", headers=other_manager)).json() == []
        assert len((await client.get("/qualifications", params={"status": "pending"}, headers=trainer)).json()) == 10
        assert (await client.get(f"/qualifications/{ids[1]}", headers=other_manager)).status_code == 404
        assert (await client.get(f"/qualifications/{ids[1]}", headers=manager)).status_code == 200


async def test_daily_sweep_lapses_expired(start_service, infra, isolation, signer, clock_file):
    clock_file.write_text("2026-03-01T10:00:00+08:00")
    service = await start_service(build, QualificationSettings)
    engineer = Scenario(service, infra, isolation, "eng-sweep")
    await engineer.register()
    await engineer.certificate("low_voltage_electrician", date(2026, 6, 30))
    own = signer.headers("engineer", "eng-sweep", outlet_id="outlet-1", region_id="region-1")
    operator = signer.headers("operator", "ops-1")

    async with service.client(headers=own) as client:
        applied = await client.post("/qualifications", json={"qualification_type": "electric_water_heater_installation"})
        assert applied.status_code == 201
        score = Scenario.score("eng-sweep", "electric_water_heater_installation", 100, "attempt-1")
        score = score.model_copy(update={"payload": score.payload.model_copy(
            update={"finished_at": datetime(2026, 3, 1, 3, tzinfo=UTC)})})
        await engineer.send(score)
        assert (await client.get("/qualifications")).json()[0]["valid_until"] == "2026-06-30"

        clock_file.write_text("2026-06-30T23:50:00+08:00")
        run = await client.post("/ops/jobs/lapse_sweep/run", headers=operator)
        assert run.status_code == 200, run.text
        assert run.json()["result"]["qualifications_lapsed"] == 0
        assert (await client.get("/qualifications")).json()[0]["status"] == "granted"

        clock_file.write_text("2026-07-01T00:20:00+08:00")
        run = await client.post("/ops/jobs/lapse_sweep/run", headers=operator)
        assert run.json()["result"]["qualifications_lapsed"] == 1
        item = (await client.get("/qualifications")).json()[0]
        assert item["status"] == "lapsed"
        assert item["lapse_reason"] == "expired"
        assert item["next_step"]["code"] == "renew_certificate"
        rerun = await client.post("/ops/jobs/lapse_sweep/run", headers=operator)
        assert rerun.json()["result"]["qualifications_lapsed"] == 0

    events = await qualification_events(infra, isolation, expect=3)
    assert [e["type"] for e in events] == ["qualification.applied", "qualification.granted", "qualification.lapsed"]


async def test_certificate_burst_applied_once_in_order(start_service, infra, isolation, signer):
    service = await start_service(build, QualificationSettings)
    engineer = Scenario(service, infra, isolation, "eng-burst")
    await engineer.register()
    await engineer.certificate("refrigeration_ac", date(2028, 6, 30))
    await engineer.certificate("work_at_height", date(2027, 6, 30))
    headers = signer.headers("engineer", "eng-burst", outlet_id="outlet-1", region_id="region-1")
    async with service.client(headers=headers) as client:
        assert (await client.post("/qualifications", json={"qualification_type": "split_ac_installation"})).status_code == 201
        await engineer.send(Scenario.score("eng-burst", "split_ac_installation", 90, "attempt-1"))

    def renewal(certificate_type: str, expires_on: date) -> CertificateTookEffect:
        return CertificateTookEffect(producer="certificate-svc", payload=CertificateTookEffectPayload(
            certificate_id=f"eng-burst-{certificate_type}", version=2, engineer_id="eng-burst",
            certificate_type=certificate_type, issued_on=date(2026, 1, 1), expires_on=expires_on,
            replaces_version=1, took_effect_at=NOW,
        ))

    height = renewal("work_at_height", date(2029, 6, 30))
    cooling = renewal("refrigeration_ac", date(2030, 6, 30))
    topic = isolation.topic_prefix + height.topic
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=50)
    await producer.start()
    try:
        # One fetch: the two renewals, a malformed record and the first renewal redelivered, all of one engineer.
        sent = [
            await producer.send(topic, value, key=b"eng-burst")
            for value in (height.model_dump_json().encode(), b"{not json", cooling.model_dump_json().encode(),
                          height.model_dump_json().encode())
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    document = await wait_for(lambda: engineer.engineers.find_one(
        {"_id": "eng-burst", "processed_events": str(cooling.event_id)}))
    assert document["processed_events"].count(str(height.event_id)) == 1
    granted = document["qualifications"][0]
    assert granted["valid_until"] == "2029-06-30"
    assert granted["limiting_certificate_type"] == "work_at_height"

    dead = await read_topic(infra.kafka_bootstrap, dead_letter_topic(topic), expect=1)
    assert [record.value for record in dead] == [b"{not json"]
    records = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + QUALIFICATIONS, expect=5, timeout_s=5)
    events = [record_json(record) for record in records]
    changed = [e["payload"] for e in events if e["type"] == "qualification.validity_changed"]
    assert [(c["previous_valid_until"], c["valid_until"]) for c in changed] == [
        ("2027-06-30", "2028-06-30"), ("2028-06-30", "2029-06-30")
    ]
    assert len(events) == 4  # applied, granted and the two changes: the redelivery published nothing


async def applied_for_ac_repair(engineer: Scenario, signer: Any) -> Scenario:
    """Register the engineer with a refrigeration certificate and apply for ac_repair through the API."""
    await engineer.register()
    await engineer.certificate("refrigeration_ac", date(2028, 6, 30))
    headers = signer.headers("engineer", engineer.engineer_id, outlet_id="outlet-1", region_id="region-1")
    async with engineer.service.client(headers=headers) as client:
        assert (await client.post("/qualifications", json={"qualification_type": "ac_repair"})).status_code == 201
    return engineer


async def test_outbox_cleared_lazily(start_service, infra, isolation, signer):
    service = await start_service(build, QualificationSettings)
    relay = service.runtime.relay
    relay.CLEAR_QUIET_S = 3600.0  # hold the quiet-time clearer back until the end of the test
    engineer = await applied_for_ac_repair(Scenario(service, infra, isolation, "eng-lazy"), signer)
    [applied] = await qualification_events(infra, isolation, expect=1)
    await wait_for(lambda: _published(relay, "eng-lazy", applied["event_id"]))

    def outbox(document: dict[str, Any]) -> list[str]:
        return [entry["event_id"] for entry in document["outbox"]]

    # Published and acknowledged, but still stored: the relay made no write of its own.
    assert outbox(await engineer.engineers.find_one({"_id": "eng-lazy"})) == [applied["event_id"]]

    await engineer.send(Scenario.score("eng-lazy", "ac_repair", 90, "attempt-1"))

    events = await qualification_events(infra, isolation, expect=2)
    assert [e["type"] for e in events] == ["qualification.applied", "qualification.granted"]
    # The save that granted the qualification dropped the published entry in the same write.
    assert outbox(await engineer.engineers.find_one({"_id": "eng-lazy"})) == [events[1]["event_id"]]
    assert relay.trimmed_by_saves == 1
    assert relay.clear_writes == 0

    relay.CLEAR_QUIET_S = 0.3
    relay.kick()
    stored = await wait_for(lambda: engineer.engineers.find_one({"_id": "eng-lazy", "outbox_pending": False}))
    assert stored["outbox"] == []
    assert relay.clear_writes == 1
    # Nothing was published twice.
    records = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + QUALIFICATIONS, expect=3, timeout_s=2)
    assert len(records) == 2


async def test_relay_clear_keeps_cache_exact(start_service, infra, isolation, signer):
    service = await start_service(build, QualificationSettings)
    relay = service.runtime.relay
    repository = service.app.state.qualification_service.repository
    relay.CLEAR_QUIET_S = 3600.0
    engineer = await applied_for_ac_repair(Scenario(service, infra, isolation, "eng-cache"), signer)
    await engineer.send(Scenario.score("eng-cache", "ac_repair", 90, "attempt-1"))
    applied, granted = await qualification_events(infra, isolation, expect=2)
    await wait_for(lambda: _published(relay, "eng-cache", granted["event_id"]))
    # On FerretDB the saves left the engineer in the cache.
    assert repository.cached == 1

    # The relay clears the published entry: the cache must then hold the cleared document.
    relay.CLEAR_QUIET_S = 0.3
    relay.kick()
    await wait_for(lambda: engineer.engineers.find_one({"_id": "eng-cache", "outbox_pending": False}))
    assert repository.cached == 1
    stored = await engineer.engineers.find_one({"_id": "eng-cache"})
    assert repository.stored_document("eng-cache") == {key: value for key, value in stored.items() if key != "_id"}

    # A stale cached outbox would bring the cleared entry back, and the relay would publish it again.
    await engineer.certificate("refrigeration_ac", date(2030, 6, 30), version=2, replaces=1)
    events = await qualification_events(infra, isolation, expect=3)
    assert [e["type"] for e in events] == [
        "qualification.applied", "qualification.granted", "qualification.validity_changed"
    ]
    document = await engineer.engineers.find_one({"_id": "eng-cache"})
    assert [entry["event_id"] for entry in document["outbox"]] in ([], [events[2]["event_id"]])
    assert document["qualifications"][0]["valid_until"] == "2030-06-30"
    records = await read_topic(infra.kafka_bootstrap, isolation.topic_prefix + QUALIFICATIONS, expect=4, timeout_s=2)
    assert len(records) == 3


async def _published(relay: Any, engineer_id: str, event_id: str) -> bool:
    return event_id in relay.published_ids("engineers", engineer_id)
