"""HTTP API of reviews: the reviewers' queues and decisions, and the operators' registry snapshot.

Outlet managers see and act on their outlet's certificates (token claim ``outlet_id``), training
managers on their region's (claim ``region_id``). Any other task returns 404.
"""

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bangke_contracts.catalogue import Catalogue
from bangke_runtime.auth import Principal, require_roles
from bangke_runtime.clock import Clock, china_date
from bangke_runtime.personal_data import mask_id_number

from ..adapters.registry import parse_snapshot
from ..adapters.storage import PhotoLinks, SnapshotStore
from ..domain.review import Reviewer, ReviewTask
from ..errors import RegistrySnapshotTooLarge
from ..service_layer.reviews import ReviewService

NUMBER_SHARED_NOTICE = "注意：该证书编号已被其他工程师使用，请核实持证人身份"


class DifferenceView(BaseModel):
    field: str = Field(description="Field that differs.", examples=["validity_end"])
    uploaded: str = Field(description="Value the engineer uploaded.")
    registry: str = Field(description="Value the safety registry holds.")


class DecisionView(BaseModel):
    step: str = Field(examples=["outlet_review"])
    outcome: str = Field(examples=["approved"])
    actor_id: str
    actor_role: str
    decided_at: datetime
    reason: str | None = None
    differences: list[DifferenceView] = []


class PhotoView(BaseModel):
    key: str
    url: str = Field(description="Presigned GET URL; it expires after expires_in_s seconds.")
    expires_in_s: int


class ReviewView(BaseModel):
    review_id: str
    certificate_id: str
    version: int
    engineer_id: str
    outlet_id: str
    region_id: str
    certificate_type: str
    certificate_type_name: str
    kind: str = Field(examples=["long_term"])
    number: str
    holder_name: str
    holder_id_number: str = Field(description="Masked: first 3 and last 4 characters.")
    issued_on: date
    expires_on: date
    renewal: bool
    submitted_at: datetime
    status: str = Field(examples=["pending_outlet_review"])
    outlet_approved_at: datetime | None
    spot_check_reason: str | None = Field(examples=["registry_not_found"])
    spot_check_from: date | None = Field(description="First China calendar day a training manager may act, if limited.")
    spot_check_allowed_today: bool | None = Field(description="Whether a spot check is possible today; None outside a spot check.")
    differences: list[DifferenceView] = Field(description="Where the upload and the safety registry disagree.")
    number_shared: bool = Field(description="Another engineer holds a certificate with the same number.")
    number_held_by: list[str]
    number_shared_notice: str | None
    photos: list[PhotoView]
    decisions: list[DecisionView]
    completed_outcome: str | None
    completed_reason: str | None


class QueueView(BaseModel):
    items: list[ReviewView]
    total: int
    limit: int
    offset: int


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", description="Why the certificate is rejected; the engineer reads it.", max_length=2000)


class SnapshotView(BaseModel):
    object_key: str
    sha256: str
    bytes: int
    records: int
    uploaded_by: str
    uploaded_at: datetime


def _difference_views(task_differences: Any) -> list[DifferenceView]:
    return [DifferenceView(field=d.field, uploaded=d.uploaded, registry=d.registry) for d in task_differences]


def build_router(
    service: ReviewService, photos: PhotoLinks, snapshots: SnapshotStore, catalogue: Catalogue, clock: Clock,
    max_page: int, snapshot_max_bytes: int,
) -> APIRouter:
    router = APIRouter(tags=["reviews"])
    reviewer_role = require_roles("outlet_manager", "training_manager")
    operator = require_roles("operator")

    async def view(task: ReviewTask) -> ReviewView:
        certificate_type = catalogue.certificates.get(task.certificate_type)
        in_spot_check = task.status == "pending_spot_check"
        return ReviewView(
            review_id=task.review_id,
            certificate_id=task.certificate_id,
            version=task.version,
            engineer_id=task.engineer_id,
            outlet_id=task.outlet_id,
            region_id=task.region_id,
            certificate_type=task.certificate_type,
            certificate_type_name=certificate_type.name if certificate_type else task.certificate_type,
            kind=task.kind,
            number=task.number,
            holder_name=task.holder_name,
            holder_id_number=mask_id_number(task.holder_id_number),
            issued_on=task.issued_on,
            expires_on=task.expires_on,
            renewal=task.renewal,
            submitted_at=task.submitted_at,
            status=task.status.value,
            outlet_approved_at=task.outlet_approved_at,
            spot_check_reason=task.spot_check_reason.value if task.spot_check_reason else None,
            spot_check_from=task.spot_check_from,
            spot_check_allowed_today=task.spot_check_allowed_on(china_date(clock.now())) if in_spot_check else None,
            differences=_difference_views(task.differences),
            number_shared=task.number_shared,
            number_held_by=list(task.number_held_by),
            number_shared_notice=NUMBER_SHARED_NOTICE if task.number_shared else None,
            photos=[PhotoView(key=p.key, url=p.url, expires_in_s=p.expires_in_s) for p in await photos.sign(list(task.photo_keys))],
            decisions=[
                DecisionView(
                    step=d.step.value, outcome=d.outcome, actor_id=d.actor_id, actor_role=d.actor_role,
                    decided_at=d.decided_at, reason=d.reason, differences=_difference_views(d.differences),
                )
                for d in task.decisions
            ],
            completed_outcome=task.completed_outcome,
            completed_reason=task.completed_reason,
        )

    @router.get("/tasks", summary="The caller's review queue: their outlet's pending reviews, or their region's spot checks")
    async def list_queue(
        principal: Principal = reviewer_role,
        limit: int = Query(20, ge=1, le=max_page, description="Page size."),
        offset: int = Query(0, ge=0, description="Tasks to skip, oldest first."),
    ) -> QueueView:
        tasks, total = await service.queue(reviewer_of(principal), limit=limit, offset=offset)
        return QueueView(items=[await view(task) for task in tasks], total=total, limit=limit, offset=offset)

    @router.get("/tasks/{review_id}", summary="One review with its photos and every decision")
    async def get_task(review_id: str, principal: Principal = reviewer_role) -> ReviewView:
        return await view(await service.get_for(reviewer_of(principal), review_id))

    @router.post("/tasks/{review_id}/approve", summary="Approve at the caller's step")
    async def approve(review_id: str, principal: Principal = reviewer_role) -> ReviewView:
        return await view(await service.approve(reviewer_of(principal), review_id))

    @router.post("/tasks/{review_id}/reject", summary="Reject with a reason the engineer reads")
    async def reject(review_id: str, body: RejectRequest, principal: Principal = reviewer_role) -> ReviewView:
        return await view(await service.reject(reviewer_of(principal), review_id, body.reason))

    @router.put(
        "/ops/registry-snapshot",
        summary="Upload a safety-registry snapshot (JSON lines or CSV) that replaces the current one",
        tags=["operations"],
    )
    async def upload_snapshot(request: Request, principal: Principal = operator) -> SnapshotView:
        data = await _read_limited(request, snapshot_max_bytes)
        records = parse_snapshot(data)
        pointer = await snapshots.save(data, records=len(records), uploaded_by=principal.subject, now=clock.now())
        return SnapshotView(**pointer)

    @router.get("/ops/registry-snapshot", summary="The current safety-registry snapshot", tags=["operations"])
    async def describe_snapshot(_principal: Principal = operator) -> SnapshotView | None:
        pointer = await snapshots.describe()
        return SnapshotView(**pointer) if pointer else None

    return router


def reviewer_of(principal: Principal) -> Reviewer:
    return Reviewer(
        account_id=principal.subject, role=principal.role, outlet_id=principal.outlet_id, region_id=principal.region_id
    )


async def _read_limited(request: Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RegistrySnapshotTooLarge(field="body", max_bytes=max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
