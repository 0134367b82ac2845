"""A tenant with what the Automations and Templates screens show: a workflow with a dead, a failed and a queued
run (one with a step log), a lead to preview against and a template draft; and the headers a page request sends."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.db import Database
from rentguy_crm.tenants.models import Tenant
from tests.automation_support import install_workflow, queued_run, workflow_doc
from tests.templates_support import draft

PAGE = {"Accept": "text/html"}
FRAGMENT = {"Accept": "text/html", "HX-Request": "true"}
STEP_LOG = [{"step": 0, "type": "create_task", "name": "Bel de lead", "status": "failed", "attempt": 3,
             "at": "2026-11-30T09:15:00+00:00", "worker": "worker-a", "error": "SMTPServerDisconnected: gone"}]


@dataclass
class OperationsWorld:
    tenant: Tenant
    dead: int
    failed: int
    queued: int
    lead: int
    template: int
    version: int


async def finish(db: Database, run_id: int, status: str, completed_at: dt.datetime,
                 step_log: list[dict[str, Any]] | None = None) -> None:
    async with db.session() as session:
        await session.execute(update(AutomationRun).where(AutomationRun.id == run_id).values(
            status=status, completed_at=completed_at, attempt=3, last_error_type="SMTPServerDisconnected",
            last_error_message="gone", step_log=step_log or []))


async def build(db: Database, factory: Any, slug: str = "mrdj", tenant: Tenant | None = None) -> OperationsWorld:
    """The world in a new tenant `slug`, or in `tenant` when it exists already (the browser tests' mrdj)."""
    tenant = tenant or await factory.tenant(slug)
    slug = tenant.slug
    workflow = await install_workflow(db, tenant, workflow_doc())
    contact = await factory.contact(tenant, first_name="Anouk", email=f"anouk@{slug}.example.nl")
    lead = await factory.lead(tenant, contact)
    now = dt.datetime.now(dt.UTC)
    dead = await queued_run(db, workflow, lead_id=lead.id)
    await finish(db, dead.id, "dead", now - dt.timedelta(hours=1), STEP_LOG)
    failed = await queued_run(db, workflow)
    await finish(db, failed.id, "failed", now - dt.timedelta(days=3))
    queued = await queued_run(db, workflow)
    version = await draft(db, tenant, text="Hoi {{ contact.first_name }}, dank voor je aanvraag.")
    return OperationsWorld(tenant=tenant, dead=dead.id, failed=failed.id, queued=queued.id, lead=lead.id,
                           template=version.template_id, version=version.id)


async def run_status(db: Database, run_id: int) -> str:
    async with db.session() as session:
        run = await session.get(AutomationRun, run_id)
        assert run is not None
        return run.status
