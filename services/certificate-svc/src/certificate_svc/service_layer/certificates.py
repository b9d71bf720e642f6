"""Engineer use cases: drafts, photos, submission, withdrawal, renewal and correction.

Every use case loads the certificate only if the caller owns it, so another engineer's certificate
is reported as not found.
"""

from typing import Any
from uuid import uuid4

import structlog

from bangke_runtime.storage import PresignedUpload

from ..domain.errors import CertificateNotFound
from ..domain.model import Certificate, Photo
from ..domain.validation import Details
from .dependencies import Dependencies

log = structlog.get_logger()


async def load_owned(deps: Dependencies, engineer_id: str, certificate_id: str) -> Certificate:
    certificate = await deps.certificates.get(certificate_id)
    if certificate is None or certificate.engineer_id != engineer_id:
        raise CertificateNotFound(certificate_id=certificate_id)
    return certificate


async def list_own(deps: Dependencies, engineer_id: str) -> list[Certificate]:
    return await deps.certificates.list_for_engineer(engineer_id)


async def create_draft(deps: Dependencies, engineer_id: str, certificate_type: str, details: Details) -> Certificate:
    catalogue_entry = deps.certificate_type(certificate_type)
    engineer = await deps.engineer(engineer_id)
    now = deps.clock.now()

    certificate = Certificate.start(uuid4().hex, engineer, catalogue_entry, details, now)

    await deps.certificates.add(certificate)
    log.info("certificate.draft_created", certificate_id=certificate.certificate_id, engineer_id=engineer_id,
             certificate_type=certificate.certificate_type)
    return certificate


async def update_draft(deps: Dependencies, engineer_id: str, certificate_id: str, changes: dict[str, Any]) -> Certificate:
    certificate = await load_owned(deps, engineer_id, certificate_id)
    engineer = await deps.engineer(engineer_id)
    now = deps.clock.now()

    certificate.update_draft(changes, deps.certificate_type(certificate.certificate_type), engineer, now)

    await deps.store(certificate, now)
    return certificate


async def request_photo_upload(deps: Dependencies, engineer_id: str, certificate_id: str, side: str) -> PresignedUpload:
    certificate = await load_owned(deps, engineer_id, certificate_id)
    # Only a draft takes photos; refusing here already saves the phone a pointless upload.
    draft = certificate.require_draft()
    return await deps.photos.presign(engineer_id, certificate_id, draft.version, side)


async def attach_photo(deps: Dependencies, engineer_id: str, certificate_id: str, side: str, key: str) -> Certificate:
    certificate = await load_owned(deps, engineer_id, certificate_id)
    version = certificate.require_draft().version
    uploaded = await deps.photos.inspect(engineer_id, certificate_id, version, side, key)
    now = deps.clock.now()

    certificate.attach_photo(side, Photo(key=uploaded.key, size=uploaded.size, media_type=uploaded.media_type, attached_at=now))

    await deps.store(certificate, now)
    log.info("certificate.photo_attached", certificate_id=certificate_id, version=version, side=side,
             size=uploaded.size, media_type=uploaded.media_type)
    return certificate


async def submit(deps: Dependencies, engineer_id: str, certificate_id: str) -> Certificate:
    certificate = await load_owned(deps, engineer_id, certificate_id)
    engineer = await deps.engineer(engineer_id)
    number = certificate.latest.details.number
    held_by = await deps.certificates.engineers_holding_number(certificate.certificate_type, number, engineer_id)
    now = deps.clock.now()

    certificate.submit(deps.certificate_type(certificate.certificate_type), engineer, held_by, now)

    await deps.store(certificate, now)
    log.info("certificate.submitted", certificate_id=certificate_id, version=certificate.latest.version,
             renewal=certificate.latest.renewal, number_held_by_count=len(held_by))
    return certificate


async def withdraw(deps: Dependencies, engineer_id: str, certificate_id: str) -> Certificate:
    certificate = await load_owned(deps, engineer_id, certificate_id)
    now = deps.clock.now()

    certificate.withdraw(now)

    await deps.store(certificate, now)
    log.info("certificate.withdrawn", certificate_id=certificate_id, version=certificate.latest.version)
    return certificate


async def start_renewal(deps: Dependencies, engineer_id: str, certificate_id: str, changes: dict[str, Any]) -> Certificate:
    certificate = await load_owned(deps, engineer_id, certificate_id)
    engineer = await deps.engineer(engineer_id)
    now = deps.clock.now()
    base = certificate.effective or certificate.latest
    details = Details(**{**_details_fields(base.details), **changes})

    certificate.start_renewal(details, deps.certificate_type(certificate.certificate_type), engineer, now)

    await deps.store(certificate, now)
    log.info("certificate.renewal_started", certificate_id=certificate_id, version=certificate.latest.version)
    return certificate


async def start_correction(deps: Dependencies, engineer_id: str, certificate_id: str, changes: dict[str, Any]) -> Certificate:
    certificate = await load_owned(deps, engineer_id, certificate_id)
    engineer = await deps.engineer(engineer_id)
    now = deps.clock.now()

    certificate.start_correction(changes, deps.certificate_type(certificate.certificate_type), engineer, now)

    await deps.store(certificate, now)
    log.info("certificate.correction_started", certificate_id=certificate_id, version=certificate.latest.version,
             corrects_version=certificate.latest.corrects_version)
    return certificate


def _details_fields(details: Details) -> dict[str, Any]:
    return {
        "number": details.number,
        "holder_name": details.holder_name,
        "holder_id_number": details.holder_id_number,
        "issued_on": details.issued_on,
        "expires_on": details.expires_on,
    }
