"""HTTP routes of certificate-svc, mounted under /api/certificate.

Engineers manage their own certificates only; anyone else's certificate returns 404. Outlet managers
read the reminders of their own outlet.
"""

from datetime import date
from typing import Any

from fastapi import APIRouter, status

from bangke_runtime.auth import CurrentPrincipal, Principal, require_roles

from ..service_layer import certificates as use_cases
from ..service_layer.dependencies import Dependencies
from ..domain.model import Certificate
from ..domain.validation import Details
from .schemas import (
    CertificateDraftIn,
    CertificateTypeView,
    CertificateView,
    DetailsChangesIn,
    NotificationView,
    PhotoAttachIn,
    PhotoSide,
    PhotoUploadView,
    RenewalIn,
)


def build_router(deps: Dependencies) -> APIRouter:
    router = APIRouter()
    engineer = require_roles("engineer")
    reader = require_roles("engineer", "outlet_manager")

    def view(certificate: Certificate) -> CertificateView:
        return CertificateView.of(certificate, deps.catalogue)

    @router.get("/types", summary="List the certificate types of the catalogue", tags=["catalogue"])
    async def list_types(_principal: CurrentPrincipal) -> list[CertificateTypeView]:
        return [CertificateTypeView.of(item) for item in deps.catalogue.certificate_types]

    @router.post(
        "/certificates", status_code=status.HTTP_201_CREATED, tags=["certificates"],
        summary="Create a certificate as a draft (details first, photos next)",
    )
    async def create_certificate(body: CertificateDraftIn, principal: Principal = engineer) -> CertificateView:
        details = Details(**body.model_dump(exclude={"certificate_type"}))
        return view(await use_cases.create_draft(deps, principal.subject, body.certificate_type, details))

    @router.get("/certificates", summary="List own certificates with versions and decisions", tags=["certificates"])
    async def list_certificates(principal: Principal = engineer) -> list[CertificateView]:
        return [view(certificate) for certificate in await use_cases.list_own(deps, principal.subject)]

    @router.get("/certificates/{certificate_id}", summary="Read one own certificate", tags=["certificates"])
    async def get_certificate(certificate_id: str, principal: Principal = engineer) -> CertificateView:
        return view(await use_cases.load_owned(deps, principal.subject, certificate_id))

    @router.patch("/certificates/{certificate_id}/draft", summary="Change the draft's details", tags=["certificates"])
    async def update_draft(certificate_id: str, body: DetailsChangesIn, principal: Principal = engineer) -> CertificateView:
        return view(await use_cases.update_draft(deps, principal.subject, certificate_id, body.changes()))

    @router.post(
        "/certificates/{certificate_id}/photos/{side}/upload-url", tags=["certificates"],
        summary="Get a presigned URL to upload the draft's front or back photo",
    )
    async def request_photo_upload(certificate_id: str, side: PhotoSide, principal: Principal = engineer) -> PhotoUploadView:
        upload = await use_cases.request_photo_upload(deps, principal.subject, certificate_id, side)
        return PhotoUploadView.of(side, upload)

    @router.put(
        "/certificates/{certificate_id}/photos/{side}", tags=["certificates"],
        summary="Attach an uploaded photo after checking its size and real type",
    )
    async def attach_photo(
        certificate_id: str, side: PhotoSide, body: PhotoAttachIn, principal: Principal = engineer
    ) -> CertificateView:
        return view(await use_cases.attach_photo(deps, principal.subject, certificate_id, side, body.key))

    @router.post("/certificates/{certificate_id}/submit", summary="Submit the draft for review", tags=["certificates"])
    async def submit(certificate_id: str, principal: Principal = engineer) -> CertificateView:
        return view(await use_cases.submit(deps, principal.subject, certificate_id))

    @router.post("/certificates/{certificate_id}/withdraw", summary="Withdraw the version under review", tags=["certificates"])
    async def withdraw(certificate_id: str, principal: Principal = engineer) -> CertificateView:
        return view(await use_cases.withdraw(deps, principal.subject, certificate_id))

    @router.post(
        "/certificates/{certificate_id}/renewal", status_code=status.HTTP_201_CREATED, tags=["certificates"],
        summary="Start a renewal: a new draft version; the version in effect stays in effect meanwhile",
    )
    async def start_renewal(certificate_id: str, body: RenewalIn, principal: Principal = engineer) -> CertificateView:
        return view(await use_cases.start_renewal(deps, principal.subject, certificate_id, body.changes()))

    @router.post(
        "/certificates/{certificate_id}/correction", status_code=status.HTTP_201_CREATED, tags=["certificates"],
        summary="Correct a rejected or withdrawn version: a new draft with its details and photos",
    )
    async def start_correction(
        certificate_id: str, body: DetailsChangesIn, principal: Principal = engineer
    ) -> CertificateView:
        return view(await use_cases.start_correction(deps, principal.subject, certificate_id, body.changes()))

    @router.get("/notifications", summary="List expiry reminders: own, or the outlet's for a manager", tags=["notifications"])
    async def list_notifications(principal: Principal = reader) -> list[NotificationView]:
        if principal.role == "engineer":
            documents = await deps.notifications.list({"engineer_id": principal.subject})
        elif principal.outlet_id:
            documents = await deps.notifications.list({"outlet_id": principal.outlet_id})
        else:
            documents = []
        names = await deps.engineers.names(sorted({document["engineer_id"] for document in documents}))
        return [_notification_view(deps, document, names, principal.role) for document in documents]

    return router


def _notification_view(
    deps: Dependencies, document: dict[str, Any], names: dict[str, str], role: str
) -> NotificationView:
    certificate_type = deps.catalogue.certificates.get(document["subject_type"])
    type_name = certificate_type.name if certificate_type else document["subject_type"]
    expires_on = date.fromisoformat(document["expires_on"])
    engineer_name = names.get(document["engineer_id"], "")
    if role == "engineer":
        message = f"您的{type_name}证书将于 {expires_on.isoformat()} 到期，请及时上传换发后的证书并提交审核。"
    else:
        message = f"工程师{engineer_name}的{type_name}证书将于 {expires_on.isoformat()} 到期，请提醒其及时续期。"
    return NotificationView(
        reminder_id=document["reminder_id"],
        subject=document["subject"],
        certificate_id=document["subject_id"],
        certificate_type=document["subject_type"],
        certificate_type_name=type_name,
        engineer_id=document["engineer_id"],
        engineer_name=engineer_name,
        outlet_id=document["outlet_id"],
        version=document["version"],
        expires_on=expires_on,
        days_before=document["days_before"],
        created_at=document["created_at"],
        message=message,
    )
