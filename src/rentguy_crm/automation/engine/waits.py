"""Parked runs follow the records they wait on: when a deal or lead changes, every run of it parked on a
`wait until` is timed again from its expression, in the transaction of the change.

A later date parks the run longer, an earlier one makes it due sooner (at once if that moment has passed).
Only runs still `waiting` move: one a worker has already claimed goes on as it was.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine.variables import subject_variables
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows import expressions
from rentguy_crm.automation.workflows.definitions import Wait, WorkflowDefinition
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.automation.workflows.program import Instruction, compile_program
from rentguy_crm.crm.models import Deal
from rentguy_crm.db import utcnow
from rentguy_crm.events.models import Event
from rentguy_crm.tenants.models import Tenant

log = structlog.get_logger(__name__)

SUBJECT_CHANGED = {"deal.updated": "deal", "lead.updated": "lead"}
"""The events that report a changed record, and which record. Every door that changes a deal or lead emits one."""


def parked_wait(definition: WorkflowDefinition, current_step: int) -> Wait | None:
    """The `wait until` step a parked run is waiting on: the step before its program counter."""
    program: list[Instruction] = compile_program(definition)
    if not 0 < current_step <= len(program):
        return None
    instruction = program[current_step - 1]
    step = instruction.step if instruction.op == "step" else None
    return step if isinstance(step, Wait) and step.until else None


async def retime_waits(session: AsyncSession, event: Event) -> int:
    """Time again the parked `wait until` runs of the record this event reports changed. Returns how many moved."""
    kind = SUBJECT_CHANGED.get(event.type)
    if kind is None or event.subject_id is None:
        return 0
    record_id = event.subject_id
    # A deal's runs read its lead too, so a changed lead also moves the waits of its deals' runs.
    whose = (AutomationRun.deal_id == record_id if kind == "deal" else
             or_(AutomationRun.lead_id == record_id,
                 AutomationRun.deal_id.in_(select(Deal.id).where(Deal.tenant_id == event.tenant_id,
                                                                 Deal.lead_id == record_id))))
    parked = (await session.execute(
        select(AutomationRun.id, AutomationRun.workflow_id, AutomationRun.workflow_key, AutomationRun.lead_id,
               AutomationRun.deal_id, AutomationRun.current_step, AutomationRun.run_after, AutomationRun.attempt,
               AutomationRun.context)
        .where(AutomationRun.tenant_id == event.tenant_id, AutomationRun.status == "waiting", whose)
        .order_by(AutomationRun.id).with_for_update())).all()
    if not parked:
        return 0
    tenant = await session.get(Tenant, event.tenant_id)
    assert tenant is not None
    now = utcnow()
    moved = 0
    for run in parked:
        workflow = await session.get(Workflow, run.workflow_id) if run.workflow_id is not None else None
        if workflow is None:
            continue
        try:
            definition = WorkflowDefinition.model_validate(workflow.definition)
        except ValueError:  # a stored version the current code no longer reads: the run fails when it wakes
            continue
        step = parked_wait(definition, run.current_step)
        if step is None or step.until is None:
            continue
        variables: dict[str, Any] = await subject_variables(session, tenant, lead_id=run.lead_id,
                                                            deal_id=run.deal_id)
        variables["steps"] = (run.context or {}).get("steps", {})
        variables["run"] = {"id": run.id, "workflow": run.workflow_key, "attempt": run.attempt}
        until = _moment(step.until, variables, tenant.timezone, now)
        if until is None or until == run.run_after:
            continue
        result = await session.execute(
            update(AutomationRun).where(AutomationRun.id == run.id, AutomationRun.status == "waiting")
            # The SLA clock starts again when the run wakes, as when it parked (engine).
            .values(run_after=until, sla_due_at=until + definition.sla, updated_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount:  # type: ignore[attr-defined]
            moved += 1
            log.info("run_wait_moved", run_id=run.id, workflow=run.workflow_key, trigger=event.type,
                     run_after_before=run.run_after.isoformat(), run_after=until.isoformat())
    return moved


def _moment(until: str, variables: dict[str, Any], timezone: str, now: dt.datetime) -> dt.datetime | None:
    try:
        return expressions.resolve_until(until, variables, timezone, now=now)
    except expressions.ExpressionError:
        return None  # the date is no longer a date: leave the wait where it was
