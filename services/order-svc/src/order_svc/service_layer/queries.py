"""Reads: one order, the caller's order lists, the engineer's order pool and the supervision lists."""

from typing import Any, Literal

from bangke_runtime.auth import Principal

from ..domain.errors import OrderNotFound
from ..domain.orders import ASSIGNED, OrderStatus, OrderView, missing_evidence
from .context import OrderContext
from .dispatch import verdict_for
from .scope import scope_query, supervises

SupervisionKind = Literal["missing_evidence", "late_check_in", "at_risk"]

NOT_CHECKED_IN = [OrderStatus.OPEN.value, OrderStatus.OFFERED.value, OrderStatus.POOLED.value, OrderStatus.ACCEPTED.value]


async def get_order(ctx: OrderContext, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await ctx.orders.get(order_id)
    if principal.role == "engineer":
        if not await _engineer_sees(ctx, principal, order):
            raise OrderNotFound(order_id=order_id)
    elif not supervises(principal, order):
        raise OrderNotFound(order_id=order_id)
    return order


async def _engineer_sees(ctx: OrderContext, principal: Principal, order: dict[str, Any]) -> bool:
    """Return True for orders offered or assigned to the engineer, and pool orders of their area they may take."""
    view = OrderView.from_document(order)
    if view.offered_to == principal.subject and view.status == OrderStatus.OFFERED:
        return True
    if view.is_assigned_to(principal.subject):
        return True
    if view.status == OrderStatus.POOLED and view.in_area_of(principal.outlet_id, principal.region_id):
        return (await verdict_for(ctx, order, principal.subject)).eligible
    return False


async def list_orders(ctx: OrderContext, principal: Principal, status: str | None, outlet_id: str | None) -> list[dict[str, Any]]:
    if principal.role == "engineer":
        query: dict[str, Any] | None = {"$or": [{"offered_to": principal.subject}, {"engineer_id": principal.subject}]}
    else:
        query = _scoped(principal, outlet_id)
    if query is None:
        return []
    if status:
        query = {**query, "status": status}
    return await ctx.orders.find(query, ctx.settings.order_list_limit)


def _scoped(principal: Principal, outlet_id: str | None) -> dict[str, Any] | None:
    query = scope_query(principal)
    if query is None:
        return None
    if outlet_id:
        if query.get("outlet_id") not in (None, outlet_id):
            return None
        query = {**query, "outlet_id": outlet_id}
    return query


async def order_pool(ctx: OrderContext, principal: Principal) -> list[dict[str, Any]]:
    """Return the pool orders of the engineer's outlet or region whose qualification they hold in effect."""
    areas: list[dict[str, Any]] = []
    if principal.outlet_id:
        areas.append({"dispatch_area": "outlet", "outlet_id": principal.outlet_id})
    if principal.region_id:
        areas.append({"dispatch_area": "region", "region_id": principal.region_id})
    if not areas:
        return []
    candidates = await ctx.orders.find({"status": OrderStatus.POOLED.value, "$or": areas}, ctx.settings.order_list_limit)

    visible = []
    for order in candidates:
        verdict = await verdict_for(ctx, order, principal.subject)
        if verdict.eligible:
            visible.append(order)
    return visible


async def supervision(ctx: OrderContext, principal: Principal, kind: SupervisionKind, outlet_id: str | None) -> list[dict[str, Any]]:
    """Return the orders that need attention, in the caller's scope, optionally for one outlet."""
    query = _scoped(principal, outlet_id)
    if query is None:
        return []
    now = ctx.now()
    if kind == "late_check_in":
        query = {**query, "status": {"$in": NOT_CHECKED_IN}, "appointment_start": {"$lt": now}}
    elif kind == "at_risk":
        query = {**query, "status": {"$in": [status.value for status in ASSIGNED]}, "at_risk": {"$ne": None}}
    else:
        query = {**query, "status": OrderStatus.CHECKED_IN.value}
    orders = await ctx.orders.find(query, ctx.settings.order_list_limit)
    if kind != "missing_evidence":
        return orders
    incomplete = []
    for order in orders:
        missing = missing_evidence(order.get("required_evidence", ()), (item["kind"] for item in order.get("evidence", ())))
        if missing:
            incomplete.append(order)
    return incomplete
