"""Unexpected errors on a real server: a 500 problem answer, the keep-alive connection still usable, one masked
log line (tracebacks and the server's own logger included), and one access line per request."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from sqlalchemy import insert

from rentguy_crm.app import create_app
from rentguy_crm.auth.dependencies import Session
from rentguy_crm.config import Settings, get_settings
from rentguy_crm.crm.models import Contact
from rentguy_crm.observability.logging import configure_logging
from tests.live_server import LiveServer

# Personal data that only reaches the failing statement as parameters.
FIRST_NAME, LAST_NAME, EMAIL = "Annabel", "Zwanenburg", "annabel.zwanenburg@example.nl"


def _app_with_a_failing_route() -> Any:
    app = create_app(get_settings())
    router = APIRouter()

    @router.post("/test-only/broken-insert")
    async def broken_insert(session: Session) -> dict[str, str]:
        # No tenant has this id: a foreign-key violation on both databases, raised with the values bound.
        await session.execute(insert(Contact).values(tenant_id=2**31 - 7, first_name=FIRST_NAME,
                                                     last_name=LAST_NAME, email=EMAIL))
        return {}

    app.include_router(router)
    return app


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    configure_logging(get_settings())


@pytest.fixture
def server(db, log_stream: io.StringIO) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    app = _app_with_a_failing_route()
    configure_logging(Settings(log_json=True, log_level="INFO"), stream=log_stream)  # after create_app's own
    with LiveServer(app) as live:
        yield live


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    # Every line must be JSON: a plain-text traceback from the server's logger would fail here.
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_500_leaves_the_keep_alive_connection_usable(server: LiveServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/test-only/broken-insert", body=b"{}", headers={"Content-Type": "application/json"})
    first = conn.getresponse()
    problem = json.loads(first.read())
    socket_after_error = conn.sock
    conn.request("GET", "/healthz")
    second = conn.getresponse()
    assert (first.status, first.getheader("content-type"), problem["status"]) == (
        500, "application/problem+json", 500)
    assert (second.status, json.loads(second.read())) == (200, {"status": "ok"})
    assert socket_after_error is not None and conn.sock is socket_after_error  # the same connection, kept
    conn.close()


def test_a_500_logs_one_masked_traceback_without_statement_values(server: LiveServer,
                                                                   log_stream: io.StringIO) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/test-only/broken-insert", body=b"{}",
                 headers={"Content-Type": "application/json", "X-Request-ID": "req-500"})
    assert conn.getresponse().status == 500
    conn.close()
    text = log_stream.getvalue()
    for clear in (EMAIL, FIRST_NAME, LAST_NAME):
        assert clear not in text
    errors = [line for line in _lines(log_stream) if line.get("level") == "error"]
    assert [(e["event"], e["request_id"]) for e in errors] == [("unhandled_error", "req-500")]
    assert "IntegrityError" in errors[0]["exception"]


def test_each_request_gets_one_access_line_without_values(server: LiveServer, log_stream: io.StringIO) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/api/v1/crm/contacts/12?email=anna%40example.nl", headers={"X-Request-ID": "req-401"})
    conn.getresponse().read()
    conn.request("POST", "/test-only/broken-insert", body=b"{}",
                 headers={"Content-Type": "application/json", "X-Request-ID": "req-500"})
    conn.getresponse().read()
    conn.close()
    access = [line for line in _lines(log_stream) if line["event"] == "request"]
    assert [(a["request_id"], a["method"], a["route"], a["status"]) for a in access] == [
        ("req-401", "GET", "/api/v1/crm/contacts/{contact_id}", 401),
        ("req-500", "POST", "/test-only/broken-insert", 500)]
    assert all(isinstance(a["duration_ms"], float) and a["duration_ms"] >= 0 for a in access)
    assert "anna" not in log_stream.getvalue() and "/12" not in log_stream.getvalue()


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"x" * 2_000_000, "application/json", 413), (b"tenant=mrdj", "text/plain", 415),
    (b"[" * 30_000 + b"]" * 30_000, "application/json", 422)])
def test_a_refused_body_leaves_the_connection_usable(server: LiveServer, body: bytes, content_type: str,
                                                      status: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/api/v1/public/leads", body=body, headers={"Content-Type": content_type})
    first = conn.getresponse()
    first.read()
    conn.request("GET", "/healthz")
    second = conn.getresponse()
    assert (first.status, second.status, json.loads(second.read())) == (status, 200, {"status": "ok"})
    conn.close()
