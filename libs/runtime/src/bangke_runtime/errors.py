"""One error format for every HTTP API.

Each error has a stable English ``code`` for programs, a Simplified Chinese ``message`` for people,
and ``details`` naming the fields involved. Services raise subclasses of ``AppError``.
"""

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger()


class ErrorBody(BaseModel):
    code: str = Field(description="Stable English error code.", examples=["certificate_not_found"])
    message: str = Field(description="Message for the user, in Simplified Chinese.", examples=["证书不存在"])
    details: dict[str, Any] = Field(default_factory=dict, description="Fields involved and how to fix them.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class AppError(Exception):
    """An outcome the API reports to the caller; subclasses fix the status and the code."""

    status_code: int = 400
    code: str = "bad_request"
    message: str = "请求无效"

    def __init__(self, message: str | None = None, /, **details: Any) -> None:
        self.message = message or type(self).message
        self.details = details
        super().__init__(f"{self.code}: {self.details}")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "对象不存在"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "无权访问该对象"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "请先登录"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "状态冲突，请刷新后重试"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_failed"
    message = "输入有误"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "服务暂不可用，请稍后重试"


_PYDANTIC_MESSAGES = {
    "missing": "缺少必填字段",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "datetime_parsing": "时间格式应为 ISO 8601，并带时区",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "int_parsing": "应为整数",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "json_invalid": "请求体不是有效的 JSON",
    "extra_forbidden": "不允许的字段",
}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        fields.append(
            {
                "field": ".".join(location) or "body",
                "code": error.get("type", "invalid"),
                "message": _PYDANTIC_MESSAGES.get(error.get("type", ""), "取值无效"),
                "hint": str(error.get("msg", "")),
            }
        )
    return fields


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, expected or not, in the one error format."""

    @app.exception_handler(AppError)
    async def on_app_error(_request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        error = ValidationFailed("请求字段有误，请按提示修改后重试", fields=_field_errors(exc))
        return JSONResponse(error.body(), status_code=error.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ("not_found", "接口不存在"), 405: ("method_not_allowed", "不支持该请求方法")}
        code, message = codes.get(exc.status_code, ("http_error", "请求失败"))
        return JSONResponse({"error": {"code": code, "message": message, "details": {}}}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error", error_type=type(exc).__name__)
        return JSONResponse(
            {"error": {"code": "internal_error", "message": "服务器内部错误，请稍后重试", "details": {}}},
            status_code=500,
        )
