"""Alerts through the door: Alertmanager's recorded notifications posted to the webhook, then the scheduled job
that every worker runs turns them into one incident; the resolved notification proposes resolving it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rentguy_crm.automation.engine import builtin, schedules
from rentguy_crm.kit import clock
from rentguy_crm.support import service
from rentguy_crm.tenants.scope import TenantScope

FIXTURES = Path(__file__).resolve().parents[1] / "webhooks" / "alertmanager" / "fixtures"
URL = "/api/v1/webhooks/alertmanager"
JOBS = ("support.alert_incidents", "support.sla_check", "support.dispatch")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_workers_run_the_support_jobs() -> None:
    builtin.install()
    assert set(JOBS) <= set(schedules.jobs())


async def test_a_posted_alert_becomes_one_incident_and_its_resolution_a_proposal(client, db, factory) -> None:
    builtin.install()
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    for _ in range(2):  # Alertmanager re-sends a firing alert every repeat_interval
        assert (await client.post(URL, json=fixture("failure_rate_firing"), headers=headers)).status_code == 200
        async with db.session() as session:
            await schedules.jobs()["support.alert_incidents"].fn(session, clock.now())
    assert (await client.post(URL, json=fixture("failure_rate_resolved"), headers=headers)).status_code == 200
    async with db.session() as session:
        await schedules.jobs()["support.alert_incidents"].fn(session, clock.now())
    async with db.session() as session:
        page = await service.list_tickets(session, TenantScope(tenant.id))
        assert page.total == 1
        detail = await service.detail(session, TenantScope(tenant.id), page.items[0].number)
    assert (detail.kind, detail.priority, detail.activity, detail.runbook_key) == (
        "incident", "P1", "automation_failure", "2.2")
    assert [x.target_ref for x in detail.links] == ["8c3a0b6c1f2e9d47"]
    assert sum("fired again" in e.body for e in detail.timeline) == 1
    assert detail.timeline[-1].data.get("proposal") == "resolved"
