"""One access line per request (runbook 2.1 step 1 traces a complaint by its request id): request id, method,
route template, status, duration and tenant; no personal data, no query string, no path values."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from rentguy_crm.app import create_app
from rentguy_crm.config import Settings, get_settings
from rentguy_crm.observability.logging import configure_logging
from tests.intake.test_pipeline import PUBLIC, form

SERVER = "/api/v1/leads"


@pytest.fixture
async def logged(db) -> AsyncIterator[tuple[httpx.AsyncClient, io.StringIO]]:  # type: ignore[no-untyped-def]
    app = create_app(get_settings(), db=db)
    stream = io.StringIO()
    configure_logging(Settings(log_json=True, log_level="INFO"), stream=stream)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, stream
    configure_logging(get_settings())


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, stream.getvalue().splitlines()) if line["event"] == "request"]


async def test_website_lead_that_got_201_has_one_line_with_its_tenant(logged, mrdj) -> None:
    client, stream = logged
    response = await client.post(PUBLIC, json=form(phone="0612345678"), headers={"X-Request-ID": "web-201"})
    assert response.status_code == 201
    [line] = access_lines(stream)
    assert {k: line[k] for k in ("request_id", "method", "route", "status", "tenant")} == {
        "request_id": "web-201", "method": "POST", "route": PUBLIC, "status": 201, "tenant": "mrdj"}
    assert isinstance(line["duration_ms"], float)
    for personal in ("anna", "Anna", "de Vries", "0612345678", "203.0.113.10"):
        assert personal not in stream.getvalue()


async def test_website_lead_that_got_422_has_one_line_with_its_tenant(logged, mrdj) -> None:
    client, stream = logged
    response = await client.post(PUBLIC, json=form(email="anna-at-example"), headers={"X-Request-ID": "web-422"})
    assert response.status_code == 422
    [line] = access_lines(stream)
    assert (line["request_id"], line["route"], line["status"], line["tenant"]) == ("web-422", PUBLIC, 422, "mrdj")
    assert "anna-at-example" not in stream.getvalue()


async def test_server_lead_line_names_the_key_tenant(logged, factory, mrdj) -> None:
    client, stream = logged
    headers = await factory.headers(mrdj, "admin")
    response = await client.post(SERVER, json=form(), headers={**headers, "X-Request-ID": "srv-201"})
    assert response.status_code == 201
    [line] = access_lines(stream)
    assert (line["request_id"], line["route"], line["status"], line["tenant"]) == ("srv-201", SERVER, 201, "mrdj")


async def test_requests_refused_before_routing_are_logged_too(logged, mrdj) -> None:
    client, stream = logged
    await client.post(PUBLIC, content=b"tenant=mrdj", headers={"Content-Type": "text/plain", "X-Request-ID": "r415"})
    await client.get("/api/v1/crm/leads/77?owner=anna%40example.nl", headers={"X-Request-ID": "r401"})
    assert [(a["request_id"], a["route"], a["status"]) for a in access_lines(stream)] == [
        ("r415", PUBLIC, 415), ("r401", "/api/v1/crm/leads/{lead_id}", 401)]
    assert "owner=" not in stream.getvalue() and "/77" not in stream.getvalue()
