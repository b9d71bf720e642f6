"""HTTP API of qualification-svc: the catalogue, applications, withdrawals and the qualification lists."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from bangke_contracts.catalogue import Catalogue
from bangke_contracts.qualifications import NO_CERTIFICATE_VALID_UNTIL
from bangke_runtime.auth import CurrentPrincipal, Principal, RoleNotAllowed, require_roles
from bangke_runtime.errors import AppError, Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed

from ..domain import errors as rules
from ..domain.model import Engineer, Qualification, Status
from ..domain.next_step import NextStep, next_step
from ..domain.validity import best_certificate
from ..service_layer.handlers import ConcurrentUpdate, QualificationService, UnknownQualificationType
from .schemas import (
    ApplyRequest,
    CertificateTypeView,
    ExamResultView,
    LimitingCertificateView,
    NextStepView,
    QualificationTypeView,
    QualificationView,
    RequiredCertificateView,
)


class QualificationTypeUnknown(ValidationFailed):
    code = "qualification_type_unknown"
    message = "资质类型不存在，请从资质目录中选择"


class EngineerNotAuthenticatedError(Forbidden):
    code = "engineer_not_authenticated"
    message = "您尚未完成实名认证，请先完成实名认证后再申请资质"


class CertificateNotInEffect(Conflict):
    code = "certificate_not_in_effect"


class QualificationLimitReachedError(Conflict):
    code = "qualification_limit_reached"


class QualificationAlreadyHeldError(Conflict):
    code = "qualification_already_held"


class QualificationNotFoundError(NotFound):
    code = "qualification_not_found"
    message = "资质不存在"


class QualificationNotPendingError(Conflict):
    code = "qualification_not_pending"
    message = "只有尚未生效的资质申请可以撤回"


class EngineerBusy(ServiceUnavailable):
    code = "engineer_busy"
    message = "该工程师的资料正在更新，请稍后重试"


def _certificate_name(catalogue: Catalogue, code: str) -> str:
    found = catalogue.certificates.get(code)
    return found.name if found else code


def _qualification_name(catalogue: Catalogue, code: str) -> str:
    found = catalogue.qualifications.get(code)
    return found.name if found else code


def to_app_error(error: Exception, catalogue: Catalogue) -> AppError:
    """Translate a broken rule into the error response the engineer reads."""
    match error:
        case UnknownQualificationType():
            return QualificationTypeUnknown(
                field="qualification_type", value=error.qualification_type, known=sorted(catalogue.qualifications)
            )
        case rules.EngineerNotAuthenticated():
            return EngineerNotAuthenticatedError(engineer_id=error.engineer_id)
        case rules.CertificatesMissing():
            names = [_certificate_name(catalogue, code) for code in error.missing]
            quoted = "、".join(f"「{name}」" for name in names)
            return CertificateNotInEffect(
                f"申请「{_qualification_name(catalogue, error.qualification_type)}」需要有效的{quoted}证书。"
                f"请先上传{quoted}证书并通过审核，证书生效后再申请",
                field="qualification_type",
                missing_certificates=[{"certificate_type": c, "name": n} for c, n in zip(error.missing, names)],
            )
        case rules.QualificationLimitReached():
            return QualificationLimitReachedError(
                f"每位工程师最多持有 {error.limit} 项资质（申请中和已生效的合计），请先撤回不需要的申请再申请新资质",
                limit=error.limit,
            )
        case rules.QualificationAlreadyHeld():
            return _already_held(error, catalogue)
        case rules.QualificationNotFound():
            return QualificationNotFoundError(qualification_id=error.qualification_id)
        case rules.QualificationNotPending():
            return QualificationNotPendingError(qualification_id=error.qualification_id, status=error.status)
        case ConcurrentUpdate():
            return EngineerBusy()
    raise error


def _already_held(error: rules.QualificationAlreadyHeld, catalogue: Catalogue) -> AppError:
    name = _qualification_name(catalogue, error.qualification_type)
    renew = "重复申请不会延长有效期；如需延长，请更新（重审）所需证书，新证书生效后资质有效期会自动延长"
    if error.status == Status.GRANTED:
        message = f"您已持有「{name}」资质，有效期至 {error.valid_until}。{renew}"
    else:
        message = f"您已申请「{name}」资质，请参加该资质的考试，无需重复申请。{renew}"
    return QualificationAlreadyHeldError(
        message, qualification_id=error.qualification_id, status=str(error.status),
        valid_until=error.valid_until.isoformat() if error.valid_until else None,
    )


def _next_step_message(step: NextStep, catalogue: Catalogue, qualification_name: str) -> str:
    certificate = f"「{_certificate_name(catalogue, step.certificate_type)}」" if step.certificate_type else ""
    return {
        "take_exam": f"请参加「{qualification_name}」考试，80 分及以上即通过，资质自动生效；未通过可重考",
        "upload_certificate": f"请上传{certificate}证书并通过审核，然后参加考试",
        "renew_certificate": f"资质有效期由{certificate}证书决定；如需延长，请更新（重审）该证书，无需重新申请资质",
        "apply_again": "资质已失效，请重新申请并参加考试",
        "none": "无需操作",
    }[step.code]


def qualification_view(engineer: Engineer, q: Qualification, catalogue: Catalogue, today: date) -> QualificationView:
    name = _qualification_name(catalogue, q.qualification_type)
    step = next_step(engineer, q, today)
    required = []
    for code in q.required_certificates:
        held = best_certificate(code, engineer.certificates, today)
        required.append(
            RequiredCertificateView(
                certificate_type=code, name=_certificate_name(catalogue, code),
                in_effect=held is not None, expires_on=held.expires_on if held else None,
            )
        )
    limiting = None
    if q.limiting_certificate_type is not None:
        limiting = LimitingCertificateView(
            certificate_type=q.limiting_certificate_type,
            name=_certificate_name(catalogue, q.limiting_certificate_type),
            certificate_id=q.limiting_certificate_id,
        )
    return QualificationView(
        qualification_id=q.qualification_id,
        engineer_id=engineer.engineer_id,
        engineer_name=engineer.name,
        outlet_id=engineer.outlet_id,
        region_id=engineer.region_id,
        qualification_type=q.qualification_type,
        name=name,
        status=q.status.value,
        in_effect=q.status == Status.GRANTED and q.valid_until is not None and today <= q.valid_until,
        applied_at=q.applied_at,
        granted_at=q.granted_at,
        valid_until=q.valid_until,
        limiting_certificate=limiting,
        required_certificates=required,
        passed_score=q.passed_score,
        exam_results=[ExamResultView(attempt_id=r.attempt_id, score=r.score, passed=r.passed, finished_at=r.finished_at)
                      for r in q.exam_results],
        withdrawn_at=q.withdrawn_at,
        lapsed_at=q.lapsed_at,
        lapse_reason=q.lapse_reason,
        next_step=NextStepView(code=step.code, certificate_type=step.certificate_type,
                               message=_next_step_message(step, catalogue, name)),
    )


def _scope(principal: Principal) -> dict[str, str] | None:
    """Return the document filter of what ``principal`` may read; None for every engineer."""
    match principal.role:
        case "engineer":
            return {"_id": principal.subject}
        case "outlet_manager" if principal.outlet_id:
            return {"outlet_id": principal.outlet_id}
        case "training_manager" if principal.region_id:
            return {"region_id": principal.region_id}
        case "operator":
            return None
    raise RoleNotAllowed(role=principal.role, allowed=["engineer", "outlet_manager", "training_manager", "operator"])


def _in_scope(engineer: Engineer, scope: dict[str, str] | None) -> bool:
    if scope is None:
        return True
    values = {"_id": engineer.engineer_id, "outlet_id": engineer.outlet_id, "region_id": engineer.region_id}
    return all(values[key] == value for key, value in scope.items())


def build_router(service: QualificationService) -> APIRouter:
    router = APIRouter(tags=["qualifications"])
    catalogue = service.catalogue
    engineer_only = require_roles("engineer")

    def today() -> date:
        return service.clock.today_in_china()

    @router.get("/types", summary="Qualification types and the certificates each needs")
    async def list_types(_principal: CurrentPrincipal) -> list[QualificationTypeView]:
        return [
            QualificationTypeView(
                code=kind.code,
                name=kind.name,
                required_certificates=[
                    CertificateTypeView(code=code, name=_certificate_name(catalogue, code))
                    for code in kind.required_certificates
                ],
                valid_until_without_certificates=None if kind.required_certificates else NO_CERTIFICATE_VALID_UNTIL,
            )
            for kind in catalogue.qualification_types
        ]

    @router.post("/qualifications", status_code=status.HTTP_201_CREATED, summary="Apply for a qualification")
    async def apply(body: ApplyRequest, principal: Principal = engineer_only) -> QualificationView:
        try:
            engineer, qualification = await service.apply(principal.subject, body.qualification_type)
        except (rules.QualificationRuleBroken, UnknownQualificationType, ConcurrentUpdate) as error:
            raise to_app_error(error, catalogue) from error
        return qualification_view(engineer, qualification, catalogue, today())

    @router.post("/qualifications/{qualification_id}/withdraw", summary="Withdraw a pending application")
    async def withdraw(qualification_id: str, principal: Principal = engineer_only) -> QualificationView:
        try:
            engineer, qualification = await service.withdraw(principal.subject, qualification_id)
        except (rules.QualificationRuleBroken, ConcurrentUpdate) as error:
            raise to_app_error(error, catalogue) from error
        return qualification_view(engineer, qualification, catalogue, today())

    @router.get("/qualifications", summary="Qualifications in the caller's scope")
    async def list_qualifications(
        principal: CurrentPrincipal,
        engineer_id: Annotated[str | None, Query(max_length=64, description="Only this engineer's.")] = None,
        status_filter: Annotated[Status | None, Query(alias="status", description="Only this status.")] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="Maximum number of engineers read.")] = 200,
    ) -> list[QualificationView]:
        scope = _scope(principal)
        query = dict(scope or {})
        if engineer_id is not None:
            if query.get("_id", engineer_id) != engineer_id:
                return []
            query["_id"] = engineer_id
        day = today()
        views = []
        for engineer in await service.repository.find_scope(query, limit):
            for q in engineer.qualifications:
                if status_filter is None or q.status == status_filter:
                    views.append(qualification_view(engineer, q, catalogue, day))
        return views

    @router.get("/qualifications/{qualification_id}", summary="One qualification in the caller's scope")
    async def get_qualification(qualification_id: str, principal: CurrentPrincipal) -> QualificationView:
        scope = _scope(principal)
        engineer = await service.repository.find_by_qualification(qualification_id)
        if engineer is None or not _in_scope(engineer, scope):
            raise QualificationNotFoundError(qualification_id=qualification_id)
        return qualification_view(engineer, engineer.find(qualification_id), catalogue, today())

    return router
