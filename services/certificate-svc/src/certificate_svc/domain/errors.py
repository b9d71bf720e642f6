"""Errors of certificate-svc: each maps to one HTTP status and one stable code.

They subclass the runtime's ``AppError`` (a plain exception with a status, a code, a Chinese message
and details), so the domain raises them directly and the HTTP boundary renders them unchanged.
"""

from bangke_runtime.errors import Conflict, NotFound, ValidationFailed


class CertificateNotFound(NotFound):
    code = "certificate_not_found"
    message = "证书不存在"


class CertificateTypeUnknown(ValidationFailed):
    code = "certificate_type_unknown"
    message = "证书类型不存在，请从证书类型列表中选择"


class CertificateTypeExists(Conflict):
    code = "certificate_type_exists"
    message = "您已有该类型的证书，请在原证书上续期或修改后重新提交"


class EngineerUnknown(Conflict):
    code = "engineer_unknown"
    message = "账号信息同步中，请稍后重试"


class ConcurrentUpdate(Conflict):
    code = "certificate_changed"
    message = "证书刚被更新，请刷新后重试"


# --- field validation -------------------------------------------------------------------------


class IdNumberInvalid(ValidationFailed):
    code = "holder_id_number_invalid"
    message = "持证人身份证号无效，请核对后重新输入"


class NumberFormatInvalid(ValidationFailed):
    code = "number_format_invalid"
    message = "证书编号格式不正确，请按证书上的编号填写"


class ExpiryNotAfterIssue(ValidationFailed):
    code = "expiry_not_after_issue"
    message = "有效期截止日期必须晚于发证日期，请核对证书上的日期"


class IssuedInFuture(ValidationFailed):
    code = "issued_in_future"
    message = "发证日期不能晚于今天，请核对证书上的日期"


class CertificateAlreadyExpired(ValidationFailed):
    code = "certificate_already_expired"
    message = "证书已过有效期，请上传有效期内的证书"


class RenewalNotLater(ValidationFailed):
    code = "renewal_expiry_not_later"
    message = "续期证书的有效期截止日期必须晚于当前证书，请上传换发后的新证书"


class HolderMismatch(ValidationFailed):
    code = "holder_mismatch"
    message = "持证人信息与您实名认证的信息不一致，请上传本人的证书"


class PhotoKeyInvalid(ValidationFailed):
    code = "photo_key_invalid"
    message = "照片地址无效，请先申请上传地址，上传后用返回的 key 关联"


# --- state machine ----------------------------------------------------------------------------


class PhotosMissing(ValidationFailed):
    code = "photos_missing"
    message = "请先上传证书正面和反面照片再提交审核"


class NoDraft(Conflict):
    code = "no_draft"
    message = "证书当前没有可编辑的草稿；被驳回或已撤回的证书请先发起修改，生效中的证书请发起续期"


class NothingUnderReview(Conflict):
    code = "not_under_review"
    message = "证书当前没有审核中的版本，无法撤回"


class VersionAlreadyOpen(Conflict):
    code = "version_already_open"
    message = "证书已有草稿或审核中的版本，请先完成或撤回后再操作"


class RenewalNotPossible(Conflict):
    code = "renewal_not_possible"
    message = "只有生效中或已过期的证书可以续期；被驳回的证书请修改后重新提交"


class NothingToCorrect(Conflict):
    code = "nothing_to_correct"
    message = "只有被驳回或已撤回的证书可以修改后重新提交"


class NotInEffect(Conflict):
    code = "not_in_effect"
    message = "证书当前没有生效的版本"
