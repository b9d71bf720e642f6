"""structlog set-up: JSON lines in production, readable console output locally.

A last processor masks anything shaped like a resident ID number, a mobile number or a JWT, so that
a careless log call cannot leak personal data or credentials.
"""

import logging
import re
import sys
from typing import Any

import structlog

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)1\d{10}(?!\d)")
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_SECRET_KEYS = {"password", "token", "access_token", "refresh_token", "authorization", "secret"}


def redact(text: str) -> str:
    """Mask ID numbers, mobile numbers and JWTs inside ``text``."""
    text = _JWT.sub("[jwt]", text)
    text = _ID_NUMBER.sub(lambda m: m.group(0)[:3] + "*" * 11 + m.group(0)[-4:], text)
    return _MOBILE.sub(lambda m: m.group(0)[:3] + "****" + m.group(0)[-4:], text)


def _redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event_dict.items()):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def configure_logging(service: str, log_format: str = "console", level: str = "INFO") -> None:
    """Route structlog and the standard library's logging through one renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.contextvars.bind_contextvars(service=service)
    # Access logs would carry query strings; the gateway keeps its own access log instead.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
