"""Turn events into runs, in the transaction of the event: no lost and no phantom runs.

Registered with `events.service.on_emit` at start-up (`hooks.install`). A workflow starts when one of its
triggers names the event type (stage events also match `deal.stage.<stage>` and the stage's `automation_flow`)
and the trigger's condition holds.

One run per workflow per triggering change: every run gets a `dedupe_key` (see `dedupe_key`), unique per tenant,
and is inserted with ON CONFLICT DO NOTHING. Events that name the same change (a stage move is both
`deal.stage.changed` and `deal.stage.<key>`; a payment webhook retried) carry the same `change` in their payload;
a workflow with `once_per: subject` runs once per lead or deal, whatever fires for it again. A workflow with
`on_new_run: supersede` cancels its earlier waiting runs for the same subject (see `supersede`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as SyncSession

from rentguy_crm.automation.engine import repository
from rentguy_crm.automation.engine.waits import SUBJECT_CHANGED, retime_waits
from rentguy_crm.automation.runs import repository as runs_repository
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.runs.queue import wake_workers
from rentguy_crm.automation.runs.service import Subject, run_values
from rentguy_crm.automation.runs.supersede import supersede_earlier
from rentguy_crm.automation.workflows import expressions
from rentguy_crm.automation.workflows import repository as workflows_repository
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition, definition_of
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.crm.models import PipelineStage
from rentguy_crm.crm.variables import subject_variables
from rentguy_crm.db import utcnow
from rentguy_crm.events.models import Event
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import TenantScope

log = structlog.get_logger(__name__)

# --- the per-process cache of a tenant's current workflow versions ---------------------------------------------
# Every event asks which workflows it starts; reading the workflow table each time costs a query per lead.
# A process trusts its copy for WORKFLOW_CACHE_SECONDS, so a sync, a new version or a disabled workflow is seen
# by every process within that time; in the process that writes the change it is seen at once (the ORM
# listeners below drop the copy on every insert, update or delete of a workflow row).

WORKFLOW_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class CurrentWorkflow:
    """A detached snapshot of one current, enabled version (what dispatch needs of it)."""

    id: int
    tenant_id: int
    key: str
    version: int
    definition: WorkflowDefinition | None  # None: the stored definition does not parse (logged, skipped)


def _monotonic() -> float:
    return time.monotonic()


_workflows: dict[int, tuple[float, tuple[CurrentWorkflow, ...]]] = {}


def forget_workflows(tenant_id: int | None = None) -> None:
    if tenant_id is None:
        _workflows.clear()
    else:
        _workflows.pop(tenant_id, None)


def _snapshot(workflow: Workflow) -> CurrentWorkflow:
    try:
        definition: WorkflowDefinition | None = definition_of(workflow)
    except ValueError as exc:
        log.warning("workflow_definition_invalid", workflow=workflow.key, version=workflow.version, error=str(exc))
        definition = None
    return CurrentWorkflow(workflow.id, workflow.tenant_id, workflow.key, workflow.version, definition)


async def cached_workflows(session: AsyncSession, tenant_id: int) -> tuple[CurrentWorkflow, ...]:
    """The tenant's current, enabled versions, read at most every WORKFLOW_CACHE_SECONDS per process."""
    hit = _workflows.get(tenant_id)
    now = _monotonic()
    if hit is not None and now - hit[0] <= WORKFLOW_CACHE_SECONDS:
        return hit[1]
    rows = tuple(_snapshot(w) for w in await workflows_repository.current_enabled(session, TenantScope(tenant_id)))
    _workflows[tenant_id] = (now, rows)
    return rows


def unconditional_matches(workflows: tuple[CurrentWorkflow, ...],
                          event_type: str) -> list[tuple[CurrentWorkflow, WorkflowDefinition]] | None:
    """The workflows an event of this type starts when that is decided by the type alone (no trigger condition
    and no stage involved), so a caller can write the runs in the same statement as the event. None: the
    decision needs the event's variables; use `runs_for_event`."""
    if event_type.startswith("deal.stage."):
        return None
    matched: list[tuple[CurrentWorkflow, WorkflowDefinition]] = []
    for workflow in workflows:
        if workflow.definition is None:
            continue
        triggers = [t for t in workflow.definition.triggers if t.event == event_type]
        if any(t.condition is not None for t in triggers):
            return None
        if triggers:
            matched.append((workflow, workflow.definition))
    return matched


def _workflow_written(tenant_id: int | None) -> None:
    forget_workflows(tenant_id)


@sa_event.listens_for(Workflow, "after_insert")
@sa_event.listens_for(Workflow, "after_update")
@sa_event.listens_for(Workflow, "after_delete")
def _workflow_row_written(_mapper: Any, _connection: Any, target: Workflow) -> None:
    _workflow_written(target.tenant_id)


@sa_event.listens_for(SyncSession, "do_orm_execute")
def _workflow_bulk_written(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ is Workflow:
        forget_workflows()


@sa_event.listens_for(SyncSession, "after_commit")
def _forget_after_workflow_commit(session: SyncSession) -> None:
    # A concurrent request may have re-read the table between the write and its commit: read it again.
    tenants = session.info.pop("crm_workflows_written", None)
    for tenant_id in tenants or ():
        forget_workflows(tenant_id)


@sa_event.listens_for(SyncSession, "after_flush")
def _note_workflow_writes(session: SyncSession, _context: Any) -> None:
    written = {o.tenant_id for o in (*session.new, *session.dirty, *session.deleted) if isinstance(o, Workflow)}
    if written:
        session.info.setdefault("crm_workflows_written", set()).update(written)


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
    if not subject.deal_id:
        return None
    return await repository.stage_of_deal(session, TenantScope(event.tenant_id), subject.deal_id, stage_key)


async def runs_for_event(session: AsyncSession, event: Event) -> list[AutomationRun]:
    """Create the queued runs an event triggers (in the caller's transaction) and return them. An event that
    reports a changed deal or lead also moves the `wait until` of its parked runs (`waits.retime_waits`)."""
    if event.type in SUBJECT_CHANGED:
        await retime_waits(session, event)
    workflows = await cached_workflows(session, event.tenant_id)
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
    variables: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for workflow in workflows:
        definition = workflow.definition
        if definition is None:
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
                tenant = await tenants.by_id(session, event.tenant_id)
                assert tenant is not None
                variables = await subject_variables(session, tenant, lead_id=subject.lead_id, deal_id=subject.deal_id)
                variables["event"] = {"type": event.type, "payload": event.payload}
            matched = _condition_holds(trigger.condition, variables, workflow.key, event.type)
        if matched:
            rows.append(run_values(workflow, definition, event.type, subject.type, now)
                        | {"trigger_event_id": event.id, "lead_id": subject.lead_id, "deal_id": subject.deal_id,
                           "dedupe_key": dedupe_key(workflow.key, definition, subject, event)})
    created = await runs_repository.insert_runs(session, rows)
    if created:
        superseding = {w.id for w in workflows if w.definition is not None and w.definition.on_new_run == "supersede"}
        await supersede_earlier(session, [r for r in created if r.workflow_id in superseding], now)
        await wake_workers(session)
    return created


DedupePart = Literal["event", "subject"]


def dedupe_prefix(workflow_key: str, definition: WorkflowDefinition, subject_type: str) -> tuple[str, DedupePart]:
    """A new run's dedupe key but for its last part, and what that part is: the id of the triggering event, or of
    the run's lead or deal (`once_per: subject`). The one-statement lead store completes it in SQL."""
    if definition.once_per == "subject" and subject_type in ("lead", "deal"):
        return f"{workflow_key}:{subject_type}:", "subject"
    return f"{workflow_key}:event:", "event"


def dedupe_key(workflow_key: str, definition: WorkflowDefinition, subject: Subject, event: Event) -> str:
    """`<workflow>:event:<id>` (the triggering event is the change), `<workflow>:<change>` when the event's
    payload names its change, or `<workflow>:<lead|deal>:<id>` for a workflow that runs once per subject."""
    prefix, part = dedupe_prefix(workflow_key, definition, subject.type)
    if part == "subject":
        return f"{prefix}{subject.deal_id if subject.type == 'deal' else subject.lead_id}"
    change = (event.payload or {}).get("change")
    if isinstance(change, str) and change:
        key = f"{workflow_key}:{change}"
        return key if len(key) <= 255 else f"{workflow_key}:sha256:{hashlib.sha256(change.encode()).hexdigest()}"
    return f"{prefix}{event.id}"


def _condition_holds(condition: str, variables: dict[str, Any], workflow_key: str, event_type: str) -> bool:
    try:
        return bool(expressions.evaluate(condition, variables))
    except Exception as exc:  # a condition that cannot be evaluated does not start the workflow
        log.warning("trigger_condition_not_evaluated", workflow=workflow_key, trigger=event_type,
                    condition=condition, error=str(exc))
        return False


