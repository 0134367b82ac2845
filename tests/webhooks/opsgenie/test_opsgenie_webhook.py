"""POST /api/v1/webhooks/opsgenie/{tenant}: recorded Opsgenie outgoing-webhook bodies replayed, one test per
action, plus the door's refusals (secret, tenant, body)."""

from __future__ import annotations

import base64
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
SECRET = "og-webhook-secret-0123456789"
HEADERS = {"X-Crm-Webhook-Secret": SECRET}
OPSGENIE = {"channels": {"opsgenie": {"api_key": "env:TEST_OG_KEY", "webhook_secret": "env:TEST_OG_WEBHOOK"}}}


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OG_WEBHOOK", SECRET)


@pytest.fixture
def handled() -> Iterator[list[tuple[int, str, str]]]:
    calls: list[tuple[int, str, str]] = []

    async def apply_pager_update(session: Any, scope: TenantScope, *, alias: str, action: str) -> None:
        calls.append((scope.tenant_id, alias, action))

    hooks.register_pager_handler(apply_pager_update)
    yield calls
    hooks.register_pager_handler(None)


async def events(db: Any) -> list[Event]:
    async with db.session() as session:
        return list((await session.scalars(select(Event).order_by(Event.id))).all())


@pytest.mark.parametrize(("name", "action"), [
    ("create", "Create"), ("acknowledge", "Acknowledge"), ("unacknowledge", "UnAcknowledge"),
    ("add_note", "AddNote"), ("close", "Close"), ("escalate_next", "EscalateNext")])
async def test_an_alert_action_is_recorded_and_handed_to_the_desk(client: Any, db: Any, factory: Any,
                                                                  handled: list[Any], name: str,
                                                                  action: str) -> None:
    tenant = await factory.tenant("mrdj", **OPSGENIE)
    response = await client.post("/api/v1/webhooks/opsgenie/mrdj", json=fixture(name), headers=HEADERS)
    assert response.status_code == 202, response.text
    assert response.json()["handled"] is True
    [event] = await events(db)
    assert (event.tenant_id, event.type) == (tenant.id, f"opsgenie.alert.{action.lower()}")
    assert event.payload["alias"] == "mrdj-T-42"
    # Opsgenie sends the acting user's name and address: not stored.
    assert "oncall@rentguy.nl" not in json.dumps(event.payload)
    assert handled == [(tenant.id, "mrdj-T-42", action)]


async def test_without_a_registered_handler_the_event_is_still_recorded(client: Any, db: Any, factory: Any) -> None:
    hooks.register_pager_handler(None)  # the app registers the desk's handler; this door must work without one
    await factory.tenant("mrdj", **OPSGENIE)
    response = await client.post("/api/v1/webhooks/opsgenie/mrdj", json=fixture("close"), headers=HEADERS)
    assert response.status_code == 202
    assert response.json()["handled"] is False
    assert [e.type for e in await events(db)] == ["opsgenie.alert.close"]


async def test_the_secret_may_come_as_the_basic_auth_password(client: Any, db: Any, factory: Any) -> None:
    await factory.tenant("mrdj", **OPSGENIE)
    auth = "Basic " + base64.b64encode(f"opsgenie:{SECRET}".encode()).decode()
    response = await client.post("/api/v1/webhooks/opsgenie/mrdj", json=fixture("acknowledge"),
                                 headers={"Authorization": auth})
    assert response.status_code == 202


@pytest.mark.parametrize("headers", [{}, {"X-Crm-Webhook-Secret": "wrong"}])
async def test_a_missing_or_wrong_secret_is_401_and_records_nothing(client: Any, db: Any, factory: Any,
                                                                    headers: dict[str, str]) -> None:
    await factory.tenant("mrdj", **OPSGENIE)
    response = await client.post("/api/v1/webhooks/opsgenie/mrdj", json=fixture("close"), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "X-Crm-Webhook-Secret" in response.json()["detail"]
    assert await events(db) == []


async def test_an_unknown_tenant_and_a_tenant_without_opsgenie_get_the_same_404(client: Any, factory: Any) -> None:
    await factory.tenant("mrdj")
    answers = [await client.post(f"/api/v1/webhooks/opsgenie/{slug}", json=fixture("close"), headers=HEADERS)
               for slug in ("mrdj", "nope")]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json()["detail"] == answers[1].json()["detail"]


async def test_an_unreadable_secret_is_503_with_retry_after(client: Any, factory: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    await factory.tenant("mrdj", **OPSGENIE)
    monkeypatch.delenv("TEST_OG_WEBHOOK")
    response = await client.post("/api/v1/webhooks/opsgenie/mrdj", json=fixture("close"), headers=HEADERS)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    assert "TEST_OG_WEBHOOK" not in response.text


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "Explode", "alert": {"alias": "a"}}, "action"),
    ({"action": "Close", "alert": {}}, "alert.alias"),
    ({"action": "Close"}, "alert"),
    ({"action": "bad\x00text", "alert": {"alias": "a"}}, "action"),
    ({"action": "Close", "alert": {"alias": "bad\x00text"}}, "alert.alias")])
async def test_a_body_that_is_not_an_alert_action_is_422_naming_the_field(client: Any, db: Any, factory: Any,
                                                                          body: dict[str, Any], field: str) -> None:
    await factory.tenant("mrdj", **OPSGENIE)
    response = await client.post("/api/v1/webhooks/opsgenie/mrdj", json=body, headers=HEADERS)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await events(db) == []


async def test_a_body_that_is_not_json_is_a_4xx_problem(client: Any, db: Any, factory: Any) -> None:
    await factory.tenant("mrdj", **OPSGENIE)
    response = await client.post("/api/v1/webhooks/opsgenie/mrdj", content=b"{not json",
                                 headers={**HEADERS, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await events(db) == []
