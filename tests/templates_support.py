"""Small builders for template tests, and a working tenant whose channels are the vendor fakes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rentguy_crm import provisioning
from rentguy_crm.automation.engine.worker import load_plugins
from rentguy_crm.db import Database
from rentguy_crm.intake.tally import tally
from rentguy_crm.templates import schemas, service
from rentguy_crm.templates.models import TemplateVersion
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.config import parse_config
from rentguy_crm.tenants.models import Tenant
from tests.automation_support import Clock, run_due
from tests.factories import tenant_document
from tests.vendor_fakes import HttpFake, SmtpFake, WhatsappFake


async def draft(db: Database, tenant: Tenant, key: str = "lead-welcome", text: str = "Hoi {{ contact.first_name }}",
                language: str = "nl", channel: str = "email") -> TemplateVersion:
    body = schemas.TemplateCreate(key=key, channel=channel, language=language,  # type: ignore[arg-type]
                                  subject="Welkom" if channel == "email" else None, text_body=text,
                                  variables=["contact.first_name"])
    async with db.session() as session:
        _t, version = await service.create_draft(session, tenant, body, "test")
        return version


async def published(db: Database, tenant: Tenant, **kwargs: str) -> TemplateVersion:
    version = await draft(db, tenant, **kwargs)
    async with db.session() as session:
        return await service.publish(session, tenant, version.id, "test")


class DeliveryFakes:
    """An SMTP server, Slack and Teams webhooks and the WhatsApp Cloud API on 127.0.0.1, and the tenant
    `channels` section that points at them (secrets as env references, set by `setenv`)."""

    def __init__(self) -> None:
        self.smtp = SmtpFake()
        self.slack = HttpFake()
        self.teams = HttpFake()
        self.whatsapp = WhatsappFake("wa-token")

    async def __aenter__(self) -> DeliveryFakes:
        self.smtp.controller.start()
        for fake in (self.slack, self.teams, self.whatsapp):
            await fake.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for fake in (self.slack, self.teams, self.whatsapp):
            await fake.__aexit__(*exc)
        self.smtp.controller.stop()

    def channels(self, setenv: Any) -> dict[str, Any]:
        setenv("TEST_SLACK_HOOK", self.slack.url("/services/T/B/x"))
        setenv("TEST_TEAMS_HOOK", self.teams.url("/workflows/x"))
        setenv("TEST_WA_TOKEN", "wa-token")
        return {"email": {"provider": "smtp", "host": "127.0.0.1", "port": self.smtp.port, "security": "none",
                          "from_address": "Mr. DJ <info@mr-dj.nl>"},
                "slack": {"webhook_url": "env:TEST_SLACK_HOOK"},
                "teams": {"webhook_url": "env:TEST_TEAMS_HOOK"},
                "whatsapp": {"api_base": self.whatsapp.url(""), "phone_number_id": "1234567890",
                             "access_token": "env:TEST_WA_TOKEN"}}


async def working_tenant(db: Database, channels: dict[str, Any], *, with_workflows: bool = True) -> Tenant:
    """Tenant mrdj provisioned as `crm tenants provision` does (base templates live), with these channels."""
    config = parse_config(tenant_document("mrdj", channels=channels))
    async with db.session() as session:
        await provisioning.provision(session, config, with_workflows=with_workflows, actor="test")
        return await tenants.get(session, "mrdj")


async def run_worker(db: Database, clock: Clock | None = None) -> list[str]:
    """What a `crm workers run` process does with the runs that are due: the suite's steps and channels
    installed, each run executed to its next stop."""
    load_plugins()
    # The lead capture's background tally write is another SQLite writer; the worker starts after it, as the
    # test teardown does (a worker racing it on SQLite is the embedded-default concurrency matter).
    await tally.settle()
    return await run_due(db, clock or Clock(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)))


def text_part(message: Any, subtype: str = "plain") -> str:
    part = next(p for p in message.walk() if p.get_content_type() == f"text/{subtype}")
    return str(part.get_payload(decode=True).decode())
