"""Errors of order-svc: each names the case, carries the ids involved and maps to one HTTP status."""

from bangke_runtime.errors import Conflict, Forbidden, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "工单不存在"


class ServiceTypeUnknown(ValidationFailed):
    code = "service_type_unknown"
    message = "服务类型不存在，请从服务类型列表中选择"


class EvidenceKindUnknown(ValidationFailed):
    code = "evidence_kind_unknown"
    message = "凭证类型不存在，请从该服务类型的凭证类型中选择"


class AppointmentInvalid(ValidationFailed):
    code = "appointment_invalid"
    message = "预约时间无效"


class OutsideScope(Forbidden):
    """The caller names an outlet or region outside their own scope."""

    code = "outside_scope"
    message = "只能为自己负责的网点或大区创建和派发工单"


class MediaTypeNotAllowed(ValidationFailed):
    code = "media_type_not_allowed"
    message = "文件类型不支持"


class UploadKeyInvalid(ValidationFailed):
    code = "upload_key_invalid"
    message = "上传文件的标识无效，请使用本工单申请上传地址时返回的 key"


class OrderStateConflict(Conflict):
    code = "order_state_conflict"
    message = "工单当前状态不允许此操作"


class OrderChangedConcurrently(Conflict):
    code = "order_changed"
    message = "工单已被他人更新，请刷新后重试"


class EngineerNotEligible(Conflict):
    code = "engineer_not_eligible"
    message = "工程师不具备该工单所需的有效资质"


class EvidenceMissing(Conflict):
    code = "evidence_missing"
    message = "还缺少必需的施工凭证，请上传后再完工"


class EvidenceAlreadyRecorded(Conflict):
    code = "evidence_already_recorded"
    message = "该文件已登记为本工单的凭证"
