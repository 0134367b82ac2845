"""Team notifications through the tenant's real Slack channel client, against the Slack webhook fake on 127.0.0.1:
delivered per team channel, retried on 429 with nothing lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from rentguy_crm.support import dispatch, schemas, service
from rentguy_crm.support.models import Dispatch
from rentguy_crm.tenants.scope import TenantScope
from tests.slack_fake import slack_webhook_fake
from tests.support.desk_support import local, manual_clock


@pytest.fixture
def clock() -> Iterator[Any]:
    yield from manual_clock(local(2026, 3, 16, 10, 0))


async def test_consulted_and_responsible_teams_get_slack_posts_and_a_429_is_retried(db, factory, clock,
                                                                                   monkeypatch) -> None:
    with slack_webhook_fake() as fake:
        monkeypatch.setenv("CRM_TEST_SUPPORT_SLACK", fake.url + "/support")
        monkeypatch.setenv("CRM_TEST_ENG_SLACK", fake.url + "/engineering")
        tenant = await factory.tenant("mrdj", channels={"slack": {
            "webhook_url": "env:CRM_TEST_SUPPORT_SLACK", "default_target": "#mrdj-support",
            "targets": {"#crm-engineering": "env:CRM_TEST_ENG_SLACK"}}})
        async with db.session() as session:
            # Dashboard incident: support is Responsible, engineering Consulted, sales Informed.
            await service.create_ticket(session, TenantScope(tenant.id), schemas.TicketCreate(
                subject="Grafana toont geen data", activity="dashboard_metrics_incident", priority="P3"),
                actor="test")
        fake.answers.append((429, "rate_limited", {"Retry-After": "5"}))
        async with db.session() as session:
            first = await dispatch.deliver_due(session, clock())
        clock.advance(dt.timedelta(minutes=5))
        async with db.session() as session:
            second = await dispatch.deliver_due(session, clock())
        async with db.session() as session:
            from sqlalchemy import select

            rows = {r.dedupe_key.split(":", 1)[1]: r for r in (await session.scalars(
                select(Dispatch).where(Dispatch.action == "notify"))).all()}
    assert first["retry"] == 1
    assert rows["notify:responsible:support"].status == "done"
    assert rows["notify:consulted:engineering"].status == "done"
    # Sales has no webhook of its own and no mailbox in the config: given up at once, the reason on the ticket.
    assert rows["notify:informed:open:sales"].status == "dead"
    assert "no webhook configured for target #mrdj-sales" in (rows["notify:informed:open:sales"].last_error or "")
    paths = sorted(p["_path"].rsplit("/", 1)[-1] for p in fake.posts)
    assert paths == ["engineering", "support"]
    assert any("Grafana" in p["text"] for p in fake.posts)
    assert second["done"] >= 1
