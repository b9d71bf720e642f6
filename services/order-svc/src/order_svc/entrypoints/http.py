"""HTTP API of order-svc: intake, dispatch, the job on the phone and supervision."""

from typing import Any, Literal

from fastapi import APIRouter, Query

from bangke_runtime.auth import Principal, require_roles

from ..service_layer import dispatch, queries, site_work
from ..service_layer.context import OrderContext
from .schemas import CheckInIn, CreateOrderIn, DeclineIn, EvidenceIn, NoteIn, OfferIn, UploadRequestIn, present_order

DISPATCHERS = ("dispatcher", "operator")
SUPERVISORS = ("dispatcher", "operator", "outlet_manager")


def build_router(ctx: OrderContext) -> APIRouter:
    router = APIRouter(tags=["orders"])
    dispatcher = require_roles(*DISPATCHERS)
    supervisor = require_roles(*SUPERVISORS)
    engineer = require_roles("engineer")
    anyone = require_roles("engineer", *SUPERVISORS)

    def present(principal: Principal, order: dict[str, Any]) -> dict[str, Any]:
        return present_order(ctx, principal, order)

    @router.get("/service-types", summary="Service types: the qualification each needs and its required evidence")
    async def service_types(_principal: Principal = anyone) -> dict[str, Any]:
        return ctx.service_types.model_dump(mode="json")

    @router.post("/orders", status_code=201, summary="Create an order (dispatcher, or the retail order system as operator)")
    async def create_order(body: CreateOrderIn, principal: Principal = dispatcher) -> dict[str, Any]:
        new = dispatch.NewOrder(
            service_type=body.service_type, outlet_id=body.outlet_id, region_id=body.region_id,
            provider_id=body.provider_id, dispatch_area=body.dispatch_area, customer=body.customer.model_dump(),
            appointment_start=body.appointment.start, appointment_end=body.appointment.end,
            appointment_timezone=body.appointment.timezone, external_reference=body.external_reference,
        )
        return present(principal, await dispatch.create_order(ctx, principal, new))

    @router.get("/orders", summary="Orders in the caller's scope; an engineer's own offered and assigned orders")
    async def list_orders(
        principal: Principal = anyone,
        status: str | None = Query(None, description="Only orders in this state."),
        outlet_id: str | None = Query(None, description="Only orders of this outlet (within the caller's scope)."),
    ) -> list[dict[str, Any]]:
        return [present(principal, order) for order in await queries.list_orders(ctx, principal, status, outlet_id)]

    @router.get("/orders/pool", summary="Pool orders of the engineer's outlet or region that they are qualified for")
    async def order_pool(principal: Principal = engineer) -> list[dict[str, Any]]:
        return [present(principal, order) for order in await queries.order_pool(ctx, principal)]

    @router.get("/orders/at-risk", summary="Accepted orders whose engineer's qualification no longer covers the appointment")
    async def at_risk(principal: Principal = supervisor, outlet_id: str | None = Query(None)) -> list[dict[str, Any]]:
        return [present(principal, order) for order in await queries.supervision(ctx, principal, "at_risk", outlet_id)]

    @router.get("/supervision", summary="Orders that need attention: missing evidence, late check-ins, at risk")
    async def supervision(
        kind: Literal["missing_evidence", "late_check_in", "at_risk"] = Query(description="List to return: missing_evidence, late_check_in or at_risk."),
        outlet_id: str | None = Query(None, description="Only this outlet; an outlet manager always sees their own."),
        principal: Principal = supervisor,
    ) -> list[dict[str, Any]]:
        # Each order of the missing-evidence list carries the kinds it still lacks, as present() computes them.
        return [present(principal, order) for order in await queries.supervision(ctx, principal, kind, outlet_id)]

    @router.get("/orders/{order_id}", summary="One order with its job log")
    async def get_order(order_id: str, principal: Principal = anyone) -> dict[str, Any]:
        return present(principal, await queries.get_order(ctx, principal, order_id))

    @router.get("/orders/{order_id}/eligible-engineers", summary="Engineers of the order's area qualified through the appointment")
    async def eligible_engineers(order_id: str, principal: Principal = dispatcher) -> list[dict[str, Any]]:
        found = await dispatch.eligible_engineers(ctx, principal, order_id)
        return [
            {"engineer_id": item["engineer_id"], "engineer_name": item.get("engineer_name"), "valid_until": item["effective_until"]}
            for item in found
        ]

    @router.post("/orders/{order_id}/offer", summary="Offer the order to one eligible engineer, or reassign it")
    async def offer(order_id: str, body: OfferIn, principal: Principal = dispatcher) -> dict[str, Any]:
        return present(principal, await dispatch.offer_order(ctx, principal, order_id, body.engineer_id, body.reason))

    @router.post("/orders/{order_id}/publish", summary="Publish the order to its outlet's (or region's) order pool")
    async def publish(order_id: str, principal: Principal = dispatcher) -> dict[str, Any]:
        return present(principal, await dispatch.publish_to_pool(ctx, principal, order_id))

    @router.post("/orders/{order_id}/accept", summary="Accept (接单); eligibility is checked again now")
    async def accept(order_id: str, principal: Principal = engineer) -> dict[str, Any]:
        return present(principal, await dispatch.accept_order(ctx, principal, order_id))

    @router.post("/orders/{order_id}/decline", summary="Decline an order offered to the engineer")
    async def decline(order_id: str, body: DeclineIn, principal: Principal = engineer) -> dict[str, Any]:
        return present(principal, await dispatch.decline_order(ctx, principal, order_id, body.reason))

    @router.post("/orders/{order_id}/check-in", summary="Check in on site")
    async def check_in(order_id: str, body: CheckInIn, principal: Principal = engineer) -> dict[str, Any]:
        location = body.location.model_dump() if body.location else None
        return present(principal, await site_work.check_in(ctx, principal, order_id, location, body.note))

    @router.post("/orders/{order_id}/evidence/uploads", status_code=201, summary="Get a presigned URL to upload a photo or video")
    async def request_upload(order_id: str, body: UploadRequestIn, principal: Principal = engineer) -> dict[str, Any]:
        upload = await site_work.request_upload(ctx, principal, order_id, body.kind, body.content_type)
        return {
            "url": upload.url, "method": upload.method, "key": upload.key, "expires_in_s": upload.expires_in_s,
            "max_bytes": upload.max_bytes, "allowed_types": list(upload.allowed_types), "kind": body.kind,
        }

    @router.post("/orders/{order_id}/evidence", status_code=201, summary="Record an uploaded photo or video as evidence")
    async def record_evidence(order_id: str, body: EvidenceIn, principal: Principal = engineer) -> dict[str, Any]:
        return present(principal, await site_work.record_evidence(ctx, principal, order_id, body.kind, body.key, body.note))

    @router.post("/orders/{order_id}/notes", status_code=201, summary="Add a text note to the job")
    async def add_note(order_id: str, body: NoteIn, principal: Principal = engineer) -> dict[str, Any]:
        return present(principal, await site_work.add_note(ctx, principal, order_id, body.text))

    @router.post("/orders/{order_id}/complete", summary="Complete the job; refused while required evidence is missing")
    async def complete(order_id: str, principal: Principal = engineer) -> dict[str, Any]:
        return present(principal, await site_work.complete_order(ctx, principal, order_id))

    return router
