"""Operations on runs and workflows: list, show, retry, cancel, pause, resume. Flushes, never commits; audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.automation.engine.dispatch import wake_workers
from rentguy_crm.automation.runs.models import RUN_STATUSES, AutomationRun, WorkflowPause
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.errors import Conflict, NotFound, ValidationFailed
from rentguy_crm.observability import metrics
from rentguy_crm.tenants.models import Tenant

RETRYABLE_STATUSES = ("failed", "dead", "cancelled")
CANCELLABLE_STATUSES = ("queued", "waiting", "running")


def run_summary(run: AutomationRun) -> dict[str, Any]:
    return {"id": run.id, "workflow": run.workflow_key, "version": run.workflow_version, "status": run.status,
            "attempt": run.attempt, "max_attempts": run.max_attempts, "trigger": run.trigger_type,
            "lead_id": run.lead_id, "deal_id": run.deal_id, "current_step": run.current_step,
            "created_at": run.created_at, "run_after": run.run_after, "started_at": run.started_at,
            "completed_at": run.completed_at, "duration_ms": run.duration_ms, "lease_owner": run.lease_owner,
            "sla_due_at": run.sla_due_at, "sla_breached": run.sla_breached,
            "last_error_type": run.last_error_type, "last_error_message": run.last_error_message}


def run_detail(run: AutomationRun) -> dict[str, Any]:
    return {**run_summary(run), "trigger_event_id": run.trigger_event_id, "lease_expires_at": run.lease_expires_at,
            "step_log": run.step_log, "context": run.context}


async def list_runs(session: AsyncSession, tenant_id: int | None, *, workflow: str | None = None,
                    status: str | None = None, since: dt.datetime | None = None, lead_id: int | None = None,
                    limit: int = 50, offset: int = 0) -> tuple[list[AutomationRun], int]:
    if status is not None and status not in RUN_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(RUN_STATUSES)}; got '{status}'.",
                               errors=[{"field": "status", "message": "unknown status"}])
    query = select(AutomationRun)
    if tenant_id is not None:
        query = query.where(AutomationRun.tenant_id == tenant_id)
    if workflow:
        query = query.where(AutomationRun.workflow_key == workflow)
    if status:
        query = query.where(AutomationRun.status == status)
    if since:
        query = query.where(AutomationRun.created_at >= since)
    if lead_id:
        query = query.where(AutomationRun.lead_id == lead_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(AutomationRun.id.desc()).limit(limit).offset(offset))
    return list(rows.all()), int(total)


async def get_run(session: AsyncSession, tenant_id: int | None, run_id: int) -> AutomationRun:
    run = await session.get(AutomationRun, run_id)
    if run is None or (tenant_id is not None and run.tenant_id != tenant_id):
        raise NotFound(f"No automation run {run_id}.")
    return run


async def retry_run(session: AsyncSession, tenant_id: int | None, run_id: int, *, actor: str,
                    now: dt.datetime) -> AutomationRun:
    """Queue a failed, dead or cancelled run again, with fresh attempts; it resumes after its last done step."""
    run = await get_run(session, tenant_id, run_id)
    if run.status not in RETRYABLE_STATUSES:
        raise Conflict(f"Run {run_id} is {run.status}; only {', '.join(RETRYABLE_STATUSES)} runs can be retried.")
    before = {"status": run.status, "attempt": run.attempt}
    run.status, run.attempt, run.run_after, run.completed_at = "queued", 0, now, None
    run.lease_owner, run.lease_expires_at = None, None
    await session.flush()
    await audit.record(session, actor=actor, action="automation.run.retry", entity_type="automation_run",
                       entity_id=run.id, tenant_id=run.tenant_id, before=before,
                       after={"status": "queued", "attempt": 0})
    await wake_workers(session)
    return run


async def cancel_run(session: AsyncSession, tenant_id: int | None, run_id: int, *, actor: str,
                     now: dt.datetime) -> AutomationRun:
    """Cancel a run that has not finished. A worker executing it loses its fence and stops at the next step."""
    run = await get_run(session, tenant_id, run_id)
    if run.status not in CANCELLABLE_STATUSES:
        raise Conflict(f"Run {run_id} is {run.status}; only {', '.join(CANCELLABLE_STATUSES)} runs can be cancelled.")
    before = {"status": run.status}
    run.status, run.completed_at, run.lease_owner, run.lease_expires_at = "cancelled", now, None, None
    await session.flush()
    await audit.record(session, actor=actor, action="automation.run.cancel", entity_type="automation_run",
                       entity_id=run.id, tenant_id=run.tenant_id, before=before, after={"status": "cancelled"})
    slug = await session.scalar(select(Tenant.slug).where(Tenant.id == run.tenant_id)) or str(run.tenant_id)
    metrics.automation_runs_finished_total.labels(slug, run.workflow_key, "cancelled").inc()
    return run


async def _known_workflow(session: AsyncSession, tenant: Tenant, key: str) -> None:
    known = await session.scalar(select(Workflow.id).where(Workflow.tenant_id == tenant.id, Workflow.key == key)
                                 .limit(1))
    has_runs = known or await session.scalar(select(AutomationRun.id).where(
        AutomationRun.tenant_id == tenant.id, AutomationRun.workflow_key == key).limit(1))
    if not has_runs:
        raise NotFound(f"Tenant {tenant.slug} has no workflow '{key}'. See: crm workflows list --tenant {tenant.slug}")


async def pause_workflow(session: AsyncSession, tenant: Tenant, key: str, *, actor: str, reason: str | None,
                         now: dt.datetime) -> WorkflowPause:
    """Stop claims of this workflow's runs. New runs still queue; nothing is dropped. Pausing twice is a no-op."""
    await _known_workflow(session, tenant, key)
    pause = await session.scalar(select(WorkflowPause).where(WorkflowPause.tenant_id == tenant.id,
                                                             WorkflowPause.workflow_key == key))
    if pause is not None:
        return pause
    pause = WorkflowPause(tenant_id=tenant.id, workflow_key=key, paused_at=now, paused_by=actor, reason=reason)
    try:
        async with session.begin_nested():  # a concurrent pause (another process) may insert the row first
            session.add(pause)
            await session.flush()
    except IntegrityError:
        existing = await session.scalar(select(WorkflowPause).where(WorkflowPause.tenant_id == tenant.id,
                                                                    WorkflowPause.workflow_key == key))
        if existing is None:
            raise
        return existing
    await audit.record(session, actor=actor, action="automation.workflow.pause", entity_type="workflow",
                       entity_id=key, tenant_id=tenant.id, after={"paused": True, "reason": reason})
    return pause


async def resume_workflow(session: AsyncSession, tenant: Tenant, key: str, *, actor: str) -> bool:
    """Let workers claim the workflow's runs again. Returns False when it was not paused."""
    await _known_workflow(session, tenant, key)
    result = await session.execute(delete(WorkflowPause).where(WorkflowPause.tenant_id == tenant.id,
                                                               WorkflowPause.workflow_key == key))
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await audit.record(session, actor=actor, action="automation.workflow.resume", entity_type="workflow",
                       entity_id=key, tenant_id=tenant.id, before={"paused": True}, after={"paused": False})
    await wake_workers(session)
    return True
