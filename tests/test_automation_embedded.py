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
