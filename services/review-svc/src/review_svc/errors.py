"""Errors of review-svc; each maps to one HTTP status and one stable code."""

from datetime import date

from bangke_runtime.errors import Conflict, Forbidden, NotFound, ValidationFailed


class ReviewNotFound(NotFound):
    code = "review_not_found"
    message = "审核任务不存在"


class SelfReviewForbidden(Forbidden):
    code = "self_review_forbidden"
    message = "不能审核自己的证书，请由其他审核人处理"


class ReviewNotAtStep(Conflict):
    code = "review_not_at_step"
    message = "该证书当前不在您的审核环节，请刷新后查看"


class ReviewChanged(Conflict):
    code = "review_changed"
    message = "该审核已被他人处理，请刷新后重试"


class RejectionReasonMissing(ValidationFailed):
    code = "rejection_reason_missing"
    message = "驳回时必须填写原因（工程师会看到该原因）"


class RejectionReasonTooLong(ValidationFailed):
    code = "rejection_reason_too_long"
    message = "驳回原因过长，请精简到 500 字以内后重试"


class SpotCheckTooEarly(Conflict):
    """A spot check of a certificate the registry did not confirm, tried on the day of the outlet approval."""

    code = "spot_check_too_early"

    def __init__(self, review_id: str, first_allowed_on: date) -> None:
        super().__init__(
            f"安监网未能确认该证书，培训经理须从网点经理审核通过的次日起抽查，最早可于 {first_allowed_on.isoformat()}（北京时间）操作",
            review_id=review_id,
            first_allowed_on=first_allowed_on.isoformat(),
        )


class RegistrySnapshotInvalid(ValidationFailed):
    code = "registry_snapshot_invalid"
    message = "安监网数据快照格式有误，请按提示修改后重新上传"


class RegistrySnapshotTooLarge(ValidationFailed):
    code = "registry_snapshot_too_large"
    message = "安监网数据快照过大，请拆分或压缩字段后重新上传"
