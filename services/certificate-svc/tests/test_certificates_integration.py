"""certificate-svc on the real Kafka, FerretDB and S3 servers.

Photos go to object storage through presigned URLs; review outcomes arrive as review-svc's events on
the prefixed reviews topic; the clock file moves the service to the days that expiry rules care about.
"""

import pytest

from bangke_contracts.topics import CERTIFICATES, NOTIFICATIONS, REVIEWS
from certificate_svc.bootstrap import build
from certificate_svc.settings import MEGABYTE, CertificateSettings

from certificate_steps import (
    LI_ID,
    ZHANG_ID,
    complete_review,
    events_of,
    jpeg_bytes,
    outbox_drained,
    png_bytes,
    produce_review_event,
    register_engineer,
    submitted_certificate,
    upload_photo,
    wait_consumed,
    wait_for,
)

pytestmark = pytest.mark.integration

ELECTRICIAN_DRAFT = {
    "certificate_type": "low_voltage_electrician",
    "number": "T" + ZHANG_ID,
    "holder_name": "张伟",
    "holder_id_number": ZHANG_ID,
    "issued_on": "2024-07-01",
    "expires_on": "2030-06-30",
}


@pytest.fixture
async def service(start_service, clock_file):
    clock_file.write_text("2026-03-10T10:00:00+08:00")
    return await start_service(build, CertificateSettings, scheduled_jobs=False)


@pytest.fixture
async def zhang(service, infra, isolation, signer):
    await register_engineer(service, infra, isolation, "eng-zhang", "张伟", ZHANG_ID)
    return signer.headers("engineer", "eng-zhang", outlet_id="outlet-1", region_id="region-1")


async def read(client, headers, certificate_id):
    response = await client.get(f"/certificates/{certificate_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_submit_then_approval_takes_effect(service, zhang, infra, isolation):
    certificates_topic = isolation.topic_prefix + CERTIFICATES
    async with service.client() as client:
        certificate = await submitted_certificate(client, zhang, ELECTRICIAN_DRAFT)
        certificate_id = certificate["certificate_id"]

        assert certificate["status"] == "under_review"
        submitted = (await events_of(infra, certificates_topic, "certificate.submitted", 1))[0]["payload"]
        assert submitted["certificate_id"] == certificate_id
        assert submitted["kind"] == "long_term"
        assert submitted["registry_confirmable"] is True
        assert submitted["holder_id_number"] == ZHANG_ID
        assert submitted["outlet_id"] == "outlet-1"
        assert submitted["region_id"] == "region-1"
        assert len(submitted["photo_keys"]) == 2
        assert submitted["number_held_by"] == []

        decision, completed = await complete_review(service, infra, isolation, certificate, 1, "approved")
        await wait_for(lambda: _status_is(service, client, zhang, certificate_id, "in_effect"))

        took_effect = (await events_of(infra, certificates_topic, "certificate.took_effect", 1))[0]["payload"]
        assert took_effect["version"] == 1
        assert took_effect["expires_on"] == "2030-06-30"
        assert took_effect["replaces_version"] is None

        # Redelivered events change nothing: still one decision, one took-effect event.
        await produce_review_event(infra, isolation, decision)
        await produce_review_event(infra, isolation, completed)
        await wait_consumed(service, infra, isolation, "certificate-reviews", REVIEWS, 4)
        view = await read(client, zhang, certificate_id)
        assert view["valid_until"] == "2030-06-30"
        assert view["versions"][0]["photos"][0]["media_type"] == "image/jpeg"
        assert view["versions"][0]["photos"][1]["media_type"] == "image/png"
        assert len(view["versions"][0]["decisions"]) == 1
        assert view["versions"][0]["decisions"][0]["actor_role"] == "outlet_manager"
        assert view["versions"][0]["holder_id_number_masked"] != ZHANG_ID
        assert len(await events_of(infra, certificates_topic, "certificate.took_effect", 1)) == 1


async def _status_is(service, client, headers, certificate_id, status):
    view = await read(client, headers, certificate_id)
    return view["status"] == status and await outbox_drained(service, certificate_id)


async def test_rejection_then_correction_and_withdrawal(service, zhang, infra, isolation):
    certificates_topic = isolation.topic_prefix + CERTIFICATES
    async with service.client() as client:
        certificate = await submitted_certificate(client, zhang, ELECTRICIAN_DRAFT)
        certificate_id = certificate["certificate_id"]

        await complete_review(service, infra, isolation, certificate, 1, "rejected", reason="照片模糊，请重新拍摄")
        await wait_for(lambda: _status_is(service, client, zhang, certificate_id, "rejected"))
        rejected = (await events_of(infra, certificates_topic, "certificate.rejected", 1))[0]["payload"]
        assert rejected["reason"] == "照片模糊，请重新拍摄"
        view = await read(client, zhang, certificate_id)
        assert view["versions"][0]["rejection_reason"] == "照片模糊，请重新拍摄"
        assert view["versions"][0]["decisions"][0]["reason"] == "照片模糊，请重新拍摄"

        corrected = await client.post(f"/certificates/{certificate_id}/correction", headers=zhang, json={})
        assert corrected.status_code == 201, corrected.text
        assert corrected.json()["latest_version"] == 2
        assert corrected.json()["versions"][0]["corrects_version"] == 1
        replaced = await upload_photo(client, zhang, certificate_id, "front", jpeg_bytes())
        assert replaced.status_code == 200, replaced.text
        resubmitted = await client.post(f"/certificates/{certificate_id}/submit", headers=zhang)
        assert resubmitted.status_code == 200, resubmitted.text

        submissions = await events_of(infra, certificates_topic, "certificate.submitted", 2)
        second = submissions[1]["payload"]
        assert second["version"] == 2
        assert second["corrects_version"] == 1
        assert "/v2/front-" in second["photo_keys"][0]
        assert "/v1/back-" in second["photo_keys"][1]

        await wait_for(lambda: outbox_drained(service, certificate_id))
        withdrawn = await client.post(f"/certificates/{certificate_id}/withdraw", headers=zhang)
        assert withdrawn.status_code == 200, withdrawn.text
        assert (await events_of(infra, certificates_topic, "certificate.withdrawn", 1))[0]["payload"]["version"] == 2

        # An approval of the withdrawn version is ignored once the consumer has moved past it.
        await complete_review(service, infra, isolation, certificate, 2, "approved")
        await wait_consumed(service, infra, isolation, "certificate-reviews", REVIEWS, 4)
        again = await client.post(f"/certificates/{certificate_id}/withdraw", headers=zhang)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "not_under_review"
        view = await read(client, zhang, certificate_id)
        assert view["versions"][0]["status"] == "withdrawn"
        assert view["status"] == "withdrawn"


async def test_renewal_replaces_version_when_it_takes_effect(service, zhang, infra, isolation):
    certificates_topic = isolation.topic_prefix + CERTIFICATES
    async with service.client() as client:
        certificate = await submitted_certificate(client, zhang, ELECTRICIAN_DRAFT)
        certificate_id = certificate["certificate_id"]
        await complete_review(service, infra, isolation, certificate, 1, "approved")
        await wait_for(lambda: _status_is(service, client, zhang, certificate_id, "in_effect"))

        not_later = await client.post(
            f"/certificates/{certificate_id}/renewal", headers=zhang,
            json={"issued_on": "2026-03-01", "expires_on": "2030-06-30"},
        )
        assert not_later.status_code == 422
        assert not_later.json()["error"]["code"] == "renewal_expiry_not_later"

        renewal = await client.post(
            f"/certificates/{certificate_id}/renewal", headers=zhang,
            json={"issued_on": "2026-03-01", "expires_on": "2032-02-29"},
        )
        assert renewal.status_code == 201, renewal.text
        for side, body in (("front", png_bytes()), ("back", jpeg_bytes())):
            attached = await upload_photo(client, zhang, certificate_id, side, body)
            assert attached.status_code == 200, attached.text
        submitted = await client.post(f"/certificates/{certificate_id}/submit", headers=zhang)
        assert submitted.status_code == 200, submitted.text

        view = submitted.json()
        assert view["status"] == "in_effect"
        assert view["effective_version"] == 1
        assert view["valid_until"] == "2030-06-30"
        assert view["versions"][0]["status"] == "under_review"
        renewal_submitted = (await events_of(infra, certificates_topic, "certificate.submitted", 2))[1]["payload"]
        assert renewal_submitted["renewal"] is True
        assert renewal_submitted["replaces_version"] == 1

        await complete_review(service, infra, isolation, certificate, 2, "approved", role="registry_check")
        await wait_for(lambda: _effective_version_is(service, client, zhang, certificate_id, 2))

        view = await read(client, zhang, certificate_id)
        assert view["valid_until"] == "2032-02-29"
        assert [v["status"] for v in view["versions"]] == ["in_effect", "superseded"]
        superseded = (await events_of(infra, certificates_topic, "certificate.superseded", 1))[0]["payload"]
        assert superseded["version"] == 1
        assert superseded["superseded_by_version"] == 2
        took_effect = await events_of(infra, certificates_topic, "certificate.took_effect", 2)
        assert took_effect[1]["payload"]["replaces_version"] == 1


async def _effective_version_is(service, client, headers, certificate_id, version):
    view = await read(client, headers, certificate_id)
    return view["effective_version"] == version and await outbox_drained(service, certificate_id)


async def test_reminders_then_expiry_sweep(service, zhang, infra, isolation, signer, clock_file):
    operator = signer.headers("operator", "ops-1")
    manager = signer.headers("outlet_manager", "manager-1", outlet_id="outlet-1", region_id="region-1")
    other_manager = signer.headers("outlet_manager", "manager-2", outlet_id="outlet-2", region_id="region-1")
    async with service.client() as client:
        draft = {**ELECTRICIAN_DRAFT, "expires_on": "2026-06-30"}
        certificate = await submitted_certificate(client, zhang, draft)
        certificate_id = certificate["certificate_id"]
        await complete_review(service, infra, isolation, certificate, 1, "approved")
        await wait_for(lambda: _status_is(service, client, zhang, certificate_id, "in_effect"))

        clock_file.write_text("2026-05-31T09:00:00+08:00")
        first = await client.post("/ops/jobs/certificate-expiry-reminders/run", headers=operator)
        rerun = await client.post("/ops/jobs/certificate-expiry-reminders/run", headers=operator)
        assert first.json()["result"]["issued"] == 1
        assert rerun.json()["result"]["issued"] == 0

        own = (await client.get("/notifications", headers=zhang)).json()
        assert [(n["certificate_id"], n["days_before"]) for n in own] == [(certificate_id, 30)]
        assert "2026-06-30" in own[0]["message"]
        outlet = (await client.get("/notifications", headers=manager)).json()
        assert [n["engineer_name"] for n in outlet] == ["张伟"]
        assert (await client.get("/notifications", headers=other_manager)).json() == []
        reminders = await events_of(infra, isolation.topic_prefix + NOTIFICATIONS, "notification.expiry_reminder_issued", 1)
        assert reminders[0]["payload"]["reminder_id"] == own[0]["reminder_id"]

        clock_file.write_text("2026-06-24T09:00:00+08:00")
        week = await client.post("/ops/jobs/certificate-expiry-reminders/run", headers=operator)
        assert week.json()["result"]["issued"] == 1

        clock_file.write_text("2026-06-30T23:59:00+08:00")
        last_day = await client.post("/ops/jobs/certificate-expiry-sweep/run", headers=operator)
        assert last_day.json()["result"]["expired"] == 0
        assert (await read(client, zhang, certificate_id))["status"] == "in_effect"

        clock_file.write_text("2026-07-01T00:05:00+08:00")
        next_day = await client.post("/ops/jobs/certificate-expiry-sweep/run", headers=operator)
        assert next_day.json()["result"]["expired"] == 1
        view = await read(client, zhang, certificate_id)
        assert view["status"] == "expired"
        assert view["valid_until"] is None
        expired = (await events_of(infra, isolation.topic_prefix + CERTIFICATES, "certificate.expired", 1))[0]["payload"]
        assert expired["expired_on"] == "2026-06-30"


async def test_bad_photos_leave_certificate_unchanged(service, zhang):
    async with service.client() as client:
        created = await client.post("/certificates", headers=zhang, json=ELECTRICIAN_DRAFT)
        certificate_id = created.json()["certificate_id"]
        before = await read(client, zhang, certificate_id)

        text_as_jpeg = await upload_photo(client, zhang, certificate_id, "front", b"this is a text file, not a photo\n" * 20)
        too_large = await upload_photo(client, zhang, certificate_id, "back", jpeg_bytes() + b"\0" * (11 * MEGABYTE))
        grant = await client.post(f"/certificates/{certificate_id}/photos/front/upload-url", headers=zhang)
        never_uploaded = await client.put(
            f"/certificates/{certificate_id}/photos/front", headers=zhang, json={"key": grant.json()["key"]}
        )
        foreign_key = await client.put(
            f"/certificates/{certificate_id}/photos/front", headers=zhang, json={"key": "eng-li/other/v1/front-x"}
        )
        submit = await client.post(f"/certificates/{certificate_id}/submit", headers=zhang)

        for response, code in (
            (text_as_jpeg, "upload_wrong_type"),
            (too_large, "upload_too_large"),
            (never_uploaded, "upload_missing"),
            (foreign_key, "photo_key_invalid"),
            (submit, "photos_missing"),
        ):
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == code
        assert text_as_jpeg.json()["error"]["details"]["field"] == "photos.front"
        assert (await read(client, zhang, certificate_id)) == before


async def test_scope_validation_and_duplicate_numbers(service, zhang, infra, isolation, signer):
    li = signer.headers("engineer", "eng-li", outlet_id="outlet-1", region_id="region-1")
    manager = signer.headers("outlet_manager", "manager-1", outlet_id="outlet-1", region_id="region-1")
    async with service.client() as client:
        unknown = await client.post("/certificates", headers=li, json={**ELECTRICIAN_DRAFT, "holder_name": "李娜"})
        assert unknown.status_code == 409
        assert unknown.json()["error"]["code"] == "engineer_unknown"
        await register_engineer(service, infra, isolation, "eng-li", "李娜", LI_ID)

        gas = {
            "certificate_type": "gas_appliance", "number": "RQ-2024-0093", "holder_name": "张伟",
            "holder_id_number": ZHANG_ID, "issued_on": "2024-01-01", "expires_on": "2028-12-31",
        }
        zhang_certificate = await submitted_certificate(client, zhang, gas)
        certificate_id = zhang_certificate["certificate_id"]

        for method, path in (
            ("GET", f"/certificates/{certificate_id}"),
            ("PATCH", f"/certificates/{certificate_id}/draft"),
            ("POST", f"/certificates/{certificate_id}/photos/front/upload-url"),
            ("POST", f"/certificates/{certificate_id}/submit"),
            ("POST", f"/certificates/{certificate_id}/withdraw"),
            ("POST", f"/certificates/{certificate_id}/correction"),
        ):
            response = await client.request(method, path, headers=li, json={} if method != "GET" else None)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "certificate_not_found"
        assert (await client.get("/certificates", headers=li)).json() == []
        assert (await client.get("/certificates", headers=manager)).status_code == 403

        mismatch = await client.post("/certificates", headers=li, json={**gas, "holder_name": "李娜"})
        assert mismatch.status_code == 422
        assert mismatch.json()["error"]["details"]["field"] == "holder_id_number"
        bad_id = await client.post("/certificates", headers=li, json={**gas, "holder_name": "李娜", "holder_id_number": LI_ID[:-1] + "Y"})
        assert bad_id.json()["error"]["code"] == "holder_id_number_invalid"
        bad_number = await client.post("/certificates", headers=li, json={**ELECTRICIAN_DRAFT, "number": "DG-1", "holder_name": "李娜", "holder_id_number": LI_ID})
        assert bad_number.json()["error"]["code"] == "number_format_invalid"
        bad_dates = await client.post(
            "/certificates", headers=li,
            json={**gas, "holder_name": "李娜", "holder_id_number": LI_ID, "expires_on": "2023-12-31"},
        )
        assert bad_dates.json()["error"]["code"] == "expiry_not_after_issue"
        assert (await client.get("/certificates", headers=li)).json() == []

        li_certificate = await submitted_certificate(client, li, {**gas, "holder_name": "李娜", "holder_id_number": LI_ID})
        submissions = await events_of(infra, isolation.topic_prefix + CERTIFICATES, "certificate.submitted", 2)
        assert submissions[1]["payload"]["certificate_id"] == li_certificate["certificate_id"]
        assert submissions[1]["payload"]["number_held_by"] == ["eng-zhang"]
        document = await service.runtime.db["certificates"].find_one({"_id": li_certificate["certificate_id"]})
        assert document["versions"][0]["number_held_by"] == ["eng-zhang"]

        duplicate_type = await client.post("/certificates", headers=li, json={**gas, "holder_name": "李娜", "holder_id_number": LI_ID})
        assert duplicate_type.status_code == 409
        assert duplicate_type.json()["error"]["code"] == "certificate_type_exists"

        types = (await client.get("/types", headers=li)).json()
        assert {item["code"] for item in types} >= {"low_voltage_electrician", "gas_appliance", "pre_job_training"}
