"""Use cases of the job on the phone: check-in, evidence uploads, notes and completion.

Only the engineer the order is assigned to reaches these; anyone else gets 404. Photos and videos go
straight from the phone to object storage through a presigned PUT URL; the object is recorded as
evidence only after ``inspect_upload`` has checked its size and its real type by magic bytes.
"""

import uuid
from typing import Any

import structlog

from bangke_contracts.orders import OrderCheckedIn, OrderCheckedInPayload, OrderCompleted, OrderCompletedPayload
from bangke_runtime.auth import Principal
from bangke_runtime.storage import IMAGE_TYPES, VIDEO_TYPES, PresignedUpload

from ..adapters.order_store import change
from ..domain.errors import EvidenceAlreadyRecorded, EvidenceKindUnknown, MediaTypeNotAllowed, OrderNotFound, UploadKeyInvalid
from ..domain.orders import ASSIGNED, OrderStatus, OrderView, ensure_complete_evidence, ensure_status, log_entry
from .context import PRODUCER, OrderContext
from .dispatch import order_ref

log = structlog.get_logger()


async def _assigned_order(ctx: OrderContext, principal: Principal, order_id: str) -> tuple[dict[str, Any], OrderView]:
    order = await ctx.orders.get(order_id)
    view = OrderView.from_document(order)
    if principal.role != "engineer" or not view.is_assigned_to(principal.subject):
        raise OrderNotFound(order_id=order_id)
    return order, view


def _media_limits(ctx: OrderContext, kind: str) -> tuple[int, frozenset[str]]:
    evidence_kind = ctx.service_types.kinds.get(kind)
    if evidence_kind is None:
        raise EvidenceKindUnknown(field="kind", value=kind, known=sorted(ctx.service_types.kinds))
    if evidence_kind.media == "video":
        return ctx.settings.max_video_bytes, VIDEO_TYPES
    return ctx.settings.max_image_bytes, IMAGE_TYPES


async def check_in(ctx: OrderContext, principal: Principal, order_id: str, location: dict[str, float] | None, note: str | None) -> dict[str, Any]:
    order, view = await _assigned_order(ctx, principal, order_id)
    ensure_status(view, (OrderStatus.ACCEPTED,), "签到")

    now = ctx.now()
    late = now > view.appointment_start
    event = OrderCheckedIn(producer=PRODUCER, payload=OrderCheckedInPayload(**order_ref(order), engineer_id=principal.subject, checked_in_at=now))
    entry = log_entry("checked_in", principal.subject, principal.role, now, location=location, note=note, late=late)
    update = change(
        now, entry, events=[event],
        set_fields={"status": OrderStatus.CHECKED_IN.value, "checked_in_at": now, "check_in_location": location},
    )
    await ctx.orders.update(order, update)
    ctx.relay.kick()
    log.info("order.checked_in", order_id=order_id, engineer_id=principal.subject, late=late)
    return await ctx.orders.get(order_id)


async def request_upload(ctx: OrderContext, principal: Principal, order_id: str, kind: str, content_type: str | None) -> PresignedUpload:
    _order, view = await _assigned_order(ctx, principal, order_id)
    ensure_status(view, ASSIGNED, "上传凭证")
    max_bytes, allowed = _media_limits(ctx, kind)
    if content_type is not None and content_type not in allowed:
        raise MediaTypeNotAllowed(field="content_type", value=content_type, allowed=sorted(allowed))

    key = f"orders/{order_id}/{kind}/{uuid.uuid4().hex}"
    return await ctx.storage.presign_upload(
        ctx.evidence_bucket, key, max_bytes=max_bytes, allowed_types=allowed, expires_s=ctx.settings.upload_url_expiry_s
    )


async def record_evidence(ctx: OrderContext, principal: Principal, order_id: str, kind: str, key: str, note: str | None) -> dict[str, Any]:
    order, view = await _assigned_order(ctx, principal, order_id)
    ensure_status(view, (OrderStatus.CHECKED_IN,), "登记凭证（请先上门签到）")
    max_bytes, allowed = _media_limits(ctx, kind)
    if not key.startswith(f"orders/{order_id}/{kind}/"):
        raise UploadKeyInvalid(field="key", hint="key 必须是为本工单和该凭证类型申请的上传地址所返回的 key")
    if any(item["key"] == key for item in order.get("evidence", ())):
        raise EvidenceAlreadyRecorded(field="key", key=key)
    uploaded = await ctx.storage.inspect_upload(ctx.evidence_bucket, key, max_bytes=max_bytes, allowed_types=allowed, field="key")

    now = ctx.now()
    evidence = {
        "evidence_id": uuid.uuid4().hex, "kind": kind, "bucket": uploaded.bucket, "key": key,
        "media_type": uploaded.media_type, "size": uploaded.size, "note": note,
        "recorded_at": now, "recorded_by": principal.subject,
    }
    entry = log_entry("evidence_recorded", principal.subject, principal.role, now, evidence_id=evidence["evidence_id"], kind=kind, key=key, media_type=uploaded.media_type, size=uploaded.size)
    await ctx.orders.update(order, change(now, entry, push={"evidence": evidence}))
    log.info("order.evidence_recorded", order_id=order_id, kind=kind, media_type=uploaded.media_type, size=uploaded.size)
    return await ctx.orders.get(order_id)


async def add_note(ctx: OrderContext, principal: Principal, order_id: str, text: str) -> dict[str, Any]:
    order, view = await _assigned_order(ctx, principal, order_id)
    ensure_status(view, ASSIGNED, "添加备注")

    now = ctx.now()
    note = {"note_id": uuid.uuid4().hex, "text": text, "written_at": now, "written_by": principal.subject}
    entry = log_entry("note_added", principal.subject, principal.role, now, note_id=note["note_id"], text=text)
    await ctx.orders.update(order, change(now, entry, push={"notes": note}))
    return await ctx.orders.get(order_id)


async def complete_order(ctx: OrderContext, principal: Principal, order_id: str) -> dict[str, Any]:
    order, view = await _assigned_order(ctx, principal, order_id)
    ensure_status(view, (OrderStatus.CHECKED_IN,), "完工（请先上门签到）")
    ensure_complete_evidence(view, ctx.evidence_names())

    now = ctx.now()
    kinds = tuple(sorted(set(view.evidence_kinds)))
    event = OrderCompleted(
        producer=PRODUCER,
        payload=OrderCompletedPayload(**order_ref(order), engineer_id=principal.subject, completed_at=now, evidence_kinds=kinds),
    )
    entry = log_entry("completed", principal.subject, principal.role, now, evidence_kinds=list(kinds))
    update = change(now, entry, events=[event], set_fields={"status": OrderStatus.COMPLETED.value, "completed_at": now})
    await ctx.orders.update(order, update)
    ctx.relay.kick()
    log.info("order.completed", order_id=order_id, engineer_id=principal.subject)
    return await ctx.orders.get(order_id)
