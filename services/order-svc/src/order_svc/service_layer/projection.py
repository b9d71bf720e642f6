"""Consumed events: keep the eligibility projection and flag accepted orders whose engineer lost cover.

Qualification events arrive keyed by engineer id, so one engineer's events are handled in order. The
engineer's document and the orders record the event id in the same update (``apply_once``), so a
redelivered event changes nothing twice. The outlet and region entries are copied from the engineer's
stored holdings, so copying them again changes nothing. The handler still runs every step on
redelivery, which repairs a crash between two writes.
"""

from datetime import datetime
from typing import Any

import structlog

from bangke_contracts.identity import EngineerAuthenticated, EngineerRegistered
from bangke_contracts.orders import OrderAtRisk, OrderAtRiskPayload
from bangke_contracts.qualifications import QualificationApplied
from bangke_runtime.outbox import with_outbox

from ..domain.eligibility import Holding, HoldingStatus, QualificationEventType, apply_qualification_event, covers_appointment
from ..domain.orders import ASSIGNED, log_entry
from .context import PRODUCER, OrderContext
from .dispatch import order_ref

log = structlog.get_logger()

SYSTEM_ROLE = "system"


async def on_qualification_event(ctx: OrderContext, event: QualificationEventType) -> None:
    payload = event.payload
    current = await ctx.eligibility.holding(payload.qualification_type, payload.engineer_id)
    holding = apply_qualification_event(current, event)
    if holding is None:
        log.info("eligibility.event_ignored", event_type=event.type, engineer_id=payload.engineer_id)
        return

    applied = await ctx.eligibility.save(holding, event.event_id)
    # The outlet and region entries follow the stored holding, also when this was a redelivery.
    await ctx.eligibility.sync(payload.engineer_id, [payload.qualification_type])
    log.info(
        "eligibility.updated" if applied else "eligibility.duplicate_skipped",
        engineer_id=holding.engineer_id, qualification_type=holding.qualification_type, status=holding.status.value,
        valid_until=str(holding.valid_until),
    )
    if not isinstance(event, QualificationApplied):
        await reassess_assigned_orders(ctx, holding, event)


def _risk_reason(holding: Holding) -> str:
    if holding.status == HoldingStatus.LAPSED:
        return "qualification_lapsed"
    if holding.status == HoldingStatus.WITHDRAWN:
        return "qualification_withdrawn"
    return "validity_shortened"


async def reassess_assigned_orders(ctx: OrderContext, holding: Holding, event: QualificationEventType) -> None:
    """Flag every assigned order the holding no longer covers; clear the flag where it covers again."""
    orders = await ctx.orders.find(
        {
            "engineer_id": holding.engineer_id,
            "qualification_type": holding.qualification_type,
            "status": {"$in": [status.value for status in ASSIGNED]},
        },
        limit=1000,
    )
    now = ctx.now()
    for order in orders:
        if not covers_appointment(holding, order["appointment_end"]):
            await _flag_at_risk(ctx, order, holding, event, now)
        elif order.get("at_risk") is not None:
            await _clear_risk(ctx, order, holding, event, now)


async def _flag_at_risk(ctx: OrderContext, order: dict[str, Any], holding: Holding, event: QualificationEventType, now: datetime) -> None:
    reason = _risk_reason(holding)
    risk = {
        "reason": reason,
        "qualification_type": holding.qualification_type,
        "valid_until": holding.valid_until.isoformat() if holding.valid_until else None,
        "since": holding.ended_at,
        "flagged_at": now,
        "event_id": str(event.event_id),
    }
    outgoing = event.caused(
        OrderAtRisk,
        OrderAtRiskPayload(
            **order_ref(order), engineer_id=holding.engineer_id, reason=reason,
            valid_until=holding.valid_until if holding.status == HoldingStatus.GRANTED else None,
            appointment_end=order["appointment_end"], flagged_at=now,
        ),
        PRODUCER,
    )
    entry = log_entry("flagged_at_risk", event.producer, SYSTEM_ROLE, now, **{k: v for k, v in risk.items() if k != "flagged_at"})
    update = with_outbox(
        {"$set": {"at_risk": risk, "updated_at": now}, "$push": {"job_log": entry}, "$inc": {"version": 1}}, [outgoing]
    )
    if await ctx.orders.apply_event(order["_id"], event.event_id, update):
        ctx.relay.kick()
        log.warning("order.at_risk", order_id=order["_id"], engineer_id=holding.engineer_id, reason=reason)


async def _clear_risk(ctx: OrderContext, order: dict[str, Any], holding: Holding, event: QualificationEventType, now: datetime) -> None:
    entry = log_entry(
        "risk_cleared", event.producer, SYSTEM_ROLE, now,
        valid_until=holding.valid_until.isoformat() if holding.valid_until else None, event_id=str(event.event_id),
    )
    update = {"$set": {"at_risk": None, "updated_at": now}, "$push": {"job_log": entry}, "$inc": {"version": 1}}
    if await ctx.orders.apply_event(order["_id"], event.event_id, update):
        log.info("order.risk_cleared", order_id=order["_id"], engineer_id=holding.engineer_id)


async def on_engineer_event(ctx: OrderContext, event: EngineerRegistered | EngineerAuthenticated) -> None:
    payload = event.payload
    if isinstance(event, EngineerAuthenticated):
        await ctx.eligibility.record_engineer(event.event_id, payload.engineer_id, {"authenticated_at": payload.authenticated_at})
        return

    fields = {
        "name": payload.name, "provider_id": payload.provider_id, "outlet_id": payload.outlet_id,
        "region_id": payload.region_id, "registered_at": payload.registered_at,
    }
    await ctx.eligibility.record_engineer(event.event_id, payload.engineer_id, fields)
    # Entries projected before the registration arrived get the engineer's name now.
    await ctx.eligibility.sync(payload.engineer_id)
    log.info("eligibility.engineer_recorded", engineer_id=payload.engineer_id, outlet_id=payload.outlet_id)
