"""Helpers for the automation tests: install workflow versions, drive the queue in-process, a settable clock."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import select, text

from rentguy_crm.automation.engine.executor import RunExecutor
from rentguy_crm.automation.runs import queue
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.db import Database
from rentguy_crm.tenants.models import Tenant


class Clock:
    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2025, 5, 1, 10, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> dt.datetime:
        self.now += dt.timedelta(**kwargs)
        return self.now


def workflow_doc(key: str = "lead_intake", steps: list[dict[str, Any]] | None = None,
                 triggers: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"key": key, "name": key.replace("_", " ").title(),
            "triggers": triggers or [{"event": "lead.created"}],
            "steps": steps or [{"type": "create_task", "title": "Bel de lead", "team": "sales"}], **extra}


async def install_workflow(db: Database, tenant: Tenant, doc: dict[str, Any], version: int = 1) -> Workflow:
    async with db.session() as session:
        workflow = Workflow(tenant_id=tenant.id, key=doc["key"], version=version, name=doc["name"],
                            triggers=[t["event"] for t in doc["triggers"]], definition=doc,
                            checksum=hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest(),
                            is_current=True, enabled=True)
        session.add(workflow)
    return workflow


async def queued_run(db: Database, workflow: Workflow, *, lead_id: int | None = None,
                     now: dt.datetime | None = None, max_attempts: int = 5) -> AutomationRun:
    now = now or dt.datetime.now(dt.UTC)
    async with db.session() as session:
        run = AutomationRun(tenant_id=workflow.tenant_id, workflow_id=workflow.id, workflow_key=workflow.key,
                            workflow_version=workflow.version, trigger_type="test", subject_type="lead",
                            lead_id=lead_id, status="queued", attempt=0, max_attempts=max_attempts, run_after=now,
                            current_step=0, step_log=[], context={}, sla_due_at=now + dt.timedelta(minutes=15))
        session.add(run)
    return run


async def run_due(qdb: Database, clock: Clock, owner: str = "worker-a", limit: int = 100,
                  executor: RunExecutor | None = None) -> list[str]:
    """Claim what is due at the clock's time and execute it to its next stop; returns the outcomes."""
    executor = executor or RunExecutor(qdb, owner, clock=clock)
    async with qdb.session() as session:
        claims = await queue.claim_due_runs(session, owner=executor.owner, now=clock(), lease=executor.lease,
                                            limit=limit)
    return [await executor.execute(c) for c in claims]


async def get_run(db: Database, run_id: int) -> AutomationRun:
    # Read beside the workers (tests poll this while a step holds SQLite's write lock).
    async with db.read_session() as session:
        run = await session.scalar(select(AutomationRun).where(AutomationRun.id == run_id))
        assert run is not None
        return run


async def runs_by_status(db: Database) -> dict[str, int]:
    # Read beside the workers: a write session would queue behind a step holding SQLite's write lock.
    async with db.read_session() as session:
        rows = (await session.execute(
            text("SELECT status, count(*) AS n FROM crm_automation_runs GROUP BY status"))).all()
    return {r.status: r.n for r in rows}
