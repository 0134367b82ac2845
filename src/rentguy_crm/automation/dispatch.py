"""Turn events into runs, in the transaction of the event: no lost and no phantom runs.

Called by `events.service.emit`. A workflow starts when one of its triggers names the event type (stage
events also match `deal.stage.<stage>` and the stage's `automation_flow`) and the trigger's condition holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from rentguy_crm.automation import expressions
from rentguy_crm.automation.definitions import WorkflowDefinition
from rentguy_crm.automation.models import AutomationRun, Workflow
from rentguy_crm.automation.variables import subject_variables
from rentguy_crm.crm.models import Deal, PipelineStage
from rentguy_crm.db import utcnow
from rentguy_crm.errors import NotFound, ValidationFailed
from rentguy_crm.events.models import Event
from rentguy_crm.tenants.models import Tenant

log = structlog.get_logger(__name__)

NOTIFY_CHANNEL = "crm_runs"
_DEFINITIONS: dict[tuple[int, str], WorkflowDefinition] = {}


def definition_of(workflow: Workflow) -> WorkflowDefinition:
    """The parsed definition of a stored version, cached by (id, checksum): versions never change."""
    cache_key = (workflow.id, workflow.checksum)
    definition = _DEFINITIONS.get(cache_key)
    if definition is None:
        definition = WorkflowDefinition.model_validate(workflow.definition)
        _DEFINITIONS[cache_key] = definition
    return definition


@dataclass(frozen=True)
class Subject:
    lead_id: int | None = None
    deal_id: int | None = None

    @property
    def type(self) -> str:
        return "deal" if self.deal_id else "lead" if self.lead_id else "none"


async def current_workflows(session: AsyncSession, tenant_id: int) -> list[Workflow]:
    rows = await session.scalars(select(Workflow).where(Workflow.tenant_id == tenant_id,
                                                        Workflow.is_current.is_(True),
                                                        Workflow.enabled.is_(True)))
    return list(rows.all())


def _subject_of(event: Event) -> Subject:
    payload = event.payload or {}
    lead_id = payload.get("lead_id")
    deal_id = payload.get("deal_id")
    if event.subject_type == "lead":
        lead_id = event.subject_id
    elif event.subject_type == "deal":
        deal_id = event.subject_id
    return Subject(lead_id=lead_id, deal_id=deal_id)


async def _stage_of(session: AsyncSession, event: Event, subject: Subject) -> PipelineStage | None:
    """The stage a deal entered: from the event type, the payload, or the deal itself."""
    stage_key = (event.payload or {}).get("stage") or (event.payload or {}).get("to_stage")
    if event.type.startswith("deal.stage.") and event.type != "deal.stage.changed":
        stage_key = event.type.removeprefix("deal.stage.")
    deal = await session.get(Deal, subject.deal_id) if subject.deal_id else None
    if deal is None:
        return None
    if stage_key is None:
        return await session.get(PipelineStage, deal.stage_id)
    return await session.scalar(select(PipelineStage).where(PipelineStage.pipeline_id == deal.pipeline_id,
                                                            PipelineStage.key == stage_key))


async def runs_for_event(session: AsyncSession, event: Event) -> list[AutomationRun]:
    """Create the queued runs an event triggers (in the caller's transaction) and return them."""
    workflows = await current_workflows(session, event.tenant_id)
    if not workflows:
        return []
    subject = _subject_of(event)
    types = {event.type}
    flow_from_stage: str | None = None
    if event.type.startswith("deal.stage."):
        stage = await _stage_of(session, event, subject)
        if stage is not None:
            types |= {f"deal.stage.{stage.key}", "deal.stage.changed"}
            flow_from_stage = stage.automation_flow
    tenant = await session.get(Tenant, event.tenant_id)
    assert tenant is not None
    variables: dict[str, Any] | None = None
    created: list[AutomationRun] = []
    for workflow in workflows:
        try:
            definition = definition_of(workflow)
        except ValueError as exc:
            log.warning("workflow_definition_invalid", workflow=workflow.key, version=workflow.version, error=str(exc))
            continue
        matched = workflow.key == flow_from_stage
        for trigger in definition.triggers:
            if matched:
                break
            if trigger.event not in types:
                continue
            if trigger.condition is None:
                matched = True
                continue
            if variables is None:
                variables = await subject_variables(session, tenant, lead_id=subject.lead_id, deal_id=subject.deal_id)
                variables["event"] = {"type": event.type, "payload": event.payload}
            matched = _condition_holds(trigger.condition, variables, workflow.key, event.type)
        if matched:
            created.append(_new_run(workflow, definition, event.type, subject, event_id=event.id))
    if created:
        session.add_all(created)
        await session.flush()
        await wake_workers(session)
    return created


def _condition_holds(condition: str, variables: dict[str, Any], workflow_key: str, event_type: str) -> bool:
    try:
        return bool(expressions.evaluate(condition, variables))
    except Exception as exc:  # a condition that cannot be evaluated does not start the workflow
        log.warning("trigger_condition_not_evaluated", workflow=workflow_key, trigger=event_type,
                    condition=condition, error=str(exc))
        return False


def _new_run(workflow: Workflow, definition: WorkflowDefinition, trigger_type: str, subject: Subject, *,
             event_id: int | None, now: dt.datetime | None = None) -> AutomationRun:
    now = now or utcnow()
    return AutomationRun(
        tenant_id=workflow.tenant_id, workflow_id=workflow.id, workflow_key=workflow.key,
        workflow_version=workflow.version, trigger_type=trigger_type, trigger_event_id=event_id,
        subject_type=subject.type, lead_id=subject.lead_id, deal_id=subject.deal_id, status="queued",
        attempt=0, max_attempts=definition.retry.max_attempts, run_after=now, current_step=0, step_log=[],
        context={}, sla_due_at=now + definition.sla, sla_breached=False,
    )


async def start_manual_run(session: AsyncSession, tenant: Tenant, workflow_key: str, *, lead_id: int | None = None,
                           deal_id: int | None = None) -> AutomationRun:
    """`crm runs start` / `POST /api/v1/automation/runs`: one run of the current version, now."""
    if (lead_id is None) == (deal_id is None):
        raise ValidationFailed("Give exactly one subject: a lead or a deal.",
                               errors=[{"field": "lead_id", "message": "give lead_id or deal_id"}])
    from rentguy_crm.crm.models import Lead

    if lead_id is not None:
        lead = await session.get(Lead, lead_id)
        if lead is None or lead.tenant_id != tenant.id:
            raise NotFound(f"No lead {lead_id} in tenant {tenant.slug}.")
    if deal_id is not None:
        deal = await session.get(Deal, deal_id)
        if deal is None or deal.tenant_id != tenant.id:
            raise NotFound(f"No deal {deal_id} in tenant {tenant.slug}.")
    workflow = await session.scalar(select(Workflow).where(Workflow.tenant_id == tenant.id,
                                                           Workflow.key == workflow_key,
                                                           Workflow.is_current.is_(True)))
    if workflow is None:
        raise NotFound(f"No workflow '{workflow_key}' in tenant {tenant.slug}; "
                       f"load the library with: crm workflows sync --tenant {tenant.slug}")
    run = _new_run(workflow, definition_of(workflow), "manual", Subject(lead_id=lead_id, deal_id=deal_id),
                   event_id=None)
    session.add(run)
    await session.flush()
    await wake_workers(session)
    return run


# Workers in this process (embedded mode) wait on these; the commit that creates runs wakes them.
_LOCAL_WAKERS: list[Any] = []


def add_local_waker(callback: Any) -> None:
    _LOCAL_WAKERS.append(callback)


def remove_local_waker(callback: Any) -> None:
    if callback in _LOCAL_WAKERS:
        _LOCAL_WAKERS.remove(callback)


async def wake_workers(session: AsyncSession) -> None:
    """NOTIFY on Postgres is delivered at commit (and dropped on rollback), like the runs themselves."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    session.sync_session.info["crm_runs_created"] = True


@sa_event.listens_for(SyncSession, "after_commit")
def _wake_local_workers(session: SyncSession) -> None:
    if session.info.pop("crm_runs_created", False):
        for callback in list(_LOCAL_WAKERS):
            callback()


@sa_event.listens_for(SyncSession, "after_rollback")
def _forget_on_rollback(session: SyncSession) -> None:
    session.info.pop("crm_runs_created", None)
