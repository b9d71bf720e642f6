"""Errors of identity-svc: each maps to one HTTP status and one stable code, with a Chinese message."""

from bangke_runtime.errors import AppError, Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed


class IdNumberInvalid(ValidationFailed):
    code = "id_number_invalid"
    message = "身份证号无效"


class EngineerUnderage(ValidationFailed):
    code = "engineer_underage"
    message = "工程师须年满 18 周岁才能注册"


class MobileInvalid(ValidationFailed):
    code = "mobile_invalid"
    message = "手机号应为 11 位数字，以 1 开头，请核对后重新输入"


class CreditCodeInvalid(ValidationFailed):
    code = "credit_code_invalid"
    message = "统一社会信用代码无效"


class PasswordTooWeak(ValidationFailed):
    code = "password_too_weak"
    message = "密码须为 8 到 64 位，且同时包含字母和数字"


class FieldInvalid(ValidationFailed):
    code = "field_invalid"
    message = "输入有误"


class CredentialsInvalid(Unauthorized):
    code = "credentials_invalid"
    message = "手机号或密码错误"


class AccountDisabled(Forbidden):
    code = "account_disabled"
    message = "该账号已停用，请联系管理员"


class TooManyAttempts(AppError):
    status_code = 429
    code = "too_many_attempts"
    message = "登录失败次数过多，请稍后再试"

    def __init__(self, retry_after_s: int, scope: str) -> None:
        minutes = max(1, -(-retry_after_s // 60))
        super().__init__(
            f"登录失败次数过多，请在 {minutes} 分钟后重试",
            retry_after_s=retry_after_s,
            scope=scope,
        )
        self.retry_after_s = retry_after_s


class RefreshTokenInvalid(Unauthorized):
    code = "refresh_token_invalid"
    message = "刷新令牌无效，请重新登录"


class RefreshTokenExpired(Unauthorized):
    code = "refresh_token_expired"
    message = "刷新令牌已过期，请重新登录"


class RefreshTokenRevoked(Unauthorized):
    code = "refresh_token_revoked"
    message = "刷新令牌已失效，请重新登录"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "刷新令牌已被使用过，为保护账号安全，该设备的登录已全部失效，请重新登录"


class MobileAlreadyRegistered(Conflict):
    code = "mobile_already_registered"
    message = "该手机号已注册，请直接登录或更换手机号"


class IdNumberAlreadyRegistered(Conflict):
    code = "id_number_already_registered"
    message = "该身份证号已注册工程师账号，同一人不能重复注册"


class CreditCodeAlreadyRegistered(Conflict):
    code = "credit_code_already_registered"
    message = "该统一社会信用代码已注册服务商"


class RegionNameTaken(Conflict):
    code = "region_name_taken"
    message = "已有同名大区，请换一个名称"


class OutletNameTaken(Conflict):
    code = "outlet_name_taken"
    message = "该服务商已有同名网点，请换一个名称"


class ProviderNotFound(NotFound):
    code = "provider_not_found"
    message = "服务商不存在"


class ProviderNotApproved(Conflict):
    code = "provider_not_approved"
    message = "服务商尚未通过审核，审核通过后才能进行此操作"


class ProviderNotPending(Conflict):
    code = "provider_not_pending"
    message = "该服务商不在待审核状态，不能重复审核"


class RegionNotFound(NotFound):
    code = "region_not_found"
    message = "大区不存在"


class OutletNotFound(NotFound):
    code = "outlet_not_found"
    message = "网点不存在"


class EngineerNotFound(NotFound):
    code = "engineer_not_found"
    message = "工程师不存在"


class AccountNotFound(NotFound):
    code = "account_not_found"
    message = "账号不存在"


class StaffScopeInvalid(ValidationFailed):
    code = "staff_scope_invalid"
    message = "管理人员的管辖范围不正确"


class ActionNotAllowed(Forbidden):
    code = "action_not_allowed"
    message = "当前账号无权执行此操作"

