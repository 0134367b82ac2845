"""The desk's incident and ticket figures for the weekly Automation SLA and the monthly retro, in the shape
`reporting.incidents` documents. Registered with the reports at start-up (`install`)."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import job_scope
from rentguy_crm.reporting.incidents import register_incident_source
from rentguy_crm.support import repository

PRIORITIES = ("P1", "P2", "P3")


def _minutes(ticket: Any) -> float | None:
    if ticket.resolved_at is None:
        return None
    return round((ticket.resolved_at - ticket.created_at).total_seconds() / 60, 1)


async def support_figures(session: AsyncSession, tenant_id: int, start: dt.datetime,
                          end: dt.datetime) -> dict[str, Any]:
    """Per priority: opened in the period, resolved of those, SLA breaches, median minutes to resolve; and the
    incidents of the period (subjects come from alerts; tickets' subjects, which may name a person, are left out)."""
    scope = job_scope(tenant_id)
    tickets = await repository.tickets_opened_between(session, scope, start, end)
    breached = await repository.breached_ticket_ids(session, scope, [t.id for t in tickets])
    by_priority = []
    for priority in PRIORITIES:
        mine = [t for t in tickets if t.priority == priority]
        durations = [m for m in (_minutes(t) for t in mine) if m is not None]
        by_priority.append({"priority": priority, "opened": len(mine),
                            "resolved": sum(1 for t in mine if t.resolved_at is not None),
                            "sla_breaches": sum(1 for t in mine if t.id in breached),
                            "median_minutes_to_resolve": statistics.median(durations) if durations else None})
    incidents = [{"id": t.number, "title": t.subject, "priority": t.priority, "opened_at": t.created_at.isoformat(),
                  "resolved_at": t.resolved_at.isoformat() if t.resolved_at else None,
                  "minutes_to_resolve": _minutes(t), "sla_breached": t.id in breached}
                 for t in tickets if t.kind == "incident"]
    return {"by_priority": by_priority, "incidents": incidents}


def install() -> None:
    register_incident_source(support_figures)
