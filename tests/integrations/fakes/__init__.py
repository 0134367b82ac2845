"""Fakes of the escalation vendors on 127.0.0.1 (Opsgenie, Slack Web API, Freshdesk, Jira Cloud), built on
`tests.vendor_fakes.HttpFake`: each checks the vendor's auth, answers its documented success and error bodies, and
takes scripted replies first (429 with Retry-After, 5xx) for the retry paths."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.vendor_fakes import Reply, Request


def as_json(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})


def path_of(request: Request) -> str:
    return urlsplit(request.path).path


def query_of(request: Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.path).query))


def fields_of(request: Request) -> dict[str, Any]:
    """The call's arguments wherever the client put them: query string, form body or JSON body."""
    found: dict[str, Any] = query_of(request)
    content_type = request.headers.get("content-type", "")
    if request.body and "json" in content_type:
        found.update(request.json())
    elif request.body:
        found.update(parse_qsl(request.body.decode()))
    return found
