"""The one error hierarchy of the suite and its translation into RFC 9457 problem JSON."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://docs.rentguy.nl/problems/"

log = structlog.get_logger(__name__)


class AppError(Exception):
    """An error the client can act on. Subclasses fix the status and the problem type."""

    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(AppError):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(AppError):
    status, code, title = 422, "validation-failed", "Validation failed"


class TooManyRequests(AppError):
    status, code, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(AppError):
    status, code, title = 503, "service-unavailable", "Service unavailable"


def problem_response(error: AppError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        error.to_problem(instance),
        status_code=error.status,
        headers=error.headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


def field_errors(raw: list[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI validation errors as `{field, message, type}` with dotted field paths."""
    out = []
    for err in raw:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path", "header")]
        out.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid"), "type": err.get("type")})
    return out


_STATUS_ERRORS: dict[int, type[AppError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 415: UnsupportedMediaType, 422: ValidationFailed, 429: TooManyRequests,
    503: ServiceUnavailable,
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(list(exc.errors()))
        if any(e["type"] == "json_invalid" for e in errors):
            detail = "The request body is not valid JSON."
        else:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(ValidationFailed(detail, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _STATUS_ERRORS.get(exc.status_code)
        if cls is None:
            cls = type("HTTPError", (AppError,), {"status": exc.status_code, "code": "http-error", "title": "Error"})
        detail = exc.detail if isinstance(exc.detail, str) else cls.title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route matches {request.method} {request.url.path}."
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
        return problem_response(cls(detail, headers=dict(exc.headers or {})), request)

    @app.exception_handler(OperationalError)
    async def _database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        # The database is down, restarting, or (SQLite) busy with another writer: the request changed nothing
        # and may simply be sent again, so say that instead of an internal error.
        log.warning("database_unavailable", path=request.url.path, error=str(exc.orig)[:200])
        return problem_response(ServiceUnavailable(
            "The database is busy or unreachable; nothing was changed. Retry in a moment.",
            headers={"Retry-After": "2"}), request)

    # Anything else is answered by kit.http.UnhandledErrorMiddleware: a logged 500 that keeps the connection.
