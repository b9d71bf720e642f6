"""Request and response bodies of the HTTP API, and the views that mask personal data."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bangke_runtime.auth import Principal

from ..domain import access
from ..domain.organisation import SERVICE_TYPES
from ..domain.validation import mask_account_number


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200)


# -- tokens ------------------------------------------------------------------------------------


class TokenRequest(Body):
    grant_type: Literal["password", "refresh_token"] = Field(
        "password", description="`password` signs in with mobile and password; `refresh_token` renews a session."
    )
    mobile: str | None = Field(None, examples=["13800138000"])
    password: str | None = Field(None, max_length=128)
    refresh_token: str | None = None


class RevokeRequest(Body):
    refresh_token: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires unless it is used first.")
    account_id: str
    role: str


class KeyView(BaseModel):
    kid: str
    created_at: datetime
    signs_from: datetime
    retired_at: datetime | None
    published_until: datetime | None
    signer: bool


# -- providers ---------------------------------------------------------------------------------


class CompanyIn(Body):
    name: str = Field(examples=["杭州安家电器服务有限公司"])
    credit_code: str = Field(description="Unified social credit code, 18 characters.", examples=["91350100M000100Y43"])
    address: str = Field(examples=["浙江省杭州市西湖区文三路 100 号"])


class ContactIn(Body):
    name: str = Field(examples=["李娜"])
    mobile: str = Field(examples=["13900139000"])


class SettlementAccountIn(Body):
    account_name: str = Field(examples=["杭州安家电器服务有限公司"])
    bank: str = Field(examples=["中国工商银行杭州文三路支行"])
    account_number: str = Field(examples=["6222021202001234567"])


class AdminIn(Body):
    name: str = Field(examples=["王强"])
    mobile: str = Field(examples=["13700137000"])
    password: str = Field(max_length=128)


class ProviderSignupRequest(Body):
    service_type: str = Field(examples=["installation_maintenance"], description="One of GET /service-types.")
    company: CompanyIn
    contact: ContactIn
    settlement_account: SettlementAccountIn
    admin: AdminIn


class RejectRequest(Body):
    reason: str = Field(max_length=500, examples=["营业执照信息与统一社会信用代码不一致"])


def provider_view(provider: dict[str, Any]) -> dict[str, Any]:
    """Return the provider as the operator and its admins see it; the account number is always masked."""
    settlement = provider["settlement_account"]
    return {
        "id": provider["_id"],
        "status": provider["status"],
        "service_type": provider["service_type"],
        "service_type_label": SERVICE_TYPES.get(provider["service_type"], provider["service_type"]),
        "company": provider["company"],
        "contact": provider["contact"],
        "settlement_account": {
            "account_name": settlement["account_name"],
            "bank": settlement["bank"],
            "account_number": mask_account_number(settlement["account_number"]),
        },
        "admin_account_id": provider["admin_account_id"],
        "submitted_at": provider["submitted_at"],
        "decision": provider.get("decision"),
    }


# -- regions, outlets, staff -------------------------------------------------------------------


class RegionRequest(Body):
    name: str = Field(examples=["华东大区"])


class OutletRequest(Body):
    provider_id: str | None = Field(None, description="Required for operators; provider admins create outlets of their own provider.")
    region_id: str
    name: str = Field(examples=["西湖网点"])
    address: str = Field(examples=["浙江省杭州市西湖区古墩路 88 号"])


class StaffRequest(Body):
    role: Literal["outlet_manager", "training_manager", "dispatcher", "provider_admin", "operator"]
    name: str
    mobile: str
    password: str = Field(max_length=128)
    provider_id: str | None = None
    outlet_id: str | None = None
    region_id: str | None = None


def region_view(region: dict[str, Any]) -> dict[str, Any]:
    return {"id": region["_id"], "name": region["name"], "created_at": region["created_at"]}


def outlet_view(outlet: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": outlet["_id"],
        "provider_id": outlet["provider_id"],
        "region_id": outlet["region_id"],
        "name": outlet["name"],
        "address": outlet["address"],
        "created_at": outlet["created_at"],
    }


def account_view(principal: Principal, account: dict[str, Any]) -> dict[str, Any]:
    """Return an account as ``principal`` may see it: mobile and ID number masked unless allowed."""
    view = {
        "id": account["_id"],
        "role": account["role"],
        "status": account["status"],
        "name": account["name"],
        "mobile": access.shown_mobile(principal, account),
        "provider_id": account.get("provider_id"),
        "outlet_id": account.get("outlet_id"),
        "region_id": account.get("region_id"),
        "created_at": account["created_at"],
    }
    if account["role"] == "engineer":
        view["id_number"] = access.shown_id_number(principal, account, account["id_number"])
        view["authentication"] = account.get("authentication")
        view["authenticated"] = (account.get("authentication") or {}).get("status") == "authenticated"
    return view


# -- engineers ---------------------------------------------------------------------------------


class EngineerRequest(Body):
    name: str = Field(examples=["张伟"])
    id_number: str = Field(description="18-character resident ID number.", examples=["110101199003074518"])
    mobile: str = Field(examples=["13800138000"])
    outlet_id: str
    password: str = Field(max_length=128)
