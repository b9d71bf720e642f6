import json
from datetime import UTC, date, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from bangke_contracts.catalogue import Catalogue, load_catalogue
from bangke_contracts.certificates import CertificateEvent, CertificateTookEffect
from bangke_contracts.topics import TOPICS, all_topic_specs


def took_effect() -> CertificateTookEffect:
    return CertificateTookEffect(
        producer="certificate-svc",
        payload={
            "certificate_id": "c1",
            "version": 2,
            "engineer_id": "e1",
            "certificate_type": "work_at_height",
            "issued_on": date(2026, 1, 1),
            "expires_on": date(2032, 1, 1),
            "replaces_version": 1,
            "took_effect_at": datetime(2026, 12, 4, tzinfo=UTC),
        },
    )


def test_envelope_round_trip_through_union():
    event = took_effect()
    parsed = TypeAdapter(CertificateEvent).validate_json(event.model_dump_json())
    assert parsed == event
    assert parsed.key() == "e1"
    assert parsed.occurred_at.tzinfo is not None


def test_unknown_schema_version_rejected():
    data = json.loads(took_effect().model_dump_json())
    data["schema_version"] = 2
    with pytest.raises(ValidationError):
        TypeAdapter(CertificateEvent).validate_python(data)


def test_unknown_type_rejected():
    data = json.loads(took_effect().model_dump_json())
    data["type"] = "certificate.teleported"
    with pytest.raises(ValidationError):
        TypeAdapter(CertificateEvent).validate_python(data)


def test_caused_event_keeps_correlation():
    first = took_effect()
    second = first.caused(CertificateTookEffect, first.payload, producer="certificate-svc")
    assert second.correlation_id == first.correlation_id
    assert second.causation_id == first.event_id


def test_every_topic_has_a_dead_letter_twin():
    names = {spec.name for spec in all_topic_specs("p.")}
    for spec in TOPICS:
        assert f"p.{spec.name}" in names
        assert f"p.{spec.name}.dlq" in names


def test_default_catalogue_matches_the_product_table():
    catalogue = load_catalogue()
    assert catalogue.certificates["gas_appliance"].registry_confirmable is False
    assert catalogue.certificates["pre_job_training"].kind == "temporary"
    assert catalogue.qualifications["central_ac_installation"].required_certificates == (
        "refrigeration_ac",
        "work_at_height",
        "low_voltage_electrician",
    )
    assert catalogue.qualifications["tv_wall_mounting"].required_certificates == ()


def test_catalogue_rejects_unknown_required_certificate():
    data = load_catalogue().model_dump()
    data["qualification_types"][0]["required_certificates"] = ["no_such_certificate"]
    with pytest.raises(ValidationError, match="no_such_certificate"):
        Catalogue.model_validate(data)
