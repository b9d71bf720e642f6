"""Routes under ``/api/identity``: providers, regions, outlets, staff, engineers, the caller, keys."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from bangke_runtime.auth import CurrentPrincipal, Principal, require_roles

from ..adapters.keys import KeyStore
from ..adapters.repository import Collections
from ..domain.errors import AccountNotFound
from ..domain.organisation import SERVICE_TYPES
from ..service_layer.engineers import EngineerRegistration, Engineers
from ..service_layer.organisation import NewStaff, Organisation, ProviderSignup
from .schemas import (
    EngineerRequest,
    KeyView,
    OutletRequest,
    ProviderSignupRequest,
    RegionRequest,
    RejectRequest,
    StaffRequest,
    account_view,
    outlet_view,
    provider_view,
    region_view,
)

Limit = Annotated[int, Query(ge=1, le=200)]
Skip = Annotated[int, Query(ge=0)]


def organisation_router(organisation: Organisation) -> APIRouter:
    router = APIRouter(tags=["organisation"])
    operator = require_roles("operator")
    managers = require_roles("operator", "provider_admin")

    @router.get("/service-types", summary="Service types a provider can sign up with")
    async def service_types() -> list[dict[str, str]]:
        return [{"code": code, "label": label} for code, label in SERVICE_TYPES.items()]

    @router.post("/providers", status_code=201, summary="Sign up a service provider (public)")
    async def sign_up(body: ProviderSignupRequest) -> dict[str, Any]:
        provider, admin = await organisation.sign_up_provider(
            ProviderSignup(
                service_type=body.service_type, company_name=body.company.name,
                credit_code=body.company.credit_code, company_address=body.company.address,
                contact_name=body.contact.name, contact_mobile=body.contact.mobile,
                account_name=body.settlement_account.account_name, bank=body.settlement_account.bank,
                account_number=body.settlement_account.account_number, admin_name=body.admin.name,
                admin_mobile=body.admin.mobile, admin_password=body.admin.password,
            )
        )
        return {**provider_view(provider), "admin_account_id": admin["_id"]}

    @router.get("/providers", summary="List providers (operator)")
    async def list_providers(
        _principal: Principal = operator, status: str | None = None, limit: Limit = 50, skip: Skip = 0
    ) -> list[dict[str, Any]]:
        return [provider_view(p) for p in await organisation.providers(status, limit, skip)]

    @router.get("/providers/{provider_id}", summary="One provider (operator or its admins)")
    async def get_provider(provider_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
        return provider_view(await organisation.provider(principal, provider_id))

    @router.post("/providers/{provider_id}/approve", summary="Approve a provider (operator)")
    async def approve(provider_id: str, principal: Principal = operator) -> dict[str, Any]:
        return provider_view(await organisation.approve_provider(principal, provider_id))

    @router.post("/providers/{provider_id}/reject", summary="Reject a provider with a reason (operator)")
    async def reject(provider_id: str, body: RejectRequest, principal: Principal = operator) -> dict[str, Any]:
        return provider_view(await organisation.reject_provider(principal, provider_id, body.reason))

    @router.post("/regions", status_code=201, summary="Create a region (operator)")
    async def create_region(body: RegionRequest, principal: Principal = operator) -> dict[str, Any]:
        return region_view(await organisation.create_region(principal, body.name))

    @router.get("/regions", summary="List regions")
    async def list_regions(_principal: CurrentPrincipal) -> list[dict[str, Any]]:
        return [region_view(r) for r in await organisation.regions()]

    @router.post("/outlets", status_code=201, summary="Create an outlet (operator or provider admin)")
    async def create_outlet(body: OutletRequest, principal: Principal = managers) -> dict[str, Any]:
        outlet = await organisation.create_outlet(principal, body.provider_id, body.region_id, body.name, body.address)
        return outlet_view(outlet)

    @router.get("/outlets", summary="List the outlets within the caller's scope")
    async def list_outlets(
        principal: CurrentPrincipal, provider_id: str | None = None, region_id: str | None = None
    ) -> list[dict[str, Any]]:
        filters = {k: v for k, v in {"provider_id": provider_id, "region_id": region_id}.items() if v}
        return [outlet_view(o) for o in await organisation.outlets(principal, filters)]

    @router.get("/outlets/{outlet_id}", summary="One outlet within the caller's scope")
    async def get_outlet(outlet_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
        return outlet_view(await organisation.outlet(principal, outlet_id))

    @router.post("/staff", status_code=201, summary="Create a manager, dispatcher, provider admin or operator account")
    async def create_staff(body: StaffRequest, principal: Principal = managers) -> dict[str, Any]:
        account = await organisation.create_staff(
            principal,
            NewStaff(
                role=body.role, name=body.name, mobile=body.mobile, password=body.password,
                provider_id=body.provider_id, outlet_id=body.outlet_id, region_id=body.region_id,
            ),
        )
        return account_view(principal, account)

    @router.get("/staff", summary="List staff accounts within the caller's scope (operator or provider admin)")
    async def list_staff(principal: Principal = managers, role: str | None = None) -> list[dict[str, Any]]:
        return [account_view(principal, a) for a in await organisation.staff(principal, role)]

    return router


def engineers_router(engineers: Engineers, collections: Collections) -> APIRouter:
    router = APIRouter(tags=["engineers"])
    registrars = require_roles("operator", "provider_admin")

    @router.post("/engineers", status_code=201, summary="Register an engineer (provider admin or operator)")
    async def register(body: EngineerRequest, principal: Principal = registrars) -> dict[str, Any]:
        engineer = await engineers.register(_registration(body), principal)
        return account_view(principal, engineer)

    @router.post("/engineers/self-registration", status_code=201, summary="Engineers register themselves (public)")
    async def register_self(body: EngineerRequest) -> dict[str, Any]:
        engineer = await engineers.register(_registration(body), None)
        own = Principal(subject=engineer["_id"], role="engineer")
        return account_view(own, engineer)

    @router.get("/engineers", summary="List the engineers within the caller's scope")
    async def list_engineers(
        principal: CurrentPrincipal,
        outlet_id: str | None = None,
        region_id: str | None = None,
        provider_id: str | None = None,
        limit: Limit = 50,
        skip: Skip = 0,
    ) -> list[dict[str, Any]]:
        scope = {"outlet_id": outlet_id, "region_id": region_id, "provider_id": provider_id}
        filters = {field: value for field, value in scope.items() if value}
        return [account_view(principal, e) for e in await engineers.list(principal, filters, limit, skip)]

    @router.get("/engineers/{engineer_id}", summary="One engineer within the caller's scope")
    async def get_engineer(engineer_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
        return account_view(principal, await engineers.get(principal, engineer_id))

    @router.post("/engineers/{engineer_id}/authentication", summary="Run the real-name check again")
    async def authenticate(engineer_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
        return account_view(principal, await engineers.authenticate(principal, engineer_id))

    @router.get("/me", summary="The caller's own account")
    async def me(principal: CurrentPrincipal) -> dict[str, Any]:
        account = await collections.accounts.find_one({"_id": principal.subject}, {"outbox": 0})
        if account is None:
            raise AccountNotFound(account_id=principal.subject)
        return account_view(principal, account)

    return router


def _registration(body: EngineerRequest) -> EngineerRegistration:
    return EngineerRegistration(
        name=body.name, id_number=body.id_number, mobile=body.mobile, outlet_id=body.outlet_id, password=body.password
    )


def keys_router(keys: KeyStore) -> APIRouter:
    router = APIRouter(prefix="/keys", tags=["keys"])
    operator = require_roles("operator")

    def views() -> list[KeyView]:
        signer = keys.signer().kid
        return [
            KeyView(
                kid=state.key.kid, created_at=state.key.created_at, signs_from=state.activates_at,
                retired_at=state.retired_at, published_until=state.published_until, signer=state.key.kid == signer,
            )
            for state in keys.states()
        ]

    @router.get("", summary="Signing keys and their life cycle (operator)")
    async def list_keys(_principal: Principal = operator) -> list[KeyView]:
        await keys.refresh()
        return views()

    @router.post("/rotate", status_code=201, summary="Add a signing key; it signs after the activation delay (operator)")
    async def rotate(_principal: Principal = operator) -> KeyView:
        state = await asyncio.to_thread(keys.rotate)
        return next(view for view in views() if view.kid == state.key.kid)

    return router
