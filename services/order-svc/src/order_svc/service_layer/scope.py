"""Who may see and change which order, from the caller's role and the scope in their token.

Requests for orders outside the caller's scope return 404, so that ids of other people's orders are
not confirmed.
"""

from typing import Any

from bangke_runtime.auth import Principal

from ..domain.errors import OrderNotFound


def dispatches(principal: Principal, order: dict[str, Any]) -> bool:
    """Return True for the operator and for a dispatcher whose provider and outlet or region match."""
    if principal.role == "operator":
        return True
    if principal.role != "dispatcher":
        return False
    if principal.provider_id and order.get("provider_id") and principal.provider_id != order["provider_id"]:
        return False
    if principal.outlet_id:
        return principal.outlet_id == order["outlet_id"]
    if principal.region_id:
        return principal.region_id == order.get("region_id")
    return False


def supervises(principal: Principal, order: dict[str, Any]) -> bool:
    if principal.role == "outlet_manager":
        return principal.outlet_id is not None and principal.outlet_id == order["outlet_id"]
    return dispatches(principal, order)


def require_dispatcher_scope(principal: Principal, order: dict[str, Any]) -> None:
    if not dispatches(principal, order):
        raise OrderNotFound(order_id=order["_id"])


def sees_customer(principal: Principal, order: dict[str, Any]) -> bool:
    """Dispatchers and the assigned engineer see the customer's name, mobile and address in full."""
    if principal.role == "dispatcher":
        return dispatches(principal, order)
    return principal.role == "engineer" and order.get("engineer_id") == principal.subject


def scope_query(principal: Principal) -> dict[str, Any] | None:
    """Return the filter that limits an order list to the caller's scope; None means nothing in scope."""
    if principal.role == "operator":
        return {}
    if principal.role == "outlet_manager":
        return {"outlet_id": principal.outlet_id} if principal.outlet_id else None
    if principal.role == "dispatcher":
        query: dict[str, Any] = {}
        if principal.provider_id:
            query["provider_id"] = principal.provider_id
        if principal.outlet_id:
            return {**query, "outlet_id": principal.outlet_id}
        if principal.region_id:
            return {**query, "region_id": principal.region_id}
    return None
