"""Use cases of dispatch: create an order, list eligible engineers, offer, pool, accept and decline."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog

from bangke_contracts.orders import (
    OrderAccepted,
    OrderAcceptedPayload,
    OrderCreated,
    OrderCreatedPayload,
    OrderDeclined,
    OrderDeclinedPayload,
    OrderOffered,
    OrderOfferedPayload,
    OrderPublishedToPool,
    OrderPublishedToPoolPayload,
)
from bangke_runtime.auth import Principal

from ..adapters.order_store import change
from ..domain.eligibility import EligibilityVerdict, Holding, check_eligibility, last_day_needed
from ..domain.errors import EngineerNotEligible, OrderNotFound, OutsideScope
from ..domain.orders import DISPATCHABLE, OrderStatus, OrderView, ensure_status, ineligibility_message, log_entry, validate_appointment
from .context import PRODUCER, OrderContext
from .scope import require_dispatcher_scope

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class NewOrder:
    service_type: str
    outlet_id: str
    region_id: str | None
    provider_id: str | None
    dispatch_area: Literal["outlet", "region"]
    customer: dict[str, str]
    appointment_start: datetime
    appointment_end: datetime
    appointment_timezone: str
    external_reference: str | None = None


def order_ref(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order["_id"],
        "outlet_id": order["outlet_id"],
        "service_type": order["service_type"],
        "qualification_type": order["qualification_type"],
    }


def _check_creation_scope(principal: Principal, new: NewOrder) -> tuple[str | None, str | None]:
    """Return the order's provider and region after checking the dispatcher may create it."""
    provider_id = principal.provider_id or new.provider_id
    region_id = new.region_id or principal.region_id
    if principal.role == "dispatcher":
        if principal.outlet_id and principal.outlet_id != new.outlet_id:
            raise OutsideScope(field="outlet_id", hint="只能为自己所在网点创建工单", outlet_id=new.outlet_id)
        if not principal.outlet_id and (not principal.region_id or principal.region_id != region_id):
            raise OutsideScope(field="region_id", hint="只能为自己负责的大区创建工单", region_id=region_id)
    if new.dispatch_area == "region" and not region_id:
        raise OutsideScope("按大区派单时必须填写大区", field="region_id", hint="填写工单所属大区的 region_id")
    return provider_id, region_id


async def create_order(ctx: OrderContext, principal: Principal, new: NewOrder) -> dict[str, Any]:
    service = ctx.service_type(new.service_type)
    now = ctx.now()
    validate_appointment(new.appointment_start, new.appointment_end, now)
    provider_id, region_id = _check_creation_scope(principal, new)

    order = {
        "_id": uuid.uuid4().hex,
        "provider_id": provider_id,
        "outlet_id": new.outlet_id,
        "region_id": region_id,
        "dispatch_area": new.dispatch_area,
        "service_type": service.code,
        "qualification_type": service.qualification_type,
        "required_evidence": list(service.required_evidence),
        "customer": new.customer,
        "appointment_start": new.appointment_start,
        "appointment_end": new.appointment_end,
        "appointment_timezone": new.appointment_timezone,
        "external_reference": new.external_reference,
        "status": OrderStatus.OPEN.value,
        "offered_to": None,
        "engineer_id": None,
        "at_risk": None,
        "evidence": [],
        "notes": [],
        "checked_in_at": None,
        "completed_at": None,
        "created_at": now,
        "created_by": principal.subject,
        "updated_at": now,
        "job_log": [log_entry("created", principal.subject, principal.role, now, service_type=service.code)],
    }
    event = OrderCreated(
        producer=PRODUCER,
        payload=OrderCreatedPayload(
            **order_ref(order), region_id=region_id, dispatch_area=new.dispatch_area,
            appointment_start=new.appointment_start, appointment_end=new.appointment_end, created_at=now,
        ),
    )
    await ctx.orders.insert(order, [event])
    ctx.relay.kick()
    log.info("order.created", order_id=order["_id"], outlet_id=new.outlet_id, service_type=service.code)
    return order


def _area(order: dict[str, Any]) -> tuple[Literal["outlet", "region"], str]:
    if order.get("dispatch_area") == "region" and order.get("region_id"):
        return "region", order["region_id"]
    return "outlet", order["outlet_id"]


async def eligible_engineers(ctx: OrderContext, principal: Principal, order_id: str) -> list[dict[str, Any]]:
    order = await ctx.orders.get(order_id)
    require_dispatcher_scope(principal, order)

    area, area_id = _area(order)
    last_day = last_day_needed(order["appointment_end"], ctx.now())
    return await ctx.eligibility.eligible(
        area, order["qualification_type"], area_id, last_day, ctx.settings.eligible_list_limit
    )


async def holding_for(ctx: OrderContext, order: dict[str, Any], engineer_id: str) -> Holding | None:
    """Return the engineer's holding of the order's qualification among the engineers of the order's area."""
    area, area_id = _area(order)
    return await ctx.eligibility.holding_in_area(area, order["qualification_type"], area_id, engineer_id)


async def verdict_for(ctx: OrderContext, order: dict[str, Any], engineer_id: str) -> EligibilityVerdict:
    holding = await holding_for(ctx, order, engineer_id)
    return check_eligibility(holding, order["appointment_end"], ctx.now())


def _refuse(ctx: OrderContext, order: dict[str, Any], engineer_id: str, verdict: EligibilityVerdict, subject: str) -> EngineerNotEligible:
    return EngineerNotEligible(
        ineligibility_message(verdict, ctx.qualification_name(order["qualification_type"]), subject),
        order_id=order["_id"],
        engineer_id=engineer_id,
        qualification_type=order["qualification_type"],
        reason=verdict.reason.value if verdict.reason else None,
        valid_until=verdict.valid_until.isoformat() if verdict.valid_until else None,
        since=verdict.since.isoformat() if verdict.since else None,
    )


async def offer_order(ctx: OrderContext, principal: Principal, order_id: str, engineer_id: str, reason: str | None) -> dict[str, Any]:
    order = await ctx.orders.get(order_id)
    require_dispatcher_scope(principal, order)
    view = OrderView.from_document(order)
    ensure_status(view, DISPATCHABLE, "派单")
    verdict = await verdict_for(ctx, order, engineer_id)
    if not verdict.eligible:
        raise _refuse(ctx, order, engineer_id, verdict, "该工程师")

    now = ctx.now()
    previous = order.get("engineer_id") if view.status == OrderStatus.ACCEPTED else None
    action = "reassigned" if previous else "offered"
    event = OrderOffered(
        producer=PRODUCER,
        payload=OrderOfferedPayload(**order_ref(order), engineer_id=engineer_id, offered_at=now, reassigned_from=previous),
    )
    entry = log_entry(action, principal.subject, principal.role, now, engineer_id=engineer_id, previous_engineer_id=previous, reason=reason)
    update = change(
        now, entry, events=[event],
        set_fields={"status": OrderStatus.OFFERED.value, "offered_to": engineer_id, "engineer_id": None, "at_risk": None},
    )
    await ctx.orders.update(order, update)
    ctx.relay.kick()
    log.info("order.offered", order_id=order_id, engineer_id=engineer_id, reassigned=bool(previous))
    return await ctx.orders.get(order_id)


async def publish_to_pool(ctx: OrderContext, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await ctx.orders.get(order_id)
    require_dispatcher_scope(principal, order)
    view = OrderView.from_document(order)
    ensure_status(view, DISPATCHABLE, "发布到抢单池")

    now = ctx.now()
    event = OrderPublishedToPool(producer=PRODUCER, payload=OrderPublishedToPoolPayload(**order_ref(order), published_at=now))
    entry = log_entry(
        "published_to_pool", principal.subject, principal.role, now,
        area=order.get("dispatch_area", "outlet"), previous_engineer_id=order.get("engineer_id") or order.get("offered_to"),
    )
    update = change(
        now, entry, events=[event],
        set_fields={"status": OrderStatus.POOLED.value, "offered_to": None, "engineer_id": None, "at_risk": None},
    )
    await ctx.orders.update(order, update)
    ctx.relay.kick()
    log.info("order.published_to_pool", order_id=order_id)
    return await ctx.orders.get(order_id)


async def accept_order(ctx: OrderContext, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await ctx.orders.get(order_id)
    view = OrderView.from_document(order)
    offered_to_me = view.status == OrderStatus.OFFERED and view.offered_to == principal.subject
    in_my_pool = view.status == OrderStatus.POOLED and view.in_area_of(principal.outlet_id, principal.region_id)
    if not (offered_to_me or in_my_pool or view.engineer_id == principal.subject):
        raise OrderNotFound(order_id=order_id)
    ensure_status(view, (OrderStatus.OFFERED, OrderStatus.POOLED), "接单")

    # Eligibility is checked again now: the qualification may have lapsed since the offer.
    verdict = await verdict_for(ctx, order, principal.subject)
    if not verdict.eligible:
        log.info("order.accept_refused", order_id=order_id, engineer_id=principal.subject, reason=str(verdict.reason))
        raise _refuse(ctx, order, principal.subject, verdict, "您")

    now = ctx.now()
    event = OrderAccepted(producer=PRODUCER, payload=OrderAcceptedPayload(**order_ref(order), engineer_id=principal.subject, accepted_at=now))
    entry = log_entry(
        "accepted", principal.subject, principal.role, now,
        source="offer" if offered_to_me else "pool", qualification_valid_until=verdict.valid_until.isoformat() if verdict.valid_until else None,
    )
    update = change(
        now, entry, events=[event],
        set_fields={"status": OrderStatus.ACCEPTED.value, "engineer_id": principal.subject, "offered_to": None, "accepted_at": now},
    )
    await ctx.orders.update(order, update)
    ctx.relay.kick()
    log.info("order.accepted", order_id=order_id, engineer_id=principal.subject)
    return await ctx.orders.get(order_id)


async def decline_order(ctx: OrderContext, principal: Principal, order_id: str, reason: str) -> dict[str, Any]:
    order = await ctx.orders.get(order_id)
    view = OrderView.from_document(order)
    if view.offered_to != principal.subject:
        raise OrderNotFound(order_id=order_id)
    ensure_status(view, (OrderStatus.OFFERED,), "拒单")

    now = ctx.now()
    event = OrderDeclined(
        producer=PRODUCER, payload=OrderDeclinedPayload(**order_ref(order), engineer_id=principal.subject, reason=reason, declined_at=now)
    )
    entry = log_entry("declined", principal.subject, principal.role, now, reason=reason)
    update = change(now, entry, events=[event], set_fields={"status": OrderStatus.OPEN.value, "offered_to": None})
    await ctx.orders.update(order, update)
    ctx.relay.kick()
    log.info("order.declined", order_id=order_id, engineer_id=principal.subject)
    return await ctx.orders.get(order_id)
