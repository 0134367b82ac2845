"""POST /api/v1/webhooks/freshdesk/{tenant}: the bodies of the tenant's Freshdesk automation rule replayed, one test
per status, plus the door's refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rentguy_crm.events.models import Event
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.webhooks import hooks

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "fd-webhook-secret-0123456789"
HEADERS = {"X-Crm-Webhook-Secret": SECRET}
FRESHDESK = {"channels": {"freshdesk": {"base_url": "https://mrdj.freshdesk.com", "api_key": "env:TEST_FD_KEY",
                                        "webhook_secret": "env:TEST_FD_WEBHOOK"}}}


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FD_WEBHOOK", SECRET)


@pytest.fixture
def handled() -> Iterator[list[tuple[int, int, int]]]:
    calls: list[tuple[int, int, int]] = []

    async def apply_helpdesk_update(session: Any, scope: TenantScope, *, freshdesk_id: int, status: int) -> None:
        calls.append((scope.tenant_id, freshdesk_id, status))

    hooks.register_helpdesk_handler(apply_helpdesk_update)
    yield calls
    hooks.register_helpdesk_handler(None)


async def events(db: Any) -> list[Event]:
    async with db.session() as session:
        return list((await session.scalars(select(Event).order_by(Event.id))).all())


@pytest.mark.parametrize(("name", "status", "desk_status"), [
    ("status_resolved", 4, "resolved"), ("status_pending", 3, "pending"), ("status_closed", 5, "closed"),
    ("status_open_number", 2, "open")])
async def test_a_status_change_is_recorded_and_handed_to_the_desk(client: Any, db: Any, factory: Any,
                                                                  handled: list[Any], name: str, status: int,
                                                                  desk_status: str) -> None:
    tenant = await factory.tenant("mrdj", **FRESHDESK)
    response = await client.post("/api/v1/webhooks/freshdesk/mrdj", json=fixture(name), headers=HEADERS)
    assert response.status_code == 202, response.text
    [event] = await events(db)
    assert (event.type, event.payload["freshdesk_id"], event.payload["desk_status"]) == (
        "freshdesk.ticket.updated", 1042, desk_status)
    assert handled == [(tenant.id, 1042, status)]


async def test_without_a_registered_handler_the_event_is_still_recorded(client: Any, db: Any, factory: Any) -> None:
    hooks.register_helpdesk_handler(None)  # the app registers the desk's handler; this door must work without one
    await factory.tenant("mrdj", **FRESHDESK)
    response = await client.post("/api/v1/webhooks/freshdesk/mrdj", json=fixture("status_closed"), headers=HEADERS)
    assert (response.status_code, response.json()["handled"]) == (202, False)
    assert len(await events(db)) == 1


async def test_a_wrong_secret_is_401_and_records_nothing(client: Any, db: Any, factory: Any) -> None:
    await factory.tenant("mrdj", **FRESHDESK)
    response = await client.post("/api/v1/webhooks/freshdesk/mrdj", json=fixture("status_closed"),
                                 headers={"X-Crm-Webhook-Secret": "nope"})
    assert response.status_code == 401
    assert await events(db) == []


async def test_another_tenants_secret_does_not_open_this_tenants_door(client: Any, db: Any, factory: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FD_WEBHOOK_OTHER", "other-tenant-secret")
    await factory.tenant("mrdj", **FRESHDESK)
    other = json.loads(json.dumps(FRESHDESK))
    other["channels"]["freshdesk"]["webhook_secret"] = "env:TEST_FD_WEBHOOK_OTHER"
    await factory.tenant("other", **other)
    response = await client.post("/api/v1/webhooks/freshdesk/mrdj", json=fixture("status_closed"),
                                 headers={"X-Crm-Webhook-Secret": "other-tenant-secret"})
    assert response.status_code == 401
    assert await events(db) == []


@pytest.mark.parametrize(("body", "field"), [
    ({"ticket_id": 1042, "status": "Waiting on Customer"}, "status"),
    ({"ticket_id": 1042, "status": 7}, "status"),
    ({"ticket_id": 0, "status": "Closed"}, "ticket_id"),
    ({"status": "Closed"}, "ticket_id"),
    ({"ticket_id": 2**63, "status": "Closed"}, "ticket_id"),
    ({"ticket_id": 1042, "status": "bad\x00text"}, "status")])
async def test_an_unusable_body_is_422_naming_the_field(client: Any, db: Any, factory: Any, body: dict[str, Any],
                                                        field: str) -> None:
    await factory.tenant("mrdj", **FRESHDESK)
    response = await client.post("/api/v1/webhooks/freshdesk/mrdj", json=body, headers=HEADERS)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert await events(db) == []
