"""Use cases of providers, regions, outlets and staff accounts."""

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from bangke_contracts.identity import OutletCreated, OutletCreatedPayload, ProviderApproved, ProviderApprovedPayload
from bangke_runtime.auth import Principal
from bangke_runtime.clock import Clock
from bangke_runtime.outbox import OutboxRelay, new_document_outbox, with_outbox

from ..adapters.passwords import hash_password
from ..adapters.repository import CREDIT_CODE_INDEX, Collections, duplicated_index
from ..domain import access
from ..domain.engineers import PRODUCER
from ..domain.errors import (
    ActionNotAllowed,
    CreditCodeAlreadyRegistered,
    FieldInvalid,
    MobileAlreadyRegistered,
    OutletNameTaken,
    OutletNotFound,
    ProviderNotFound,
    ProviderNotPending,
    RegionNameTaken,
    RegionNotFound,
)
from ..domain.organisation import (
    SERVICE_TYPES,
    can_manage_provider,
    ensure_provider_approved,
    ensure_provider_pending,
    resolve_staff_scope,
)
from ..domain.validation import (
    check_account_number,
    check_credit_code,
    check_mobile,
    check_password,
    check_person_name,
    check_text,
)
from .accounts import ensure_mobile_free, insert_account, new_account_id, staff_account

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class ProviderSignup:
    service_type: str
    company_name: str
    credit_code: str
    company_address: str
    contact_name: str
    contact_mobile: str
    account_name: str
    bank: str
    account_number: str
    admin_name: str
    admin_mobile: str
    admin_password: str


@dataclass(frozen=True, slots=True)
class NewStaff:
    role: str
    name: str
    mobile: str
    password: str
    provider_id: str | None
    outlet_id: str | None
    region_id: str | None


class Organisation:
    def __init__(self, collections: Collections, relay: OutboxRelay, clock: Clock) -> None:
        self._db = collections
        self._relay = relay
        self._clock = clock

    # -- providers -----------------------------------------------------------------------------

    async def sign_up_provider(self, signup: ProviderSignup) -> tuple[dict[str, Any], dict[str, Any]]:
        """Record a provider waiting for approval and its admin account; return both documents."""
        if signup.service_type not in SERVICE_TYPES:
            raise FieldInvalid("服务类型无效，请从可选的服务类型中选择", field="service_type", allowed=sorted(SERVICE_TYPES))
        credit_code = check_credit_code(signup.credit_code)
        contact_mobile = check_mobile(signup.contact_mobile, field="contact.mobile")
        admin_mobile = check_mobile(signup.admin_mobile, field="admin.mobile")
        password = check_password(signup.admin_password, field="admin.password")
        now = self._clock.now()
        provider_id = uuid.uuid4().hex
        admin_id = new_account_id()
        provider = {
            "_id": provider_id,
            "status": "pending",
            "service_type": signup.service_type,
            "company": {
                "name": check_text(signup.company_name, field="company.name", label="公司名称"),
                "credit_code": credit_code,
                "address": check_text(signup.company_address, field="company.address", label="公司地址", max_length=200),
            },
            "credit_code": credit_code,
            "contact": {
                "name": check_person_name(signup.contact_name, field="contact.name"),
                "mobile": contact_mobile,
            },
            "settlement_account": {
                "account_name": check_text(signup.account_name, field="settlement_account.account_name", label="开户名"),
                "bank": check_text(signup.bank, field="settlement_account.bank", label="开户银行"),
                "account_number": check_account_number(signup.account_number),
            },
            "admin_account_id": admin_id,
            "submitted_at": now,
            "decision": None,
        }
        admin = staff_account(
            account_id=admin_id, role="provider_admin",
            name=check_person_name(signup.admin_name, field="admin.name"), mobile=admin_mobile,
            password_hash="", provider_id=provider_id, outlet_id=None, region_id=None, created_by="signup", now=now,
        )
        if await self._db.providers.count_documents({"credit_code": credit_code}, limit=1):
            raise CreditCodeAlreadyRegistered(field="company.credit_code")
        await ensure_mobile_free(self._db, admin_mobile, field="admin.mobile")
        admin["password_hash"] = await hash_password(password)

        # Two documents and no transaction: the provider first, then its admin. If the admin's
        # mobile was taken meanwhile, the provider is deleted again so the signup can be retried.
        try:
            await self._db.providers.insert_one(provider)
        except DuplicateKeyError as error:
            # Only the credit code is unique besides the random id; FerretDB v1 does not name the index.
            if duplicated_index(error) in (CREDIT_CODE_INDEX, ""):
                raise CreditCodeAlreadyRegistered(field="company.credit_code") from error
            raise
        try:
            await insert_account(self._db, admin, mobile_field="admin.mobile")
        except MobileAlreadyRegistered:
            await self._db.providers.delete_one({"_id": provider_id})
            raise
        log.info("providers.signed_up", provider_id=provider_id, service_type=signup.service_type)
        return provider, admin

    async def provider(self, principal: Principal, provider_id: str) -> dict[str, Any]:
        provider = await self._db.providers.find_one({"_id": provider_id})
        if provider is None or not can_manage_provider(principal, provider_id):
            raise ProviderNotFound(provider_id=provider_id)
        return provider

    async def providers(self, status: str | None, limit: int, skip: int) -> list[dict[str, Any]]:
        query = {"status": status} if status else {}
        cursor = self._db.providers.find(query).sort("submitted_at", -1).skip(skip).limit(limit)
        return [provider async for provider in cursor]

    async def approve_provider(self, operator: Principal, provider_id: str) -> dict[str, Any]:
        provider = await self.provider(operator, provider_id)
        ensure_provider_pending(provider)

        now = self._clock.now()
        event = ProviderApproved(
            producer=PRODUCER,
            payload=ProviderApprovedPayload(
                provider_id=provider_id, name=provider["company"]["name"],
                service_type=provider["service_type"], approved_at=now,
            ),
        )
        decision = {"status": "approved", "by": operator.subject, "at": now, "reason": None}
        await self._decide(provider, decision, [event])
        log.info("providers.approved", provider_id=provider_id, operator_id=operator.subject)
        return {**provider, "status": "approved", "decision": decision}

    async def reject_provider(self, operator: Principal, provider_id: str, reason: str) -> dict[str, Any]:
        reason = check_text(reason, field="reason", label="驳回原因", max_length=500)
        provider = await self.provider(operator, provider_id)
        ensure_provider_pending(provider)

        decision = {"status": "rejected", "by": operator.subject, "at": self._clock.now(), "reason": reason}
        await self._decide(provider, decision, [])
        log.info("providers.rejected", provider_id=provider_id, operator_id=operator.subject)
        return {**provider, "status": "rejected", "decision": decision}

    async def _decide(self, provider: dict[str, Any], decision: dict[str, Any], events: list[Any]) -> None:
        update = with_outbox({"$set": {"status": decision["status"], "decision": decision}}, events)
        result = await self._db.providers.update_one({"_id": provider["_id"], "status": "pending"}, update)
        if result.modified_count != 1:
            # Another operator decided between our read and our write.
            raise ProviderNotPending(provider_id=provider["_id"])
        self._relay.kick()

    # -- regions and outlets -------------------------------------------------------------------

    async def create_region(self, operator: Principal, name: str) -> dict[str, Any]:
        region = {
            "_id": uuid.uuid4().hex,
            "name": check_text(name, field="name", label="大区名称", max_length=50),
            "created_by": operator.subject,
            "created_at": self._clock.now(),
        }
        try:
            await self._db.regions.insert_one(region)
        except DuplicateKeyError as error:
            raise RegionNameTaken(field="name") from error
        log.info("regions.created", region_id=region["_id"])
        return region

    async def regions(self) -> list[dict[str, Any]]:
        return [region async for region in self._db.regions.find({}).sort("name", 1)]

    async def region(self, region_id: str, field: str = "region_id") -> dict[str, Any]:
        region = await self._db.regions.find_one({"_id": region_id})
        if region is None:
            raise RegionNotFound(field=field, region_id=region_id)
        return region

    async def create_outlet(
        self, actor: Principal, provider_id: str | None, region_id: str, name: str, address: str
    ) -> dict[str, Any]:
        provider_id = provider_id or actor.provider_id
        if not provider_id:
            raise FieldInvalid("请指定网点所属的服务商（provider_id）", field="provider_id")
        if not can_manage_provider(actor, provider_id):
            raise ActionNotAllowed("只能为本服务商创建网点", provider_id=provider_id)
        provider = await self.provider(actor, provider_id)
        ensure_provider_approved(provider)
        region = await self.region(region_id)

        outlet_id = uuid.uuid4().hex
        outlet_name = check_text(name, field="name", label="网点名称", max_length=50)
        event = OutletCreated(
            producer=PRODUCER,
            payload=OutletCreatedPayload(
                outlet_id=outlet_id, region_id=region["_id"], provider_id=provider_id, name=outlet_name
            ),
        )
        outlet = {
            "_id": outlet_id,
            "provider_id": provider_id,
            "region_id": region["_id"],
            "name": outlet_name,
            "address": check_text(address, field="address", label="网点地址", max_length=200),
            "created_by": actor.subject,
            "created_at": self._clock.now(),
        }
        try:
            await self._db.outlets.insert_one({**outlet, **new_document_outbox([event])})
        except DuplicateKeyError as error:
            raise OutletNameTaken(field="name") from error
        self._relay.kick()
        log.info("outlets.created", outlet_id=outlet_id, provider_id=provider_id, region_id=region["_id"])
        return outlet

    async def outlets(self, principal: Principal, filters: dict[str, str]) -> list[dict[str, Any]]:
        query: dict[str, Any] = dict(filters)
        for field, value in access.outlet_filter(principal).items():
            if field in query and query[field] != value:
                return []
            query[field] = value
        return [outlet async for outlet in self._db.outlets.find(query, {"outbox": 0}).sort("name", 1)]

    async def outlet(self, principal: Principal | None, outlet_id: str, field: str = "outlet_id") -> dict[str, Any]:
        """Load an outlet; with a principal, raise OutletNotFound (404) when it is outside their scope."""
        outlet = await self._db.outlets.find_one({"_id": outlet_id}, {"outbox": 0})
        if outlet is None or (principal is not None and not access.matches(outlet, access.outlet_filter(principal))):
            raise OutletNotFound(field=field, outlet_id=outlet_id)
        return outlet

    # -- staff ---------------------------------------------------------------------------------

    async def create_staff(self, actor: Principal, staff: NewStaff) -> dict[str, Any]:
        mobile = check_mobile(staff.mobile)
        password = check_password(staff.password)
        name = check_person_name(staff.name)
        provider = await self._staff_provider(actor, staff.provider_id)
        outlet = await self.outlet(actor, staff.outlet_id) if staff.outlet_id else None
        region = await self.region(staff.region_id) if staff.region_id else None
        scope = resolve_staff_scope(actor, staff.role, provider=provider, outlet=outlet, region=region)
        if scope.provider_id is not None:
            ensure_provider_approved(provider or await self.provider(actor, scope.provider_id))
        await ensure_mobile_free(self._db, mobile)

        account = staff_account(
            account_id=new_account_id(), role=staff.role, name=name, mobile=mobile,
            password_hash=await hash_password(password), provider_id=scope.provider_id,
            outlet_id=scope.outlet_id, region_id=scope.region_id, created_by=actor.subject, now=self._clock.now(),
        )
        await insert_account(self._db, account)
        log.info("staff.created", account_id=account["_id"], role=staff.role, created_by=actor.subject)
        return account

    async def _staff_provider(self, actor: Principal, provider_id: str | None) -> dict[str, Any] | None:
        if provider_id is None and actor.role == "provider_admin":
            provider_id = actor.provider_id
        if provider_id is None:
            return None
        provider = await self._db.providers.find_one({"_id": provider_id})
        if provider is None or not can_manage_provider(actor, provider_id):
            raise ProviderNotFound(field="provider_id", provider_id=provider_id)
        return provider

    async def staff(self, principal: Principal, role: str | None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"role": role} if role else {"role": {"$ne": "engineer"}}
        if role == "engineer":
            return []
        query.update(access.person_filter(principal))
        return [account async for account in self._db.accounts.find(query, {"outbox": 0}).sort("created_at", 1)]
