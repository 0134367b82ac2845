"""ASGI middleware that knows no domain: request ids, one access log line per request, a clean 500 for
unexpected errors, body size limits, JSON content type and nesting depth."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rentguy_crm.errors import PROBLEM_BASE, PROBLEM_CONTENT_TYPE
from rentguy_crm.kit.context import reset_request_id, set_request_id
from rentguy_crm.kit.inputs import MAX_JSON_DEPTH, json_depth_exceeds

BODY_METHODS = {"POST", "PUT", "PATCH"}

access_log = structlog.get_logger("rentguy_crm.access")
error_log = structlog.get_logger("rentguy_crm.errors")


async def send_problem(send: Send, status: int, code: str, title: str, detail: str, path: str,
                       errors: list[dict[str, Any]] | None = None) -> None:
    problem: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail,
                               "instance": path}
    if errors:
        problem["errors"] = errors
    body = json.dumps(problem).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RouteTemplates:
    """Path templates (`/api/v1/crm/leads/{lead_id}`) of an app's routes, included routers walked through, so
    a log line can name the route of any request (also one refused before routing) without its values."""

    def __init__(self, routes: list[Any]) -> None:
        self.source_size = len(routes)
        self.patterns: list[tuple[re.Pattern[str], str]] = []
        self._add(routes, "")
        self._cache: dict[str, str] = {}

    def _add(self, routes: list[Any], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:  # a router included with a prefix
                context = getattr(route, "include_context", None)
                self._add(list(inner.routes), prefix + str(getattr(context, "prefix", "") or ""))
                continue
            path = getattr(route, "path", None)
            if isinstance(path, str):
                template = prefix + path
                self.patterns.append((compile_path(template)[0], template))
            elif hasattr(route, "routes"):
                self._add(list(route.routes), prefix)

    def match(self, path: str) -> str:
        found = self._cache.get(path)
        if found is None:
            found = next((template for pattern, template in self.patterns if pattern.match(path)), "(no route)")
            if len(self._cache) > 2048:  # paths carry ids: keep the memo bounded
                self._cache.clear()
            self._cache[path] = found
        return found


def route_template(scope: Scope) -> str:
    """The path template of the request's route: never the ids or other values in the path."""
    app = scope.get("app")
    routes = getattr(app, "routes", None)
    if routes is None:
        return "(no route)"
    # Kept on the app itself, rebuilt when routes were added since (tests add routes to a made app).
    templates: RouteTemplates | None = getattr(app, "_crm_route_templates", None)
    if templates is None or templates.source_size != len(routes):
        templates = RouteTemplates(list(routes))
        app._crm_route_templates = templates  # type: ignore[union-attr]
    return templates.match(scope["path"])


class RequestIdMiddleware:
    """Takes `X-Request-ID` from the client (or makes one) and echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = given if given and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = set_request_id(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_request_id(token)


class AccessLogMiddleware:
    """One line per request: request id, method, route template, status, duration and tenant.

    No query string, path values, client address or body: those can hold personal data. The tenant is what
    authentication or lead capture put in the request state (`request.state.tenant`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        logged = False

        def write_line(**extra: Any) -> None:
            nonlocal logged
            logged = True
            state = scope.get("state") or {}
            tenant = state.get("tenant")
            access_log.info("request", method=scope["method"], route=route_template(scope), status=status or 500,
                            duration_ms=round((time.perf_counter() - started) * 1000, 1),
                            tenant=tenant if isinstance(tenant, str) else None, **extra)

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body", False) and not logged:
                # Written before the last byte goes out, so the line exists once the client has its answer.
                write_line()
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if not logged:
                write_line(aborted=True)


class UnhandledErrorMiddleware:
    """An unexpected error becomes a logged 500 problem response here, and goes no further.

    Letting it reach the server would make uvicorn log a second, unmasked traceback and drop the keep-alive
    connection under the client's next request. Only a response already half sent is passed on, since then
    closing the connection is the one honest thing left."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            error_log.exception("unhandled_error", method=scope["method"], route=route_template(scope))
            if not started:
                await send_problem(send, 500, "internal-error", "Internal error",
                                   "An unexpected error occurred; it has been logged.", scope["path"])
            elif not finished:
                raise


class BodyLimitMiddleware:
    """Refuses bodies above a limit (413), non-JSON bodies on JSON routes (415), bodies that are not UTF-8 and
    JSON nested deeper than MAX_JSON_DEPTH (422) before any handler or parser runs.

    `limit_for(path)` gives the byte limit of a path, so the public lead route can be stricter than the rest.
    Paths for which `json_only(path)` is false (form posts, webhooks with their own parsing) skip the JSON checks.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int],
                 json_only: Callable[[str], bool] = lambda _p: True,
                 on_refused: Callable[[Scope, int], None] | None = None) -> None:
        self.app = app
        self.limit_for = limit_for
        self.json_only = json_only
        self.on_refused = on_refused

    async def _refuse(self, scope: Scope, send: Send, status: int, code: str, title: str, detail: str,
                      errors: list[dict[str, Any]] | None = None) -> None:
        if self.on_refused is not None:
            self.on_refused(scope, status)
        await send_problem(send, status, code, title, detail, scope["path"], errors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.limit_for(path)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(scope, send, 400, "bad-request", "Bad request", "Content-Length is not a number.")
                return
            if int(declared) > limit:
                await self._refuse(scope, send, 413, "payload-too-large", "Request body too large",
                                   f"The body is {declared} bytes; this route accepts at most {limit}.")
                return
        has_body = declared != "0" and (declared is not None or "transfer-encoding" in headers)
        json_route = self.json_only(path)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and json_route and not (ctype == "application/json" or ctype.endswith("+json")):
            await self._refuse(scope, send, 415, "unsupported-media-type", "Unsupported media type",
                               f"Send the body as application/json (got '{ctype or 'none'}').")
            return
        if not has_body:
            await self.app(scope, receive, send)
            return

        # Read the (bounded) body once, check it, and hand the same bytes to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send, 413, "payload-too-large", "Request body too large",
                                   f"The body is larger than the {limit} bytes this route accepts.")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_route and not _is_utf8(body):
            await self._refuse(scope, send, 422, "validation-failed", "Validation failed",
                               "The request body is not UTF-8 text, so it is not JSON.",
                               errors=[{"field": "body", "message": "not UTF-8 text", "type": "json_invalid"}])
            return
        if json_route and json_depth_exceeds(body):
            message_text = f"nested deeper than {MAX_JSON_DEPTH} levels"
            await self._refuse(scope, send, 422, "validation-failed", "Validation failed",
                               f"The request body is {message_text}.",
                               errors=[{"field": "body", "message": message_text, "type": "json_depth"}])
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _is_utf8(body: bytes) -> bool:
    # JSON travels as UTF-8 (RFC 8259); anything else would reach the parser as an opaque 400.
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def header_map(scope: Scope) -> dict[str, Any]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
