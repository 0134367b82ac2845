"""POST /api/v1/webhooks/alertmanager: recorded Alertmanager notifications replayed, one test per kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rentguy_crm.events.models import Event

FIXTURES = Path(__file__).parent / "fixtures"
URL = "/api/v1/webhooks/alertmanager"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


async def events(db) -> list[Event]:
    async with db.session() as session:
        return list((await session.scalars(select(Event).order_by(Event.id))).all())


async def test_firing_failure_rate_alert_is_recorded_as_alert_firing_event(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.post(URL, json=fixture("failure_rate_firing"),
                                 headers=await factory.headers(tenant, "operations"))
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    [event] = await events(db)
    assert (event.tenant_id, event.type, event.subject_type) == (tenant.id, "alert.firing", "alert")
    assert event.payload["labels"]["workflow"] == "lead_intake"
    assert event.payload["annotations"]["runbook_url"].endswith("#22-automation-failure-rate--2")
    assert event.payload["fingerprint"] == "8c3a0b6c1f2e9d47"
    assert event.payload["ends_at"] is None  # Alertmanager's zero time while firing


async def test_resolved_alert_is_recorded_as_alert_resolved_event(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.post(URL, json=fixture("failure_rate_resolved"),
                                 headers=await factory.headers(tenant, "engineering"))
    assert response.status_code == 200
    [event] = await events(db)
    assert event.type == "alert.resolved"
    assert event.payload["ends_at"].startswith("2025-03-03T12:14:30")


async def test_grouped_platform_alerts_become_one_event_each(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.post(URL, json=fixture("workers_heartbeat_stale_firing"),
                                 headers=await factory.headers(tenant, "admin"))
    assert response.json()["recorded"] == 2
    recorded = await events(db)
    assert [e.payload["labels"]["worker"] for e in recorded] == ["crm-worker-1:4242", "crm-worker-2:4242"]
    assert {e.type for e in recorded} == {"alert.firing"}


async def test_events_belong_to_the_keys_tenant_whatever_the_tenant_label_says(client, db, factory) -> None:
    await factory.tenant("mrdj")
    other = await factory.tenant("other")
    await client.post(URL, json=fixture("failure_rate_firing"), headers=await factory.headers(other, "operations"))
    [event] = await events(db)
    assert event.tenant_id == other.id


async def test_webhook_needs_an_api_key(client, db, factory) -> None:
    await factory.tenant("mrdj")
    response = await client.post(URL, json=fixture("failure_rate_firing"))
    assert response.status_code == 401
    assert await events(db) == []


async def test_a_sales_key_may_not_ingest_alerts(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.post(URL, json=fixture("failure_rate_firing"),
                                 headers=await factory.headers(tenant, "sales"))
    assert response.status_code == 403
    assert "alerts:ingest" in response.json()["detail"]


async def test_payload_without_alerts_is_422_problem_and_stores_nothing(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    body = fixture("failure_rate_firing")
    body["alerts"] = []
    response = await client.post(URL, json=body, headers=await factory.headers(tenant, "operations"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "alerts"
    assert await events(db) == []


async def test_one_bad_alert_rejects_the_whole_notification(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    body = fixture("workers_heartbeat_stale_firing")
    body["alerts"][1]["status"] = "exploded"
    response = await client.post(URL, json=body, headers=await factory.headers(tenant, "operations"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "alerts.1.status"
    assert await events(db) == []


async def test_unknown_payload_version_is_refused(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    body = fixture("failure_rate_firing") | {"version": "3"}
    response = await client.post(URL, json=body, headers=await factory.headers(tenant, "operations"))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "version"


async def test_body_that_is_not_json_is_422(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations") | {"content-type": "application/json"}
    response = await client.post(URL, content=b"{not json", headers=headers)
    assert response.status_code == 422
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
