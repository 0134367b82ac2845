"""Structured JSON logs (structlog): the request id on every API line, run id, tenant and workflow on every
worker line (`bind_run`), and personal data and secrets masked before anything is written.

Lines from the standard library's loggers (uvicorn's error log, SQLAlchemy, httpx...) go through the same
processors, so a traceback printed by any of them is masked like our own lines."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from rentguy_crm.config import Settings
from rentguy_crm.kit.context import current_request_id

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
# A phone number starts with +, 00 or 0 and has at least 9 digits; dates and ids (which start otherwise) are kept.
_PHONE = re.compile(r"(?<![\w.+-])(?:\+|0)\d[\d\s().-]{6,}\d(?![\w-])")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_API_KEY = re.compile(r"\brg_[A-Za-z0-9_-]{16,}")
# Values echoed inside exception text: SQLAlchemy's bound parameters, pydantic's rejected input.
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.S)
_INPUT_VALUE = re.compile(r"input_value=.*?, input_type=")
_URL_SECRET = re.compile(r"(https://hooks\.slack\.com/services/)[^\s\"']+")
_SECRET_KEYS = {"password", "secret", "token", "api_key", "key", "authorization", "captcha_token", "credentials",
                "webhook_url", "api_url", "dsn", "cookie"}
_SECRET_SUFFIXES = ("_secret", "_token", "_password", "_key", "_credentials")
# Fields the suite itself writes; masking them would only garble timestamps and ids.
_TRUSTED_KEYS = {"timestamp", "level", "logger", "request_id", "run_id", "tenant", "workflow", "worker"}


def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(ch.isdigit() for ch in text) < 9:
        return text
    return text[:3] + "***" + text[-2:]


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        value = _SQL_PARAMETERS.sub("[parameters: ***]", value)
        value = _INPUT_VALUE.sub("input_value=***, input_type=", value)
        value = _URL_SECRET.sub(r"\1***", value)
        value = _BEARER.sub(lambda m: m.group(1) + " ***", value)
        value = _API_KEY.sub("rg_***", value)
        value = _EMAIL.sub(r"\1***@\2", value)
        return _PHONE.sub(_mask_phone, value)
    if isinstance(value, dict):
        return {k: "***" if isinstance(k, str) and _is_secret_key(k) else _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_mask(v) for v in value]
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Personal data (e-mail, phone) and secrets never reach a log line in clear, however deeply nested."""
    for key, value in list(event.items()):
        if key in _TRUSTED_KEYS:
            continue
        event[key] = "***" if _is_secret_key(key) else _mask(value)
    return event


def add_request_id(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    request_id = current_request_id()
    if request_id and "request_id" not in event:
        event["request_id"] = request_id
    return event


@contextmanager
def bind_run(run_id: int, tenant: str, workflow: str, **extra: Any) -> Iterator[None]:
    """Every log line inside the block carries the run id, tenant and workflow (worker side).

    Uses structlog's context variables, so concurrent runs in one event loop each keep their own values.
    """
    with structlog.contextvars.bound_contextvars(run_id=run_id, tenant=tenant, workflow=workflow, **extra):
        yield


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written (it may be swapped after logging was configured)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _SuiteHandler(logging.StreamHandler):
    """The handler this module puts on the root logger (found again and replaced on reconfiguration)."""


# uvicorn's own access lines carry the query string and the client address: our access log replaces them.
_SILENCED = ("uvicorn.access",)
_ROUTED = ("uvicorn", "uvicorn.error")


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    level = logging.getLevelName(settings.log_level.upper())
    level = level if isinstance(level, int) else logging.INFO
    renderer: Any = structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = _SuiteHandler(stream or _CurrentStderr())
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redact, renderer],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _SuiteHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries say little worth keeping below WARNING (httpx would log every URL it calls at INFO).
    root.setLevel(max(level, logging.WARNING))
    for name in _ROUTED:
        # uvicorn installs its own plain-text handlers; its lines go through ours instead.
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in _SILENCED:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = False
        logger.disabled = True
