"""review-svc on the real servers: certificate events in, reviewers' HTTP actions, review events out.

Each test produces ``certificate.submitted`` events onto its own prefixed certificates topic, drives
the reviewers through the HTTP API with the test clock moved as needed, and reads what the service
published on the prefixed reviews topic.
"""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bangke_contracts.certificates import (
    CertificateSubmitted,
    CertificateSubmittedPayload,
    CertificateWithdrawn,
    CertificateWithdrawnPayload,
)
from bangke_contracts.topics import CERTIFICATES, REVIEWS
from bangke_runtime.personal_data import make_id_number
from harness.kafka_tools import produce_raw, read_topic, record_json
from review_svc.bootstrap import build
from review_svc.service_layer.reviews import review_id_for
from review_svc.settings import ReviewSettings
from harness.waiting import wait_for

pytestmark = pytest.mark.integration

OUTLET, OTHER_OUTLET = "outlet-a", "outlet-b"
REGION, OTHER_REGION = "region-east", "region-west"



class Scenario:
    """One running review-svc with tokens for the people of one outlet and region."""

    def __init__(self, service: Any, signer: Any, infra: Any, isolation: Any, clock_file: Path) -> None:
        self.service = service
        self.infra = infra
        self.isolation = isolation
        self.clock_file = clock_file
        self.outlet_manager = signer.headers("outlet_manager", "manager-a", outlet_id=OUTLET, region_id=REGION)
        self.other_outlet_manager = signer.headers("outlet_manager", "manager-b", outlet_id=OTHER_OUTLET, region_id=REGION)
        self.training_manager = signer.headers("training_manager", "trainer-east", region_id=REGION)
        self.other_training_manager = signer.headers("training_manager", "trainer-west", region_id=OTHER_REGION)
        self.operator = signer.headers("operator", "operator-1")
        self.signer = signer

    def set_clock(self, instant: str) -> None:
        self.clock_file.write_text(instant)

    async def submit(self, **overrides: Any) -> tuple[CertificateSubmitted, str]:
        sequence = overrides.pop("sequence", 1)
        holder_id = make_id_number("110101", date(1990, 3, 7), sequence)
        values: dict[str, Any] = {
            "certificate_id": f"cert-{uuid.uuid4().hex[:12]}",
            "version": 1,
            "engineer_id": f"engineer-{uuid.uuid4().hex[:8]}",
            "certificate_type": "low_voltage_electrician",
            "outlet_id": OUTLET,
            "region_id": REGION,
            "kind": "long_term",
            "registry_confirmable": True,
            "number": "T" + holder_id,
            "holder_name": "王小明",
            "holder_id_number": holder_id,
            "issued_on": date(2024, 3, 1),
            "expires_on": date(2030, 2, 28),
            "photo_keys": ["photos/front.jpg", "photos/back.jpg"],
            "submitted_at": datetime.now(UTC),
        }
        values.update(overrides)
        event = CertificateSubmitted(producer="certificate-svc", payload=CertificateSubmittedPayload(**values))
        await self.produce(event, values["engineer_id"])
        review_id = review_id_for(values["certificate_id"], values["version"])
        await wait_for(lambda: self._visible(review_id))
        return event, review_id

    async def produce(self, event: Any, key: str) -> None:
        await produce_raw(
            self.infra.kafka_bootstrap, self.isolation.topic_prefix + CERTIFICATES,
            event.model_dump_json().encode(), key=key.encode(),
        )

    async def _visible(self, review_id: str) -> bool:
        async with self.service.client() as client:
            response = await client.get(f"/tasks/{review_id}", headers=self.outlet_manager)
        return response.status_code == 200

    async def call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        async with self.service.client() as client:
            return await client.request(method, path, headers=headers, **kwargs)

    async def run_registry_check(self) -> dict[str, Any]:
        response = await self.call("POST", "/ops/jobs/registry-check/run", self.operator)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    async def upload_snapshot(self, text: str) -> dict[str, Any]:
        response = await self.call("PUT", "/ops/registry-snapshot", self.operator, content=text.encode())
        assert response.status_code == 200, response.text
        return response.json()

    async def review_events(self, engineer_id: str, expect: int) -> list[dict[str, Any]]:
        records = await read_topic(self.infra.kafka_bootstrap, self.isolation.topic_prefix + REVIEWS, expect=expect)
        return [record_json(r) for r in records if r.key == engineer_id.encode()]


@pytest.fixture
async def scenario(start_service, signer, infra, isolation, clock_file) -> Scenario:
    # The schedule is off so that moving the test clock past 01:00 does not start a check by itself.
    service = await start_service(build, ReviewSettings, registry_check_enabled=False)
    return Scenario(service, signer, infra, isolation, clock_file)


def snapshot_line(event: CertificateSubmitted, **overrides: Any) -> str:
    payload = event.payload
    row = {
        "name": payload.holder_name,
        "sex": "男",
        "certificate_number": payload.number,
        "operation_category": "电工作业",
        "operation_item": "低压电工作业",
        "first_issue_date": "2018-03-01",
        "validity_start": payload.issued_on.isoformat(),
        "validity_end": payload.expires_on.isoformat(),
        "due_reexamination_date": "2027-03-01",
        "actual_reexamination_date": "",
        "issuing_authority": "北京市应急管理局",
        "status": "有效",
    }
    row.update(overrides)
    return json.dumps(row, ensure_ascii=False)


UNRELATED_LINE = (
    '{"name": "路人甲", "certificate_number": "T110101198001010011", "operation_category": "电工作业", '
    '"operation_item": "低压电工作业", "validity_start": "2020-01-01", "validity_end": "2026-01-01"}'
)


async def test_temporary_route_to_training_manager(scenario: Scenario):
    event, review_id = await scenario.submit(
        kind="temporary", registry_confirmable=False, certificate_type="pre_job_training",
        number="PJT-2025-0001", number_held_by=["engineer-other"],
    )

    queue = (await scenario.call("GET", "/tasks", scenario.outlet_manager)).json()
    assert [item["review_id"] for item in queue["items"]] == [review_id]
    item = queue["items"][0]
    assert item["number_shared"] is True
    assert item["number_held_by"] == ["engineer-other"]
    assert item["number_shared_notice"]
    assert item["holder_id_number"].startswith("110")
    assert "*" in item["holder_id_number"]
    assert [photo["key"] for photo in item["photos"]] == ["photos/front.jpg", "photos/back.jpg"]
    assert "X-Amz-Signature=" in item["photos"][0]["url"]

    approved = await scenario.call("POST", f"/tasks/{review_id}/approve", scenario.outlet_manager)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "pending_spot_check"
    spot_checks = (await scenario.call("GET", "/tasks", scenario.training_manager)).json()
    assert [item["review_id"] for item in spot_checks["items"]] == [review_id]
    assert spot_checks["items"][0]["spot_check_allowed_today"] is True

    final = await scenario.call("POST", f"/tasks/{review_id}/approve", scenario.training_manager)
    assert final.status_code == 200, final.text
    assert final.json()["status"] == "approved"

    events = await scenario.review_events(event.payload.engineer_id, expect=3)
    assert [(e["type"], e["payload"].get("step"), e["payload"]["outcome"]) for e in events] == [
        ("review.decision_recorded", "outlet_review", "approved"),
        ("review.decision_recorded", "spot_check", "approved"),
        ("review.completed", None, "approved"),
    ]
    assert events[0]["payload"]["actor_id"] == "manager-a"
    assert events[1]["payload"]["actor_role"] == "training_manager"
    assert events[2]["payload"]["certificate_id"] == event.payload.certificate_id


async def test_long_term_found_and_matching(scenario: Scenario):
    event, review_id = await scenario.submit()
    await scenario.upload_snapshot(UNRELATED_LINE + "\n" + snapshot_line(event) + "\n")
    await scenario.call("POST", f"/tasks/{review_id}/approve", scenario.outlet_manager)

    result = await scenario.run_registry_check()

    assert result["found_matching"] == 1
    assert result["total"] == 1
    events = await scenario.review_events(event.payload.engineer_id, expect=3)
    assert [(e["type"], e["payload"]["outcome"]) for e in events] == [
        ("review.decision_recorded", "approved"),
        ("review.decision_recorded", "found_matching"),
        ("review.completed", "approved"),
    ]
    assert events[1]["payload"]["actor_id"] == "registry-check"
    assert events[2]["payload"]["decided_by_role"] == "registry_check"
    spot_checks = (await scenario.call("GET", "/tasks", scenario.training_manager)).json()
    assert spot_checks["total"] == 0

    again = await scenario.run_registry_check()
    assert again["total"] == 0
    assert len(await scenario.review_events(event.payload.engineer_id, expect=4)) == 3


async def test_not_found_waits_until_next_china_day(scenario: Scenario):
    await scenario.upload_snapshot(UNRELATED_LINE + "\n")
    late, late_id = await scenario.submit(sequence=11)
    early, early_id = await scenario.submit(sequence=12)

    # Approved at 23:59 on 10 June: the spot check opens at 00:00 on 11 June.
    scenario.set_clock("2025-06-10T23:59:00+08:00")
    assert (await scenario.call("POST", f"/tasks/{late_id}/approve", scenario.outlet_manager)).status_code == 200
    scenario.set_clock("2025-06-10T23:59:20+08:00")
    assert (await scenario.run_registry_check())["not_found"] == 1
    scenario.set_clock("2025-06-10T23:59:40+08:00")
    refused = await scenario.call("POST", f"/tasks/{late_id}/approve", scenario.training_manager)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "spot_check_too_early"
    assert refused.json()["error"]["details"]["first_allowed_on"] == "2025-06-11"
    assert "2025-06-11" in refused.json()["error"]["message"]

    scenario.set_clock("2025-06-11T00:00:00+08:00")
    allowed = await scenario.call("POST", f"/tasks/{late_id}/approve", scenario.training_manager)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["status"] == "approved"

    # Approved at 00:01 on 11 June: the spot check opens at 00:00 on 12 June.
    scenario.set_clock("2025-06-11T00:01:00+08:00")
    assert (await scenario.call("POST", f"/tasks/{early_id}/approve", scenario.outlet_manager)).status_code == 200
    scenario.set_clock("2025-06-11T01:00:00+08:00")
    assert (await scenario.run_registry_check())["not_found"] == 1

    scenario.set_clock("2025-06-11T23:59:59+08:00")
    view = (await scenario.call("GET", f"/tasks/{early_id}", scenario.training_manager)).json()
    assert view["spot_check_reason"] == "registry_not_found"
    assert view["spot_check_from"] == "2025-06-12"
    assert view["spot_check_allowed_today"] is False
    refused = await scenario.call("POST", f"/tasks/{early_id}/reject", scenario.training_manager, json={"reason": "查无此证"})
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["first_allowed_on"] == "2025-06-12"

    scenario.set_clock("2025-06-12T00:00:00+08:00")
    allowed = await scenario.call("POST", f"/tasks/{early_id}/approve", scenario.training_manager)
    assert allowed.status_code == 200, allowed.text

    events = await scenario.review_events(early.payload.engineer_id, expect=8)
    assert [(e["payload"].get("step"), e["payload"]["outcome"]) for e in events] == [
        ("outlet_review", "approved"),
        ("registry_check", "not_found"),
        ("spot_check", "approved"),
        (None, "approved"),
    ]
    assert events[2]["payload"]["decided_at"].startswith("2025-06-11T16:00:00")


async def test_mismatch_shows_differences(scenario: Scenario):
    event, review_id = await scenario.submit()
    await scenario.upload_snapshot(snapshot_line(event, name="李大壮", validity_end="2029-12-31") + "\n")
    await scenario.call("POST", f"/tasks/{review_id}/approve", scenario.outlet_manager)

    assert (await scenario.run_registry_check())["mismatch"] == 1

    view = (await scenario.call("GET", f"/tasks/{review_id}", scenario.training_manager)).json()
    assert view["status"] == "pending_spot_check"
    assert view["spot_check_reason"] == "registry_mismatch"
    assert view["spot_check_allowed_today"] is True
    assert view["differences"] == [
        {"field": "holder_name", "uploaded": "王小明", "registry": "李大壮"},
        {"field": "validity_end", "uploaded": "2030-02-28", "registry": "2029-12-31"},
    ]
    rejected = await scenario.call(
        "POST", f"/tasks/{review_id}/reject", scenario.training_manager, json={"reason": "持证人与安监网记录不符"}
    )
    assert rejected.status_code == 200, rejected.text

    events = await scenario.review_events(event.payload.engineer_id, expect=4)
    assert events[1]["payload"]["outcome"] == "mismatch"
    assert events[1]["payload"]["differences"] == ["holder_name", "validity_end"]
    assert events[3]["type"] == "review.completed"
    assert events[3]["payload"]["outcome"] == "rejected"
    assert events[3]["payload"]["reason"] == "持证人与安监网记录不符"


async def test_outlet_rejection_needs_reason(scenario: Scenario):
    event, review_id = await scenario.submit()

    blank = await scenario.call("POST", f"/tasks/{review_id}/reject", scenario.outlet_manager, json={"reason": "  "})
    assert blank.status_code == 422
    assert blank.json()["error"]["code"] == "rejection_reason_missing"
    assert blank.json()["error"]["details"]["field"] == "reason"
    still_open = (await scenario.call("GET", f"/tasks/{review_id}", scenario.outlet_manager)).json()
    assert still_open["status"] == "pending_outlet_review"
    assert still_open["decisions"] == []

    rejected = await scenario.call(
        "POST", f"/tasks/{review_id}/reject", scenario.outlet_manager, json={"reason": "证书照片模糊，请重新拍摄"}
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decisions"][0]["actor_id"] == "manager-a"
    again = await scenario.call("POST", f"/tasks/{review_id}/approve", scenario.outlet_manager)
    assert again.status_code == 409

    events = await scenario.review_events(event.payload.engineer_id, expect=2)
    assert [(e["type"], e["payload"]["outcome"], e["payload"]["reason"]) for e in events] == [
        ("review.decision_recorded", "rejected", "证书照片模糊，请重新拍摄"),
        ("review.completed", "rejected", "证书照片模糊，请重新拍摄"),
    ]


async def test_withdrawal_cancels_open_review(scenario: Scenario):
    event, review_id = await scenario.submit()
    payload = event.payload
    withdrawn = CertificateWithdrawn(
        producer="certificate-svc",
        payload=CertificateWithdrawnPayload(
            certificate_id=payload.certificate_id, version=payload.version, engineer_id=payload.engineer_id,
            certificate_type=payload.certificate_type, withdrawn_at=datetime.now(UTC),
        ),
    )

    await scenario.produce(withdrawn, payload.engineer_id)

    async def cancelled() -> bool:
        view = await scenario.call("GET", f"/tasks/{review_id}", scenario.outlet_manager)
        return view.json()["status"] == "cancelled"

    await wait_for(cancelled)
    queue = (await scenario.call("GET", "/tasks", scenario.outlet_manager)).json()
    assert queue["total"] == 0
    late = await scenario.call("POST", f"/tasks/{review_id}/approve", scenario.outlet_manager)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "review_not_at_step"


async def test_other_scope_gets_not_found(scenario: Scenario):
    _event, review_id = await scenario.submit()

    for headers in (scenario.other_outlet_manager, scenario.other_training_manager):
        assert (await scenario.call("GET", f"/tasks/{review_id}", headers)).status_code == 404
        response = await scenario.call("POST", f"/tasks/{review_id}/approve", headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "review_not_found"
        assert (await scenario.call("GET", "/tasks", headers)).json()["total"] == 0
    engineer = scenario.signer.headers("engineer", "engineer-x", outlet_id=OUTLET, region_id=REGION)
    assert (await scenario.call("GET", f"/tasks/{review_id}", engineer)).status_code == 403

    view = (await scenario.call("GET", f"/tasks/{review_id}", scenario.outlet_manager)).json()
    assert view["status"] == "pending_outlet_review"


async def test_self_review_refused(scenario: Scenario):
    event, review_id = await scenario.submit(engineer_id="manager-a")

    response = await scenario.call("POST", f"/tasks/{review_id}/approve", scenario.outlet_manager)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "self_review_forbidden"
    view = (await scenario.call("GET", f"/tasks/{review_id}", scenario.outlet_manager)).json()
    assert view["status"] == "pending_outlet_review"
    assert view["decisions"] == []
    assert event.payload.engineer_id == "manager-a"


async def test_malformed_record_dead_lettered(scenario: Scenario):
    topic = scenario.isolation.topic_prefix + CERTIFICATES
    engineer_id = f"engineer-{uuid.uuid4().hex[:8]}"
    broken = b'{"type": "certificate.submitted", "payload": 7'
    await produce_raw(scenario.infra.kafka_bootstrap, topic, broken, key=engineer_id.encode())

    # The submission after it, on the same engineer's partition, still opens its review.
    await scenario.submit(engineer_id=engineer_id)

    [dead] = await read_topic(scenario.infra.kafka_bootstrap, topic + ".dlq", expect=1)
    assert dead.value == broken
    assert dead.key == engineer_id.encode()
