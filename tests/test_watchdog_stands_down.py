"""One message per failure-rate incident: where Prometheus and Alertmanager watch a tenant (they post the same
rule to #mrdj-ops), the suite's own watchdog stands down; when Alertmanager falls silent, it takes over."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rentguy_crm.kit import clock
from rentguy_crm.kit.clock import ManualClock
from rentguy_crm.observability import watchdog
from rentguy_crm.observability.slack_notify import ops_notifier_for
from tests.obs_support import REPO, add_runs
from tests.slack_fake import SlackFake, slack_webhook_fake

NOW = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)
URL = "/api/v1/webhooks/alertmanager"
FIXTURES = Path(__file__).parent / "webhooks" / "alertmanager" / "fixtures"


@pytest.fixture
def slack(monkeypatch) -> Iterator[SlackFake]:  # type: ignore[no-untyped-def]
    with slack_webhook_fake() as fake:
        monkeypatch.setenv("CRM_MRDJ_OPS_SLACK_WEBHOOK_URL", fake.url)
        yield fake


def heartbeat() -> dict[str, Any]:
    """What Alertmanager posts for the shipped CrmAlertingHeartbeat (same envelope as the recorded fixtures)."""
    notification = json.loads((FIXTURES / "failure_rate_firing.json").read_text())
    alert = notification["alerts"][0]
    alert["labels"] = {"alertname": "CrmAlertingHeartbeat", "severity": "warning", "scope": "platform",
                       "team": "operations"}
    alert["annotations"] = {"summary": "Prometheus and Alertmanager watch the CRM suite"}
    alert["fingerprint"] = "0a1b2c3d4e5f6a7b"
    notification["alerts"] = [alert]
    notification["commonLabels"] = alert["labels"]
    notification["groupLabels"] = {"alertname": "CrmAlertingHeartbeat"}
    return notification


async def incident(db, tenant) -> None:  # type: ignore[no-untyped-def]
    done = NOW - dt.timedelta(minutes=2)
    await add_runs(db, tenant, "lead_intake", "succeeded", 45, created_at=done, duration=dt.timedelta(seconds=5))
    await add_runs(db, tenant, "lead_intake", "failed", 5, created_at=done, duration=dt.timedelta(seconds=5))


async def check(db, now: dt.datetime = NOW) -> list[watchdog.Transition]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await watchdog.check_failure_rates(session, now, ops_notifier_for)


async def test_with_the_shipped_config_and_alertmanager_watching_the_incident_gets_no_watchdog_post(  # type: ignore[no-untyped-def]
        client, db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")  # configs/tenants/mrdj.json as shipped
    clock.set_clock(ManualClock(NOW - dt.timedelta(minutes=4)))
    answer = await client.post(URL, json=heartbeat(), headers=await factory.headers(tenant, "operations"))
    assert answer.status_code == 200, answer.text
    await incident(db, tenant)
    assert await check(db) == []
    assert slack.posts == []


async def test_the_heartbeat_is_not_recorded_as_an_alert_event(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from rentguy_crm.events.models import Event

    tenant = await factory.tenant("mrdj")
    answer = await client.post(URL, json=heartbeat(), headers=await factory.headers(tenant, "operations"))
    assert answer.json()["recorded"] == 0
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0


async def test_without_alertmanager_the_watchdog_posts_the_incident_once(db, factory, slack) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    await incident(db, tenant)
    [fired] = await check(db)
    assert (fired.state, fired.notified) == ("firing", True)
    assert len(slack.posts) == 1


async def test_when_alertmanager_falls_silent_the_watchdog_takes_over(client, db, factory, slack) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    clock.set_clock(ManualClock(NOW - watchdog.ALERTMANAGER_FRESH - dt.timedelta(minutes=1)))
    await client.post(URL, json=heartbeat(), headers=await factory.headers(tenant, "operations"))
    await incident(db, tenant)
    [fired] = await check(db)
    assert fired.notified and len(slack.posts) == 1


async def test_a_tenant_configured_for_alertmanager_never_gets_a_watchdog_post(db, factory, slack) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj", monitoring={"alerting": "alertmanager", "ops_channel": "#mrdj-ops",
                                                      "slack_webhook_url": "env:CRM_MRDJ_OPS_SLACK_WEBHOOK_URL"})
    await incident(db, tenant)
    assert await check(db) == []
    assert slack.posts == []


async def test_a_firing_watchdog_alert_is_dropped_when_alertmanager_starts_watching(  # type: ignore[no-untyped-def]
        client, db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")
    await incident(db, tenant)
    await check(db)
    clock.set_clock(ManualClock(NOW))
    await client.post(URL, json=heartbeat(), headers=await factory.headers(tenant, "operations"))
    later = NOW + dt.timedelta(minutes=9)  # the failures left the window: the watchdog would have resolved
    assert await check(db, later) == []
    assert len(slack.posts) == 1
    async with db.read_session() as session:
        assert await watchdog.firing(session) == []


def test_the_shipped_alertmanager_sends_the_heartbeat_to_the_suite_well_within_the_freshness_window() -> None:
    config = yaml.safe_load((REPO / "ops" / "alertmanager" / "alertmanager.yml").read_text())
    [route] = [r for r in config["route"]["routes"] if 'alertname="CrmAlertingHeartbeat"' in r["matchers"]]
    assert route["receiver"] == "mrdj-crm-events" and not route.get("continue")
    minutes = int(route["repeat_interval"].removesuffix("m"))
    assert dt.timedelta(minutes=minutes) * 2 < watchdog.ALERTMANAGER_FRESH
    tenant = json.loads((REPO / "configs" / "tenants" / "mrdj.json").read_text())
    assert tenant["monitoring"]["alerting"] == "auto"
