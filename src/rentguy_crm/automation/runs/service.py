"""Operations on runs and workflows: start, list, show, retry, cancel, pause, resume. Flushes, never commits;
audited by the caller (start) or here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.automation.runs import repository
from rentguy_crm.automation.runs.models import RUN_STATUSES, AutomationRun, WorkflowPause
from rentguy_crm.automation.runs.queue import wake_workers
from rentguy_crm.automation.workflows import repository as workflows
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition, definition_of
from rentguy_crm.crm.models import Deal, Lead
from rentguy_crm.db import utcnow
from rentguy_crm.errors import Conflict, NotFound, ValidationFailed
from rentguy_crm.observability import metrics
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import Scope, TenantScope

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


async def list_runs(session: AsyncSession, scope: Scope, *, workflow: str | None = None,
                    status: str | None = None, since: dt.datetime | None = None, lead_id: int | None = None,
                    limit: int = 50, offset: int = 0) -> tuple[list[AutomationRun], int]:
    if status is not None and status not in RUN_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(RUN_STATUSES)}; got '{status}'.",
                               errors=[{"field": "status", "message": "unknown status"}])
    return await repository.list_runs(session, scope, workflow=workflow, status=status, since=since,
                                      lead_id=lead_id, limit=limit, offset=offset)


async def get_run(session: AsyncSession, scope: Scope, run_id: int) -> AutomationRun:
    run = await repository.get_run(session, scope, run_id)
    if run is None:
        raise NotFound(f"No automation run {run_id}.")
    return run


async def retry_run(session: AsyncSession, scope: Scope, run_id: int, *, actor: str,
                    now: dt.datetime) -> AutomationRun:
    """Queue a failed, dead or cancelled run again, with fresh attempts; it resumes after its last done step."""
    run = await get_run(session, scope, run_id)
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


# One press retries at most this many; a larger backlog is a worker or vendor fault to fix first.
RETRY_ALL_LIMIT = 500


async def retry_failed_since(session: AsyncSession, scope: TenantScope, workflow_key: str, since: dt.datetime, *,
                             actor: str, now: dt.datetime) -> list[AutomationRun]:
    """Retry every failed or dead run of one workflow that finished since `since`; each retry is audited."""
    if since > now:
        raise ValidationFailed("'since' lies in the future; choose a moment in the past.",
                               errors=[{"field": "since", "message": "in the future"}])
    if not (await workflows.has_workflow(session, scope, workflow_key)
            or await repository.has_runs_of(session, scope, workflow_key)):
        raise NotFound(f"No workflow '{workflow_key}' in this tenant.")
    ids = await repository.finished_run_ids(session, scope, workflow_key, ("failed", "dead"), since, RETRY_ALL_LIMIT)
    return [await retry_run(session, scope, run_id, actor=actor, now=now) for run_id in ids]


async def cancel_run(session: AsyncSession, scope: Scope, run_id: int, *, actor: str,
                     now: dt.datetime) -> AutomationRun:
    """Cancel a run that has not finished. A worker executing it loses its fence and stops at the next step."""
    run = await get_run(session, scope, run_id)
    if run.status not in CANCELLABLE_STATUSES:
        raise Conflict(f"Run {run_id} is {run.status}; only {', '.join(CANCELLABLE_STATUSES)} runs can be cancelled.")
    before = {"status": run.status}
    run.status, run.completed_at, run.lease_owner, run.lease_expires_at = "cancelled", now, None, None
    await session.flush()
    await audit.record(session, actor=actor, action="automation.run.cancel", entity_type="automation_run",
                       entity_id=run.id, tenant_id=run.tenant_id, before=before, after={"status": "cancelled"})
    slug = await tenants.slug_of(session, run.tenant_id) or str(run.tenant_id)
    metrics.automation_runs_finished_total.labels(slug, run.workflow_key, "cancelled").inc()
    return run


async def cancel_runs_started_by(session: AsyncSession, scope: TenantScope, deal_id: int, event_ids: list[int], *,
                                 actor: str, now: dt.datetime) -> list[AutomationRun]:
    """Cancel (audited, one by one) the deal's unfinished runs these events started: what an undone move set off."""
    return [await cancel_run(session, scope, run_id, actor=actor, now=now)
            for run_id in await repository.open_runs_started_by(session, scope, deal_id, event_ids)]


async def _known_workflow(session: AsyncSession, tenant: Tenant, key: str) -> None:
    scope = TenantScope(tenant.id)
    if not (await workflows.has_workflow(session, scope, key) or await repository.has_runs_of(session, scope, key)):
        raise NotFound(f"Tenant {tenant.slug} has no workflow '{key}'. See: crm workflows list --tenant {tenant.slug}")


async def pause_workflow(session: AsyncSession, tenant: Tenant, key: str, *, actor: str, reason: str | None,
                         now: dt.datetime) -> WorkflowPause:
    """Stop claims of this workflow's runs. New runs still queue; nothing is dropped. Pausing twice is a no-op."""
    await _known_workflow(session, tenant, key)
    scope = TenantScope(tenant.id)
    pause = await repository.pause_of(session, scope, key)
    if pause is not None:
        return pause
    pause = WorkflowPause(tenant_id=tenant.id, workflow_key=key, paused_at=now, paused_by=actor, reason=reason)
    try:
        async with session.begin_nested():  # a concurrent pause (another process) may insert the row first
            session.add(pause)
            await session.flush()
    except IntegrityError:
        existing = await repository.pause_of(session, scope, key)
        if existing is None:
            raise
        return existing
    await audit.record(session, actor=actor, action="automation.workflow.pause", entity_type="workflow",
                       entity_id=key, tenant_id=tenant.id, after={"paused": True, "reason": reason})
    return pause


async def resume_workflow(session: AsyncSession, tenant: Tenant, key: str, *, actor: str) -> bool:
    """Let workers claim the workflow's runs again. Returns False when it was not paused."""
    await _known_workflow(session, tenant, key)
    if not await repository.delete_pause(session, TenantScope(tenant.id), key):
        return False
    await audit.record(session, actor=actor, action="automation.workflow.resume", entity_type="workflow",
                       entity_id=key, tenant_id=tenant.id, before={"paused": True}, after={"paused": False})
    await wake_workers(session)
    return True


# -- new runs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    lead_id: int | None = None
    deal_id: int | None = None

    @property
    def type(self) -> str:
        return "deal" if self.deal_id else "lead" if self.lead_id else "none"


class WorkflowVersion(Protocol):
    """What a new run needs of a workflow version: a stored row or a cached snapshot."""

    @property
    def id(self) -> int: ...

    @property
    def tenant_id(self) -> int: ...

    @property
    def key(self) -> str: ...

    @property
    def version(self) -> int: ...


def run_values(workflow: WorkflowVersion, definition: WorkflowDefinition, trigger_type: str, subject_type: str,
               now: dt.datetime) -> dict[str, Any]:
    """The columns of a new queued run, besides its subject ids and trigger event (which the caller adds)."""
    return {
        "tenant_id": workflow.tenant_id, "workflow_id": workflow.id, "workflow_key": workflow.key,
        "workflow_version": workflow.version, "trigger_type": trigger_type, "subject_type": subject_type,
        "status": "queued", "attempt": 0, "max_attempts": definition.retry.max_attempts, "run_after": now,
        "current_step": 0, "step_log": [], "context": {}, "sla_due_at": now + definition.sla, "sla_breached": False,
    }


def _new_run(workflow: WorkflowVersion, definition: WorkflowDefinition, trigger_type: str, subject: Subject, *,
             event_id: int | None, now: dt.datetime | None = None) -> AutomationRun:
    values = run_values(workflow, definition, trigger_type, subject.type, now or utcnow())
    return AutomationRun(trigger_event_id=event_id, lead_id=subject.lead_id, deal_id=subject.deal_id, **values)


async def start_manual_run(session: AsyncSession, tenant: Tenant, workflow_key: str, *, lead_id: int | None = None,
                           deal_id: int | None = None) -> AutomationRun:
    """`crm runs start` / `POST /api/v1/automation/runs`: one run of the current version, now."""
    if (lead_id is None) == (deal_id is None):
        raise ValidationFailed("Give exactly one subject: a lead or a deal.",
                               errors=[{"field": "lead_id", "message": "give lead_id or deal_id"}])
    scope = TenantScope(tenant.id)
    if lead_id is not None and await repository.subject_in(session, scope, Lead, lead_id) is None:
        raise NotFound(f"No lead {lead_id} in tenant {tenant.slug}.")
    if deal_id is not None and await repository.subject_in(session, scope, Deal, deal_id) is None:
        raise NotFound(f"No deal {deal_id} in tenant {tenant.slug}.")
    workflow = await workflows.current_version(session, scope, workflow_key)
    if workflow is None:
        raise NotFound(f"No workflow '{workflow_key}' in tenant {tenant.slug}; "
                       f"load the library with: crm workflows sync --tenant {tenant.slug}")
    run = _new_run(workflow, definition_of(workflow), "manual", Subject(lead_id=lead_id, deal_id=deal_id),
                   event_id=None)
    session.add(run)
    await session.flush()
    await wake_workers(session)
    return run
