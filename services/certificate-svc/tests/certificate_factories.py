"""Test data: made-up engineers whose ID numbers pass the check-character rule."""

from datetime import UTC, date, datetime

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.personal_data import id_number_digest, make_id_number

from certificate_svc.domain.model import Certificate, Photo
from certificate_svc.domain.validation import Details, EngineerIdentity

CATALOGUE = load_catalogue()
ELECTRICIAN = CATALOGUE.certificates["low_voltage_electrician"]
TRAINING = CATALOGUE.certificates["pre_job_training"]
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
"""10:00 on 2026-03-10 in China."""

ID_NUMBER = make_id_number("110101", date(1990, 3, 7), 451)
OTHER_ID_NUMBER = make_id_number("310104", date(1988, 11, 2), 123)


def engineer(engineer_id: str = "eng-1", id_number: str = ID_NUMBER, name: str = "张伟") -> EngineerIdentity:
    return EngineerIdentity(
        engineer_id=engineer_id, provider_id="prov-1", outlet_id="outlet-1", region_id="region-1",
        name=name, id_number_sha256=id_number_digest(id_number),
    )


def details(**changes: object) -> Details:
    values: dict[str, object] = {
        "number": "T" + ID_NUMBER,
        "holder_name": "张伟",
        "holder_id_number": ID_NUMBER,
        "issued_on": date(2024, 7, 1),
        "expires_on": date(2030, 6, 30),
    }
    values.update(changes)
    return Details(**values)  # type: ignore[arg-type]


def photo(side: str, version: int = 1) -> Photo:
    return Photo(key=f"eng-1/cert-1/v{version}/{side}-abc", size=2048, media_type="image/jpeg", attached_at=NOW)


def draft(**changes: object) -> Certificate:
    return Certificate.start("cert-1", engineer(), ELECTRICIAN, details(**changes), NOW)


def submitted(**changes: object) -> Certificate:
    certificate = draft(**changes)
    certificate.attach_photo("front", photo("front"))
    certificate.attach_photo("back", photo("back"))
    certificate.submit(ELECTRICIAN, engineer(), [], NOW)
    certificate.events.clear()
    return certificate


def in_effect(**changes: object) -> Certificate:
    certificate = submitted(**changes)
    certificate.complete_review(1, True, None, "outlet_manager", "review-1", NOW)
    certificate.events.clear()
    return certificate
