"""Embedded mode: the API process runs the workers, woken by the commit that queues a run (not by polling)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from rentguy_crm.app import create_app
from rentguy_crm.automation.engine import worker as worker_module
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.config import get_settings
from rentguy_crm.events.service import emit
from tests.automation_support import get_run, install_workflow, workflow_doc
from tests.worker_support import eventually


class NeverPollingWorker(worker_module.Worker):
    """The embedded worker with a poll interval of an hour: once idle, only the commit's wake-up starts a run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "poll_interval": 3600.0})


@pytest.fixture
def never_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "Worker", NeverPollingWorker)


async def _finished_run(db: Any, workflow_key: str | None = None) -> AutomationRun | None:
    async with db.session() as session:
        query = select(AutomationRun).order_by(AutomationRun.id.desc())
        if workflow_key:
            query = query.where(AutomationRun.workflow_key == workflow_key)
        run = await session.scalar(query)
    return run if run is not None and run.status in ("succeeded", "failed", "dead") else None


async def test_embedded_app_runs_a_new_leads_workflow_when_the_commit_wakes_it(  # type: ignore[no-untyped-def]
        db, factory, never_polling) -> None:
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc(steps=[{"type": "create_task", "title": "Bel de lead"}]))
    app = create_app(get_settings(), db=db, embedded=True)
    async with app.router.lifespan_context(app):
        # Two leads one after the other: the second finds the worker idle after the first, with no poll due.
        for _ in range(2):
            lead = await factory.lead(tenant)
            async with db.session() as session:
                await emit(session, tenant.id, "lead.created", subject_type="lead", subject_id=lead.id)
            run = await eventually(lambda: _finished_run(db),
                                   lambda r, lead_id=lead.id: r is not None and r.lead_id == lead_id,
                                   what="the lead's run to finish")
            assert run is not None and run.status == "succeeded"
        worker = app.state.workers
    assert (await get_run(db, run.id)).step_log[0]["type"] == "create_task"
    assert worker.in_flight == {}


async def test_a_public_lead_on_the_embedded_default_gets_its_welcome_mail_in_the_outbox(  # type: ignore[no-untyped-def]
    db, factory, monkeypatch, never_polling
) -> None:
    """What a newcomer sees after `make run`: the shipped workflow and templates, no SMTP, the mail on disk."""
    monkeypatch.setattr(get_settings(), "env", "dev")  # the outbox stands in for SMTP in development mode only
    import httpx

    from rentguy_crm.automation.workflows import service as workflows_service
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
        run = await eventually(lambda: _finished_run(db, "lead_intake"), lambda r: r is not None,
                               what="the lead_intake run to finish")
    assert answer.status_code == 201 and answer.json()["automation_triggered"] is True
    assert run is not None and (run.status, run.last_error_message) == ("succeeded", None)
    mails = sorted(set(outbox.glob("*.eml")) - before)
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "To: anna.e2e@example.nl" in text and "Anna" in text
