"""Rules of a service order: its states, who may move it, the evidence it needs, and its job log.

States: ``open`` (created, not yet offered), ``offered`` (to one engineer), ``pooled`` (in the order pool
of its outlet or region), ``accepted`` (接单, assigned to one engineer), ``checked_in`` (the engineer
is on site) and ``completed``. Every step becomes one entry of the job log, which is only ever
appended to, in the same write as the state change.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bangke_runtime.clock import CHINA_TZ
from bangke_runtime.personal_data import mask_mobile

from .eligibility import EligibilityVerdict, Ineligibility
from .errors import AppointmentInvalid, EvidenceMissing, OrderStateConflict

MAX_APPOINTMENT_WINDOW = timedelta(hours=24)


class OrderStatus(StrEnum):
    OPEN = "open"
    OFFERED = "offered"
    POOLED = "pooled"
    ACCEPTED = "accepted"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"


DISPATCHABLE = frozenset({OrderStatus.OPEN, OrderStatus.OFFERED, OrderStatus.POOLED, OrderStatus.ACCEPTED})
"""States in which a dispatcher may still offer, reassign or pool the order, because no engineer is on site yet."""

ASSIGNED = frozenset({OrderStatus.ACCEPTED, OrderStatus.CHECKED_IN})


@dataclass(frozen=True, slots=True)
class OrderView:
    """The fields of an order that its rules read."""

    order_id: str
    status: OrderStatus
    outlet_id: str
    region_id: str | None
    dispatch_area: str
    qualification_type: str
    appointment_start: datetime
    appointment_end: datetime
    required_evidence: tuple[str, ...]
    offered_to: str | None = None
    engineer_id: str | None = None
    evidence_kinds: tuple[str, ...] = field(default=())

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> "OrderView":
        return cls(
            order_id=document["_id"],
            status=OrderStatus(document["status"]),
            outlet_id=document["outlet_id"],
            region_id=document.get("region_id"),
            dispatch_area=document.get("dispatch_area", "outlet"),
            qualification_type=document["qualification_type"],
            appointment_start=document["appointment_start"],
            appointment_end=document["appointment_end"],
            required_evidence=tuple(document.get("required_evidence", ())),
            offered_to=document.get("offered_to"),
            engineer_id=document.get("engineer_id"),
            evidence_kinds=tuple(item["kind"] for item in document.get("evidence", ())),
        )

    def in_area_of(self, outlet_id: str | None, region_id: str | None) -> bool:
        """Return True when an engineer of this outlet and region may see the order in the pool."""
        if self.dispatch_area == "region":
            return region_id is not None and region_id == self.region_id
        return outlet_id is not None and outlet_id == self.outlet_id

    def is_assigned_to(self, engineer_id: str) -> bool:
        return self.engineer_id == engineer_id and self.status in (*ASSIGNED, OrderStatus.COMPLETED)


def validate_appointment(start: datetime, end: datetime, now: datetime) -> None:
    """Reject a window that ends before it starts, is longer than a day, or has already ended."""
    if end <= start:
        raise AppointmentInvalid(field="appointment.end", hint="结束时间必须晚于开始时间")
    if end - start > MAX_APPOINTMENT_WINDOW:
        raise AppointmentInvalid(field="appointment.end", hint="预约时段不能超过 24 小时，请拆分为多个工单")
    if end <= now:
        raise AppointmentInvalid(field="appointment.end", hint="预约时段已经结束，请填写未来的时间")


def ensure_status(order: OrderView, allowed: Iterable[OrderStatus], action: str) -> None:
    allowed = tuple(allowed)
    if order.status not in allowed:
        raise OrderStateConflict(
            f"工单当前状态为「{STATUS_NAMES[order.status]}」，不能{action}",
            order_id=order.order_id, status=order.status.value, allowed=[status.value for status in allowed],
        )


def missing_evidence(required: Sequence[str], recorded: Iterable[str]) -> list[str]:
    """Return the required evidence kinds that no recorded evidence has, in the order required."""
    have = set(recorded)
    return [kind for kind in required if kind not in have]


def ensure_complete_evidence(order: OrderView, kind_names: dict[str, str]) -> None:
    missing = missing_evidence(order.required_evidence, order.evidence_kinds)
    if missing:
        names = "、".join(kind_names.get(kind, kind) for kind in missing)
        raise EvidenceMissing(
            f"还缺少以下施工凭证：{names}。请上传后再完工",
            order_id=order.order_id, missing=missing,
        )


def log_entry(action: str, actor_id: str, actor_role: str, at: datetime, **details: Any) -> dict[str, Any]:
    """Build one job-log entry: what happened, who did it and when (UTC)."""
    return {"action": action, "actor_id": actor_id, "actor_role": actor_role, "at": at, "details": details}


STATUS_NAMES = {
    OrderStatus.OPEN: "待派单",
    OrderStatus.OFFERED: "已派给工程师，待接单",
    OrderStatus.POOLED: "在抢单池中",
    OrderStatus.ACCEPTED: "已接单",
    OrderStatus.CHECKED_IN: "已上门签到",
    OrderStatus.COMPLETED: "已完工",
}


def ineligibility_message(verdict: EligibilityVerdict, qualification_name: str, subject: str) -> str:
    """Build the Chinese message naming the qualification that stops ``subject``, and since when."""
    since = verdict.since.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if verdict.since else None
    name = f"「{qualification_name}」"
    match verdict.reason:
        case Ineligibility.NOT_HELD:
            return f"{subject}未取得{name}资质，不能接此工单"
        case Ineligibility.PENDING:
            return f"{subject}的{name}资质尚未生效（需通过资质考试），不能接此工单"
        case Ineligibility.LAPSED:
            return f"{subject}的{name}资质已于 {since}（北京时间）失效，不能接此工单"
        case Ineligibility.WITHDRAWN:
            return f"{subject}的{name}资质已于 {since}（北京时间）撤销，不能接此工单"
        case Ineligibility.EXPIRED:
            return f"{subject}的{name}资质已于 {verdict.valid_until} 到期，不能接此工单"
        case Ineligibility.VALIDITY_TOO_SHORT:
            return f"{subject}的{name}资质有效期至 {verdict.valid_until}，不能覆盖预约日期，不能接此工单"
    return f"{subject}不具备{name}资质"


def mask_name(name: str) -> str:
    """Keep the family name: 张伟 becomes 张*."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name


def mask_address(address: str) -> str:
    """Keep the first 6 characters (province and city, usually) and hide the rest."""
    return address[:6] + "****" if len(address) > 6 else "****"


def customer_view(customer: dict[str, str], *, full: bool) -> dict[str, Any]:
    """Return the customer as a caller may see it: full for dispatchers and the assigned engineer."""
    if full:
        return {**customer, "masked": False}
    return {
        "name": mask_name(customer["name"]),
        "mobile": mask_mobile(customer["mobile"]),
        "address": mask_address(customer["address"]),
        "masked": True,
    }
