"""Engineers: registration with real-name authentication, and the events other services learn it from.

An engineer is an account with the role ``engineer`` whose id is also the engineer id. Registering
records the person and, when the real-name check passes, their authentication, both in the one
inserted document together with the events EngineerRegistered and EngineerAuthenticated. Other
services refuse qualification applications and orders to engineers they have not seen authenticated.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from bangke_contracts.identity import (
    EngineerAuthenticated,
    EngineerAuthenticatedPayload,
    EngineerRegistered,
    EngineerRegisteredPayload,
)
from bangke_runtime.personal_data import id_number_digest

PRODUCER = "identity-svc"

AuthenticationStatus = Literal["authenticated", "failed"]


@dataclass(frozen=True, slots=True)
class RealNameResult:
    """Outcome of a real-name check: whether it passed, which adapter ran it, and a note for people."""

    verified: bool
    method: str
    note: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class NewEngineer:
    engineer_id: str
    name: str
    id_number: str
    mobile: str
    password_hash: str
    provider_id: str
    outlet_id: str
    region_id: str
    registered_by: str
    """Account id of the provider admin or operator who registered the engineer, or ``self``."""


def id_number_key(id_number: str) -> str:
    """Return the value of the unique index that keeps one ID number to one engineer."""
    return id_number_digest(id_number)


def authentication_record(result: RealNameResult, now: datetime) -> dict[str, Any]:
    return {
        "status": "authenticated" if result.verified else "failed",
        "method": result.method,
        "note": result.note,
        "reason": result.reason,
        "at": now,
    }


def authenticated_event(
    engineer_id: str, result: RealNameResult, now: datetime, correlation_id: UUID | None = None
) -> EngineerAuthenticated:
    return EngineerAuthenticated(
        producer=PRODUCER,
        correlation_id=correlation_id or uuid4(),
        payload=EngineerAuthenticatedPayload(engineer_id=engineer_id, method=result.method, authenticated_at=now),
    )


def register_engineer(
    engineer: NewEngineer, result: RealNameResult, now: datetime
) -> tuple[dict[str, Any], list[EngineerRegistered | EngineerAuthenticated]]:
    """Return the engineer's account document and the events its insert publishes."""
    digest = id_number_digest(engineer.id_number)
    registered = EngineerRegistered(
        producer=PRODUCER,
        payload=EngineerRegisteredPayload(
            engineer_id=engineer.engineer_id,
            provider_id=engineer.provider_id,
            outlet_id=engineer.outlet_id,
            region_id=engineer.region_id,
            name=engineer.name,
            id_number_sha256=digest,
            registered_at=now,
        ),
    )
    events: list[EngineerRegistered | EngineerAuthenticated] = [registered]
    if result.verified:
        events.append(authenticated_event(engineer.engineer_id, result, now, registered.correlation_id))
    document = {
        "_id": engineer.engineer_id,
        "role": "engineer",
        "status": "active",
        "name": engineer.name,
        "mobile": engineer.mobile,
        "password_hash": engineer.password_hash,
        "provider_id": engineer.provider_id,
        "outlet_id": engineer.outlet_id,
        "region_id": engineer.region_id,
        "id_number_key": digest,
        # TODO: encrypt the ID number at rest with a key outside the database; it is stored in clear today.
        "id_number": engineer.id_number,
        "authentication": authentication_record(result, now),
        "registered_by": engineer.registered_by,
        "created_at": now,
    }
    return document, events


def is_authenticated(engineer: dict[str, Any]) -> bool:
    return (engineer.get("authentication") or {}).get("status") == "authenticated"
