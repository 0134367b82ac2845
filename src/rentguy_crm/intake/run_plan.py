"""What lead capture asks of automation, in one place: the runs `lead.created` starts when the one-statement
store (Postgres) writes them itself. Only public functions of `automation.engine.dispatch` and `automation.runs`
are used; the step-by-step store goes through `events.emit_with_runs` like every other event."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine import dispatch
from rentguy_crm.automation.runs import queue
from rentguy_crm.automation.runs import service as runs_service
from rentguy_crm.automation.workflows.definitions import WorkflowDefinition

EVENT = "lead.created"


@dataclass(frozen=True)
class LeadRunPlan:
    """The current workflows `lead.created` starts for one tenant, decided before the lead exists."""

    matches: tuple[tuple[dispatch.CurrentWorkflow, WorkflowDefinition], ...]
    notify_channel: str = queue.NOTIFY_CHANNEL

    def rows(self, stamp: dt.datetime) -> list[dict[str, Any]]:
        """One `crm_automation_runs` row per workflow, every column given (a column left to its Python-side
        default would become a bind parameter named after the column, and two runs in one statement would
        clash). The dedupe key ends in the lead's id, which the statement itself assigns."""
        return [runs_service.run_values(w, d, EVENT, "lead", stamp)
                | {"deal_id": None, "created_at": stamp, "updated_at": stamp,
                   "dedupe_key": dispatch.dedupe_prefix(w.key, d, "lead")} for w, d in self.matches]

    @staticmethod
    def written(session: AsyncSession) -> None:
        """Tell the dispatcher runs were written in this transaction (it wakes workers after the commit)."""
        queue.runs_written(session)


async def plan_for_new_lead(session: AsyncSession, tenant_id: int, *, spam: bool) -> LeadRunPlan | None:
    """The runs a new lead starts when its event type alone decides that (spam starts none). None: a trigger
    condition reads the stored lead, so the one-statement store cannot be used."""
    if spam:
        return LeadRunPlan(())
    matches = dispatch.unconditional_matches(await dispatch.cached_workflows(session, tenant_id), EVENT)
    return None if matches is None else LeadRunPlan(tuple(matches))
