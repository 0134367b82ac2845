"""`on_new_run: supersede`: a newer run of a workflow for the same lead or deal replaces the earlier ones.

The customer gets the follow-up of the deal's latest stage, not one per stage it passed. When dispatch creates a
run of such a workflow, the earlier runs for that subject still queued or waiting are cancelled in the same
transaction, naming their successor. A run a worker is executing is not touched: the step in flight finishes,
and the worker sees before the next step that a newer run exists (`newer_run`) and cancels it there. Manual starts
are deliberate: they neither supersede nor are superseded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.runs import repository, step_log
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.tenants.scope import TenantScope

SUPERSEDED_ERROR_TYPE = "Superseded"
MANUAL_TRIGGER = repository.MANUAL_TRIGGER


def reason(successor_id: int) -> str:
    return f"superseded by run {successor_id}: a newer run of this workflow for the same subject"


def cancelled_entry(pc: int, successor_id: int, *, attempt: int, worker: str, at: dt.datetime) -> dict[str, Any]:
    """The step-log entry that ends a superseded run (at the step it would have run next)."""
    return step_log.entry(pc, ("supersede", "superseded by a newer run"), status="cancelled", attempt=attempt,
                          worker=worker, at=at, superseded_by=successor_id, reason=reason(successor_id))


async def supersede_earlier(session: AsyncSession, created: Iterable[AutomationRun], now: dt.datetime) -> int:
    """Cancel the earlier queued or waiting runs of each new run's workflow and subject (the caller passes the new
    runs of workflows that say `on_new_run: supersede`). Returns how many runs were cancelled."""
    cancelled = 0
    for run in created:
        if run.trigger_type == MANUAL_TRIGGER or (run.deal_id is None and run.lead_id is None):
            continue
        for earlier in await repository.earlier_open_runs(session, TenantScope(run.tenant_id), run.id,
                                                          run.workflow_key, run.lead_id, run.deal_id):
            earlier.step_log = [*(earlier.step_log or []), cancelled_entry(
                earlier.current_step, run.id, attempt=earlier.attempt, worker="dispatch", at=now)]
            earlier.status, earlier.completed_at = "cancelled", now
            earlier.lease_owner, earlier.lease_expires_at = None, None
            earlier.last_error_type, earlier.last_error_message = SUPERSEDED_ERROR_TYPE, reason(run.id)
            cancelled += 1
    if cancelled:
        await session.flush()
    return cancelled


async def newer_run(session: AsyncSession, scope: TenantScope, run_id: int, workflow_key: str, trigger_type: str,
                    lead_id: int | None, deal_id: int | None) -> int | None:
    """The id of the first run created after this one for the same workflow and subject: the run that replaces
    it. None when there is none (or the run was started by hand, or has no subject)."""
    if trigger_type == MANUAL_TRIGGER or (deal_id is None and lead_id is None):
        return None
    return await repository.first_newer_run(session, scope, run_id, workflow_key, lead_id, deal_id)
