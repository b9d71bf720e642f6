"""Providers, regions, outlets and the staff who manage them: states and who may create what.

A provider signs up and waits for an operator's approval; only an approved provider gets outlets,
staff and engineers. Outlets belong to one provider and one region. Staff scopes:
outlet manager (one outlet), training manager (one region, across providers), dispatcher (one provider
and either one of its outlets or one region), provider admin (one provider), operator (everything).
"""

from dataclasses import dataclass
from typing import Any, Literal

from bangke_runtime.auth import Principal

from .errors import ActionNotAllowed, ProviderNotApproved, ProviderNotPending, StaffScopeInvalid

SERVICE_TYPES: dict[str, str] = {
    "installation_maintenance": "安维服务商",
    "installation": "安装服务商",
    "repair": "维修服务商",
    "delivery_installation": "送装一体服务商",
}
"""Service types a provider can sign up with: code and Chinese label."""

ProviderStatus = Literal["pending", "approved", "rejected"]
StaffRole = Literal["outlet_manager", "training_manager", "dispatcher", "provider_admin", "operator"]
STAFF_ROLES: tuple[str, ...] = ("outlet_manager", "training_manager", "dispatcher", "provider_admin", "operator")


def ensure_provider_pending(provider: dict[str, Any]) -> None:
    if provider["status"] != "pending":
        raise ProviderNotPending(provider_id=provider["_id"], status=provider["status"])


def ensure_provider_approved(provider: dict[str, Any]) -> None:
    if provider["status"] != "approved":
        raise ProviderNotApproved(provider_id=provider["_id"], status=provider["status"])


def can_manage_provider(principal: Principal, provider_id: str) -> bool:
    """Return True for the operator and for the provider's own admins."""
    return principal.role == "operator" or (
        principal.role == "provider_admin" and principal.provider_id == provider_id
    )


@dataclass(frozen=True, slots=True)
class StaffScope:
    provider_id: str | None
    outlet_id: str | None
    region_id: str | None


def resolve_staff_scope(
    actor: Principal,
    role: str,
    *,
    provider: dict[str, Any] | None,
    outlet: dict[str, Any] | None,
    region: dict[str, Any] | None,
) -> StaffScope:
    """Return the scope a new staff account gets, or raise when ``actor`` may not create it.

    ``provider``, ``outlet`` and ``region`` are the documents the request named, already loaded;
    the outlet's provider and region win over anything else the request named.
    """
    if role in ("operator", "training_manager"):
        # Operators work across providers, and a training manager spot-checks a whole region.
        # Neither belongs to a provider, so only an operator creates them.
        if actor.role != "operator":
            raise ActionNotAllowed("只有平台运营人员可以创建该角色的账号", role=role)
        if role == "operator":
            return StaffScope(None, None, None)
        if region is None:
            raise StaffScopeInvalid("培训经理须指定所属大区（region_id）", field="region_id")
        return StaffScope(None, None, region["_id"])

    if outlet is not None:
        provider_id = outlet["provider_id"]
    elif provider is not None:
        provider_id = provider["_id"]
    else:
        raise StaffScopeInvalid("请指定服务商（provider_id）或网点（outlet_id）", field="provider_id")
    if provider is not None and provider["_id"] != provider_id:
        raise StaffScopeInvalid("网点不属于所指定的服务商", field="outlet_id")
    if not can_manage_provider(actor, provider_id):
        raise ActionNotAllowed("只能为本服务商创建管理人员", role=role)

    if role == "provider_admin":
        return StaffScope(provider_id, None, None)
    if role == "outlet_manager":
        if outlet is None:
            raise StaffScopeInvalid("网点经理须指定所属网点（outlet_id）", field="outlet_id")
        return StaffScope(provider_id, outlet["_id"], outlet["region_id"])
    if role == "dispatcher":
        if outlet is not None and region is not None:
            raise StaffScopeInvalid("派工员只能指定一个网点或一个大区，不能同时指定", field="region_id")
        if outlet is not None:
            return StaffScope(provider_id, outlet["_id"], outlet["region_id"])
        if region is not None:
            return StaffScope(provider_id, None, region["_id"])
        raise StaffScopeInvalid("派工员须指定所属网点（outlet_id）或大区（region_id）", field="outlet_id")
    raise StaffScopeInvalid("角色无效", field="role", allowed=list(STAFF_ROLES))
