"""Use cases of engineers: registration with real-name authentication, reading, re-authentication."""

from dataclasses import dataclass
from typing import Any

import structlog

from bangke_runtime.auth import Principal
from bangke_runtime.clock import Clock
from bangke_runtime.outbox import OutboxRelay, new_document_outbox, with_outbox

from ..adapters.passwords import hash_password
from ..adapters.realname import RealNameVerifier
from ..adapters.repository import Collections
from ..domain import access
from ..domain.engineers import (
    NewEngineer,
    authenticated_event,
    authentication_record,
    id_number_key,
    is_authenticated,
    register_engineer,
)
from ..domain.errors import ActionNotAllowed, EngineerNotFound, IdNumberAlreadyRegistered, ProviderNotFound
from ..domain.organisation import can_manage_provider, ensure_provider_approved
from ..domain.validation import check_engineer_age, check_id_number, check_mobile, check_password, check_person_name
from .accounts import ensure_mobile_free, insert_account, new_account_id
from .organisation import Organisation

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class EngineerRegistration:
    name: str
    id_number: str
    mobile: str
    outlet_id: str
    password: str


class Engineers:
    def __init__(
        self,
        collections: Collections,
        organisation: Organisation,
        realname: RealNameVerifier,
        relay: OutboxRelay,
        clock: Clock,
    ) -> None:
        self._db = collections
        self._organisation = organisation
        self._realname = realname
        self._relay = relay
        self._clock = clock

    async def register(self, registration: EngineerRegistration, actor: Principal | None) -> dict[str, Any]:
        """Register an engineer; ``actor`` is the provider admin or operator, or None when they register themself."""
        today = self._clock.today_in_china()
        name = check_person_name(registration.name)
        id_number = check_id_number(registration.id_number, today=today)
        check_engineer_age(id_number, today=today)
        mobile = check_mobile(registration.mobile)
        password = check_password(registration.password)

        outlet = await self._organisation.outlet(None, registration.outlet_id)
        if actor is not None and not can_manage_provider(actor, outlet["provider_id"]):
            raise ActionNotAllowed("只能为本服务商的网点注册工程师", outlet_id=registration.outlet_id)
        provider = await self._db.providers.find_one({"_id": outlet["provider_id"]})
        if provider is None:
            raise ProviderNotFound(provider_id=outlet["provider_id"])
        ensure_provider_approved(provider)
        await ensure_mobile_free(self._db, mobile)
        if await self._db.accounts.count_documents({"id_number_key": id_number_key(id_number)}, limit=1):
            raise IdNumberAlreadyRegistered(field="id_number")

        result = await self._realname.verify(name, id_number)
        engineer = NewEngineer(
            engineer_id=new_account_id(), name=name, id_number=id_number, mobile=mobile,
            password_hash=await hash_password(password), provider_id=outlet["provider_id"],
            outlet_id=outlet["_id"], region_id=outlet["region_id"],
            registered_by=actor.subject if actor is not None else "self",
        )
        document, events = register_engineer(engineer, result, self._clock.now())
        await insert_account(self._db, {**document, **new_document_outbox(events)})
        self._relay.kick()
        log.info(
            "engineers.registered", engineer_id=engineer.engineer_id, outlet_id=outlet["_id"],
            authentication=document["authentication"]["status"], method=result.method,
        )
        return document

    async def get(self, principal: Principal, engineer_id: str) -> dict[str, Any]:
        """Load an engineer within ``principal``'s scope; others get 404 so ids are not confirmed."""
        query = {"_id": engineer_id, "role": "engineer"}
        engineer = await self._db.accounts.find_one(query, {"outbox": 0})
        if engineer is None or not access.matches(engineer, access.person_filter(principal)):
            raise EngineerNotFound(engineer_id=engineer_id)
        return engineer

    async def list(self, principal: Principal, filters: dict[str, str], limit: int, skip: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {**filters, "role": "engineer"}
        for field, value in access.person_filter(principal).items():
            if field in query and query[field] != value:
                return []
            query[field] = value
        cursor = self._db.accounts.find(query, {"outbox": 0}).sort("created_at", 1).skip(skip).limit(limit)
        return [engineer async for engineer in cursor]

    async def authenticate(self, principal: Principal, engineer_id: str) -> dict[str, Any]:
        """Run the real-name check again for an engineer whose earlier check failed."""
        engineer = await self.get(principal, engineer_id)
        if principal.role not in ("engineer", "provider_admin", "operator"):
            raise ActionNotAllowed("只有工程师本人、服务商管理员或平台运营人员可以发起实名认证", engineer_id=engineer_id)
        if is_authenticated(engineer):
            return engineer

        result = await self._realname.verify(engineer["name"], engineer["id_number"])
        now = self._clock.now()
        record = authentication_record(result, now)
        events = [authenticated_event(engineer_id, result, now)] if result.verified else []
        await self._db.accounts.update_one(
            {"_id": engineer_id, "authentication.status": {"$ne": "authenticated"}},
            with_outbox({"$set": {"authentication": record}}, events),
        )
        self._relay.kick()
        log.info("engineers.authentication_checked", engineer_id=engineer_id, status=record["status"], method=result.method)
        return {**engineer, "authentication": record}
