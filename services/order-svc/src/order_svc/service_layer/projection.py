"""Consumed events: keep the eligibility projection and flag accepted orders whose engineer lost cover.

Qualification events arrive keyed by engineer id in batches, so one engineer's events are applied in
order. The engineer's document and the orders record the event id in the same update as its
effect, so a redelivered event changes nothing twice. The outlet and region entries are
gathered from the engineers' documents as they stand after the batch and written once per outlet and
region document. Copying them again changes nothing, and a batch runs every step on redelivery too,
which repairs a crash between two writes.
"""

from datetime import datetime
from typing import Any

import structlog
from pydantic import TypeAdapter

from bangke_contracts.identity import EngineerAuthenticated, EngineerRegistered
from bangke_contracts.orders import OrderAtRisk, OrderAtRiskPayload
from bangke_contracts.qualifications import QualificationApplied, QualificationEvent
from bangke_runtime.batches import all_ended, apply_by_key, with_retries
from bangke_runtime.kafka import DeadLetterPolicy
from bangke_runtime.outbox import with_outbox
from bangke_runtime.serialised import GROUP_LIMIT

from ..adapters.eligibility_store import AreaChanges, holding_in, with_saved_holding
from ..domain.eligibility import Holding, HoldingStatus, QualificationEventType, apply_qualification_event, covers_appointment
from ..domain.orders import ASSIGNED, log_entry
from .context import PRODUCER, OrderContext
from .dispatch import order_ref

log = structlog.get_logger()

SYSTEM_ROLE = "system"
ENGINEERS_AT_ONCE = GROUP_LIMIT
"""Maximum engineers of a batch applied side by side, as many as the runtime sends in one ``update`` command."""

_qualification_event: TypeAdapter[Any] = TypeAdapter(QualificationEvent)


async def on_qualification_records(ctx: OrderContext, records: list[Any], dead_letters: DeadLetterPolicy) -> None:
    """Apply a batch of consumed qualification records; return once all are stored, so it can be committed.

    Records that cannot be parsed, and events that keep failing, go to the dead-letter topic. The
    batch's engineers that are not in memory are read with one query, and up to ``ENGINEERS_AT_ONCE``
    of them are applied side by side, so that where order-svc is the only writer their saves go out as
    one ``update`` command.
    """
    changes = AreaChanges()
    # The last event other than an application, and the holding after it, per engineer and type.
    reassess: dict[tuple[str, str], tuple[Holding, QualificationEventType]] = {}

    async def apply_engineer(engineer_id: str, events: list[QualificationEventType]) -> None:
        document = before = await ctx.eligibility.engineer(engineer_id, keep=True)
        types: list[str] = []
        for event in events:
            holding, document = await _apply(ctx, event, document)
            if holding is None:
                continue
            types.append(holding.qualification_type)
            if not isinstance(event, QualificationApplied):
                reassess[(engineer_id, holding.qualification_type)] = (holding, event)
        if document is not None and types:
            changes.gather(document, sorted(set(types)), before=before)

    async with ctx.eligibility.areas_lock:
        await apply_by_key(
            records, _qualification_event, lambda event: event.payload.engineer_id, apply_engineer, dead_letters,
            ctx.settings, at_once=ENGINEERS_AT_ONCE, prepare=ctx.eligibility.load_engineers,
        )
        # Orders follow the stored holdings, not the entries, so they are checked beside the entries' writes.
        await all_ended(
            with_retries(ctx.settings, lambda: ctx.eligibility.write_areas(changes)),
            *([reassess_assigned_orders(ctx, reassess)] if reassess else []),
        )


async def _apply(
    ctx: OrderContext, event: QualificationEventType, document: dict[str, Any] | None
) -> tuple[Holding | None, dict[str, Any] | None]:
    """Apply one event to the engineer's ``document``; return the holding and the document as now stored."""
    payload = event.payload
    current = holding_in(document, payload.qualification_type)
    holding = apply_qualification_event(current, event)
    if holding is None:
        log.info("eligibility.event_ignored", event_type=event.type, engineer_id=payload.engineer_id)
        return None, document

    applied = await ctx.eligibility.save(holding, event.event_id)
    if applied:
        document = with_saved_holding(document, holding, event.event_id)
        ctx.eligibility.remember(document)
    else:
        # A redelivery: the stored document may be ahead of this event, and the entries must follow it.
        document = await ctx.eligibility.engineer(payload.engineer_id, keep=True)
    log.info(
        "eligibility.updated" if applied else "eligibility.duplicate_skipped",
        engineer_id=holding.engineer_id, qualification_type=holding.qualification_type, status=holding.status.value,
        valid_until=str(holding.valid_until),
    )
    return holding, document


def _risk_reason(holding: Holding) -> str:
    if holding.status == HoldingStatus.LAPSED:
        return "qualification_lapsed"
    if holding.status == HoldingStatus.WITHDRAWN:
        return "qualification_withdrawn"
    return "validity_shortened"


async def reassess_assigned_orders(ctx: OrderContext, holdings: dict[tuple[str, str], tuple[Holding, QualificationEventType]]) -> None:
    """Flag every assigned order a holding no longer covers; clear the flag where it covers again.

    ``holdings`` maps (engineer id, qualification type) to the holding after the last event that
    changed it, and that event. One query finds the assigned orders of all of them.
    """
    engineer_ids = sorted({engineer_id for engineer_id, _type in holdings})
    orders = await ctx.orders.find(
        {"engineer_id": {"$in": engineer_ids}, "status": {"$in": [status.value for status in ASSIGNED]}},
        limit=1000 * len(engineer_ids),
    )
    now = ctx.now()
    for order in orders:
        found = holdings.get((order["engineer_id"], order["qualification_type"]))
        if found is None:
            continue
        holding, event = found
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
        async with ctx.eligibility.areas_lock:
            await ctx.eligibility.record_engineer(event.event_id, payload.engineer_id, {"authenticated_at": payload.authenticated_at})
        return

    fields = {
        "name": payload.name, "provider_id": payload.provider_id, "outlet_id": payload.outlet_id,
        "region_id": payload.region_id, "registered_at": payload.registered_at,
    }
    async with ctx.eligibility.areas_lock:
        await ctx.eligibility.record_engineer(event.event_id, payload.engineer_id, fields)
        # Entries projected before the registration arrived get the engineer's name now.
        await ctx.eligibility.sync(payload.engineer_id)
    log.info("eligibility.engineer_recorded", engineer_id=payload.engineer_id, outlet_id=payload.outlet_id)
