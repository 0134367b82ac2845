"""Turn events into runs, in the transaction of the event: no lost and no phantom runs.

Called by `events.service.emit`. A workflow starts when one of its triggers names the event type (stage
events also match `deal.stage.<stage>` and the stage's `automation_flow`) and the trigger's condition holds.

One run per workflow per triggering change: every run gets a `dedupe_key` (see `dedupe_key`), unique per tenant,
and is inserted with ON CONFLICT DO NOTHING. Events that name the same change (a stage move is both
`deal.stage.changed` and `deal.stage.<key>`; a payment webhook retried) carry the same `change` in their payload;
a workflow with `once_per: subject` runs once per lead or deal, whatever fires for it again. A workflow with
`on_new_run: supersede` cancels its earlier waiting runs for the same subject (see `supersede`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as SyncSession

from rentguy_crm.automation.engine.variables import subject_variables
from rentguy_crm.automation.engine.waits import SUBJECT_CHANGED, retime_waits
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.runs.supersede import supersede_earlier
from rentguy_crm.automation.workflows import expressions
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition
from rentguy_crm.automation.workflows.models import Workflow
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


# --- the per-process cache of a tenant's current workflow versions ---------------------------------------------
# Every event asks which workflows it starts; reading the workflow table each time costs a query per lead.
# A process trusts its copy for WORKFLOW_CACHE_SECONDS, so a sync, a new version or a disabled workflow is seen
# by every process within that time; in the process that writes the change it is seen at once (the ORM
# listeners below drop the copy on every insert, update or delete of a workflow row).

WORKFLOW_CACHE_SECONDS = 2.0


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
    rows = tuple(_snapshot(w) for w in await current_workflows(session, tenant_id))
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
    deal = await session.get(Deal, subject.deal_id) if subject.deal_id else None
    if deal is None:
        return None
    if stage_key is None:
        return await session.get(PipelineStage, deal.stage_id)
    return await session.scalar(select(PipelineStage).where(PipelineStage.pipeline_id == deal.pipeline_id,
                                                            PipelineStage.key == stage_key))


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
                tenant = await session.get(Tenant, event.tenant_id)
                assert tenant is not None
                variables = await subject_variables(session, tenant, lead_id=subject.lead_id, deal_id=subject.deal_id)
                variables["event"] = {"type": event.type, "payload": event.payload}
            matched = _condition_holds(trigger.condition, variables, workflow.key, event.type)
        if matched:
            rows.append(run_values(workflow, definition, event.type, subject.type, now)
                        | {"trigger_event_id": event.id, "lead_id": subject.lead_id, "deal_id": subject.deal_id,
                           "dedupe_key": dedupe_key(workflow.key, definition, subject, event)})
    created = await insert_runs(session, rows)
    if created:
        superseding = {w.id for w in workflows if w.definition is not None and w.definition.on_new_run == "supersede"}
        await supersede_earlier(session, [r for r in created if r.workflow_id in superseding], now)
        await wake_workers(session)
    return created


async def insert_runs(session: AsyncSession, rows: list[dict[str, Any]]) -> list[AutomationRun]:
    """Insert new runs; a run whose dedupe key the tenant already has (this transaction, an earlier one, or a
    concurrent one, which Postgres waits for) is left out. Returns the runs inserted."""
    if not rows:
        return []
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (insert(AutomationRun).on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
                 .returning(AutomationRun))
    return list((await session.scalars(statement, rows)).all())


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
    runs_written(session)


def runs_written(session: AsyncSession) -> None:
    """Wake this process's embedded workers at commit. A caller that wrote runs in its own statement calls
    this, and sends `pg_notify(NOTIFY_CHANNEL, '')` in that statement for the other processes."""
    session.sync_session.info["crm_runs_created"] = True


@sa_event.listens_for(SyncSession, "after_commit")
def _wake_local_workers(session: SyncSession) -> None:
    if session.info.pop("crm_runs_created", False):
        for callback in list(_LOCAL_WAKERS):
            callback()


@sa_event.listens_for(SyncSession, "after_rollback")
def _forget_on_rollback(session: SyncSession) -> None:
    session.info.pop("crm_runs_created", None)
