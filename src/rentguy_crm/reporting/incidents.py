"""Extension point for the support desk: incidents and tickets in the reports.

The support desk (tickets, incidents, working-hours SLA clocks) is built separately. Until it registers a source
here, the reports say "support desk not connected" and carry no ticket figures. The support package registers at
start-up (the layers import downward: reporting does not import support):

    from rentguy_crm.reporting.incidents import register_incident_source
    register_incident_source(support_figures)   # async (session, tenant_id, start, end) -> IncidentFigures

`IncidentFigures` (plain JSON): {"by_priority": [{"priority": "P1", "opened": 2, "resolved": 2,
"sla_breaches": 0, "median_minutes_to_resolve": 45.0}], "incidents": [{"id": 12, "title": "...", "priority": "P1",
"opened_at": iso, "resolved_at": iso | null, "minutes_to_resolve": float | null, "sla_breached": bool}]}.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

IncidentSource = Callable[[AsyncSession, int, dt.datetime, dt.datetime], Awaitable[dict[str, Any]]]

_source: IncidentSource | None = None


def register_incident_source(source: IncidentSource | None) -> None:
    """Install (or with None remove) the function that gives a tenant's incident and ticket figures."""
    global _source
    _source = source


async def incident_figures(session: AsyncSession, tenant_id: int, start: dt.datetime,
                           end: dt.datetime) -> dict[str, Any]:
    """`{"available": False, ...}` until a support desk registered its source; else its figures with
    `available: True`."""
    if _source is None:
        return {"available": False,
                "note": "Support desk not connected yet: incidents and tickets are not part of this report."}
    return {"available": True, **await _source(session, tenant_id, start, end)}
