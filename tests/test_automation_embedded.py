"""Embedded mode: the API process runs the workers; a new lead's run is done within a second."""

from __future__ import annotations

import asyncio
import time

from rentguy_crm.app import create_app
from rentguy_crm.config import get_settings
from rentguy_crm.events.service import emit
from tests.automation_support import get_run, install_workflow, workflow_doc


async def test_embedded_app_runs_a_new_leads_workflow_within_a_second(db, factory) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from rentguy_crm.automation.models import AutomationRun

    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc(steps=[{"type": "create_task", "title": "Bel de lead"}]))
    lead = await factory.lead(tenant)
    app = create_app(get_settings(), db=db, embedded=True)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.3)  # the worker is up and idle
        started = time.monotonic()
        async with db.session() as session:
            await emit(session, tenant.id, "lead.created", subject_type="lead", subject_id=lead.id)
        run_id = None
        while time.monotonic() - started < 5:
            async with db.session() as session:
                run = await session.scalar(select(AutomationRun))
                if run is not None and run.status == "succeeded":
                    run_id = run.id
                    break
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        worker = app.state.workers
    assert run_id is not None and elapsed < 1.0, elapsed
    assert (await get_run(db, run_id)).step_log[0]["type"] == "create_task"
    assert worker.in_flight == {}


async def test_a_public_lead_on_the_embedded_default_gets_its_welcome_mail_in_the_outbox(  # type: ignore[no-untyped-def]
    db, factory, monkeypatch
) -> None:
    """What a newcomer sees after `make run`: the shipped workflow and templates, no SMTP, the mail on disk."""
    monkeypatch.setattr(get_settings(), "env", "dev")  # the outbox stands in for SMTP in development mode only
    import httpx
    from sqlalchemy import select

    from rentguy_crm.automation import workflows_service
    from rentguy_crm.automation.models import AutomationRun
    from rentguy_crm.templates import cloning

    tenant = await factory.tenant()
    async with db.session() as session:
        await workflows_service.sync(session, tenant.slug)
        await cloning.clone(session, tenant.slug, publish=True)
    outbox = get_settings().var_dir / "outbox" / tenant.slug
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    app = create_app(get_settings(), db=db, embedded=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answer = await client.post("/api/v1/public/leads", json={
                "tenant": "mr-dj", "first_name": "Anna", "last_name": "de Vries", "email": "anna.e2e@example.nl",
                "event_type": "bruiloft", "event_date": "2027-06-12"})
        started = time.monotonic()
        run = None
        while time.monotonic() - started < 5:
            async with db.session() as session:
                run = await session.scalar(select(AutomationRun).where(AutomationRun.workflow_key == "lead_intake"))
            if run is not None and run.status in ("succeeded", "failed", "dead"):
                break
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
    assert answer.status_code == 201 and answer.json()["automation_triggered"] is True
    assert run is not None and (run.status, run.last_error_message) == ("succeeded", None)
    assert elapsed < 1.0, elapsed
    mails = sorted(set(outbox.glob("*.eml")) - before)
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "To: anna.e2e@example.nl" in text and "Anna" in text
