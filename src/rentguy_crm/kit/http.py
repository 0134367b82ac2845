"""ASGI middleware that knows no domain: request ids, body size limits, JSON content type."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rentguy_crm.errors import PROBLEM_BASE, PROBLEM_CONTENT_TYPE
from rentguy_crm.kit.context import reset_request_id, set_request_id

BODY_METHODS = {"POST", "PUT", "PATCH"}


async def send_problem(send: Send, status: int, code: str, title: str, detail: str, path: str) -> None:
    body = json.dumps({"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail,
                       "instance": path}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


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


class BodyLimitMiddleware:
    """Refuses bodies above a limit (413) and non-JSON bodies on JSON routes (415) before any handler runs.

    `limit_for(path)` gives the byte limit of a path, so the public lead route can be stricter than the rest.
    Paths for which `json_only(path)` is false (form posts, webhooks with their own parsing) skip the 415.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int],
                 json_only: Callable[[str], bool] = lambda _p: True) -> None:
        self.app = app
        self.limit_for = limit_for
        self.json_only = json_only

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
                await send_problem(send, 400, "bad-request", "Bad request", "Content-Length is not a number.", path)
                return
            if int(declared) > limit:
                await send_problem(send, 413, "payload-too-large", "Request body too large",
                                   f"The body is {declared} bytes; this route accepts at most {limit}.", path)
                return
        has_body = declared != "0" and (declared is not None or "transfer-encoding" in headers)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and self.json_only(path) and not (ctype == "application/json" or ctype.endswith("+json")):
            await send_problem(send, 415, "unsupported-media-type", "Unsupported media type",
                               f"Send the body as application/json (got '{ctype or 'none'}').", path)
            return

        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if too_large:
                # The framework turns the aborted read into its own error (a 400 "error parsing the body"):
                # answer 413 instead and drop what the app sends.
                if message["type"] == "http.response.start" and not response_started:
                    response_started = True
                    await send_problem(send, 413, "payload-too-large", "Request body too large",
                                       f"The body is larger than the {limit} bytes this route accepts.", path)
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await send_problem(send, 413, "payload-too-large", "Request body too large",
                                   f"The body is larger than the {limit} bytes this route accepts.", path)
        except Exception:
            if too_large and not response_started:
                await send_problem(send, 413, "payload-too-large", "Request body too large",
                                   f"The body is larger than the {limit} bytes this route accepts.", path)
                return
            raise


class _BodyTooLarge(Exception):
    pass


def header_map(scope: Scope) -> dict[str, Any]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
