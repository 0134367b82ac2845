"""Structured JSON logs (structlog) with the request id on every API line."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

from rentguy_crm.config import Settings
from rentguy_crm.kit.context import current_request_id

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
_PHONE = re.compile(r"\+?\d[\d\s-]{6,}\d")
_SECRET_KEYS = {"password", "secret", "token", "api_key", "key", "authorization", "captcha_token"}


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        value = _EMAIL.sub(r"\1***@\2", value)
        return _PHONE.sub(lambda m: m.group(0)[:3] + "***" + m.group(0)[-2:], value)
    return value


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Personal data (e-mail, phone) and secrets never reach a log line in clear."""
    for key, value in list(event.items()):
        if key.lower() in _SECRET_KEYS or key.lower().endswith(("_secret", "_token", "_password")):
            event[key] = "***"
        else:
            event[key] = _mask(value)
    return event


def add_request_id(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = current_request_id()
    if request_id and "request_id" not in event:
        event["request_id"] = request_id
    return event


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelName(settings.log_level.upper())
    renderer: Any = structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level if isinstance(level, int) else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
