"""Mapping between the certificate aggregate and its MongoDB document.

Calendar dates are stored as ISO strings (``YYYY-MM-DD``) because BSON has no date-only type, and
such strings sort and compare correctly. Instants are stored as UTC datetimes. Besides the versions,
the document carries fields derived for queries: the overall status, the version in effect and its
expiry date, and the certificate numbers its versions hold.
"""

from datetime import date
from typing import Any

from ..domain.model import Certificate, Decision, Photo, Version, VersionStatus
from ..domain.validation import Details


def _day(value: str) -> date:
    return date.fromisoformat(value)


def details_to_document(details: Details) -> dict[str, Any]:
    return {
        "number": details.number,
        "holder_name": details.holder_name,
        "holder_id_number": details.holder_id_number,
        "issued_on": details.issued_on.isoformat(),
        "expires_on": details.expires_on.isoformat(),
    }


def details_from_document(document: dict[str, Any]) -> Details:
    return Details(
        number=document["number"],
        holder_name=document["holder_name"],
        holder_id_number=document["holder_id_number"],
        issued_on=_day(document["issued_on"]),
        expires_on=_day(document["expires_on"]),
    )


def _photo_to_document(photo: Photo) -> dict[str, Any]:
    return {"key": photo.key, "size": photo.size, "media_type": photo.media_type, "attached_at": photo.attached_at}


def _decision_to_document(decision: Decision) -> dict[str, Any]:
    return {
        "review_id": decision.review_id,
        "step": decision.step,
        "outcome": decision.outcome,
        "actor_id": decision.actor_id,
        "actor_role": decision.actor_role,
        "reason": decision.reason,
        "differences": list(decision.differences),
        "decided_at": decision.decided_at,
    }


_VERSION_SCALARS = (
    "renewal", "corrects_version", "submitted_at", "number_held_by", "review_id", "took_effect_at",
    "replaces_version", "rejection_reason", "rejected_by_role", "rejected_at", "withdrawn_at", "superseded_by",
    "superseded_at", "expired_at", "revoked_at", "revocation_reason",
)


def _version_to_document(version: Version) -> dict[str, Any]:
    document: dict[str, Any] = {
        "version": version.version,
        "status": version.status.value,
        "details": details_to_document(version.details),
        "created_at": version.created_at,
        "photos": {side: _photo_to_document(photo) for side, photo in version.photos.items()},
        "decisions": [_decision_to_document(decision) for decision in version.decisions],
    }
    for name in _VERSION_SCALARS:
        document[name] = getattr(version, name)
    return document


def _version_from_document(document: dict[str, Any]) -> Version:
    return Version(
        version=document["version"],
        status=VersionStatus(document["status"]),
        details=details_from_document(document["details"]),
        created_at=document["created_at"],
        photos={side: Photo(**photo) for side, photo in document.get("photos", {}).items()},
        decisions=[
            Decision(**{**decision, "differences": tuple(decision.get("differences", ()))})
            for decision in document.get("decisions", [])
        ],
        **{name: document.get(name) for name in _VERSION_SCALARS if name in document},
    )


def certificate_state(certificate: Certificate) -> dict[str, Any]:
    """Return every field the aggregate owns: what a save sets, leaving outbox and processed ids alone."""
    effective = certificate.effective
    return {
        "engineer_id": certificate.engineer_id,
        "certificate_type": certificate.certificate_type,
        "outlet_id": certificate.outlet_id,
        "region_id": certificate.region_id,
        "created_at": certificate.created_at,
        "versions": [_version_to_document(version) for version in certificate.versions],
        "status": certificate.status.value,
        "latest_version": certificate.latest.version,
        "effective_version": effective.version if effective is not None else None,
        "effective_expires_on": effective.details.expires_on.isoformat() if effective is not None else None,
        "held_numbers": certificate.held_numbers,
    }


def certificate_from_document(document: dict[str, Any]) -> Certificate:
    return Certificate(
        certificate_id=document["_id"],
        engineer_id=document["engineer_id"],
        certificate_type=document["certificate_type"],
        outlet_id=document["outlet_id"],
        region_id=document["region_id"],
        created_at=document["created_at"],
        versions=[_version_from_document(version) for version in document["versions"]],
        revision=document.get("revision", 0),
    )
