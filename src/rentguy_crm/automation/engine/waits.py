"""Parked runs follow the records they wait on: when a deal or lead changes, every run of it parked on a
`wait until` is timed again from its expression, in the transaction of the change.

A later date parks the run longer, an earlier one makes it due sooner (at once if that moment has passed).
Only runs still `waiting` move: one a worker has already claimed goes on as it was.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.runs import repository as runs_repository
from rentguy_crm.automation.workflows import expressions
from rentguy_crm.automation.workflows import repository as workflows_repository
from rentguy_crm.automation.workflows.definitions import Wait, WorkflowDefinition
from rentguy_crm.automation.workflows.program import Instruction, compile_program
from rentguy_crm.crm.variables import subject_variables
from rentguy_crm.db import utcnow
from rentguy_crm.events.models import Event
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import TenantScope

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
    scope = TenantScope(event.tenant_id)
    parked = await runs_repository.parked_runs_of(session, scope, "deal" if kind == "deal" else "lead",
                                                  event.subject_id)
    if not parked:
        return 0
    tenant = await tenants.by_id(session, event.tenant_id)
    assert tenant is not None
    now = utcnow()
    moved = 0
    for run in parked:
        workflow = await workflows_repository.by_id(session, run.workflow_id) if run.workflow_id is not None else None
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
        # The SLA clock starts again when the run wakes, as when it parked (engine).
        if await runs_repository.retime_waiting_run(session, run.id, until, until + definition.sla, now):
            moved += 1
            log.info("run_wait_moved", run_id=run.id, workflow=run.workflow_key, trigger=event.type,
                     run_after_before=run.run_after.isoformat(), run_after=until.isoformat())
    return moved


def _moment(until: str, variables: dict[str, Any], timezone: str, now: dt.datetime) -> dt.datetime | None:
    try:
        return expressions.resolve_until(until, variables, timezone, now=now)
    except expressions.ExpressionError:
        return None  # the date is no longer a date: leave the wait where it was
