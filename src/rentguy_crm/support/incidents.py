"""Alerts become incidents. Each `alert.firing` event (written by the Alertmanager webhook,
`observability/alert_events.py`) opens an incident ticket, or adds to the open one with the same fingerprint;
`alert.resolved` adds a note proposing to resolve. Each event is handled once: its id is kept on the timeline
entry it produced (`source_event_id`, unique)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import job_scope
from rentguy_crm.events.models import Event
from rentguy_crm.kit import clock
from rentguy_crm.support import repository, schemas, service
from rentguy_crm.support.alert_routing import priority_for, route_for
from rentguy_crm.support.models import Ticket, TicketLink, TimelineEntry
from rentguy_crm.tenants.scope import AllTenants, TenantScope

ACTOR = "system:alertmanager"
# Alertmanager re-sends a firing alert every repeat_interval (4h by default), so a day covers workers that were
# down for a while without turning a fresh install's whole alert history into incidents.
LOOKBACK = dt.timedelta(days=1)


async def handle_alert_event(session: AsyncSession, scope: TenantScope, event: Event) -> Ticket | None:
    """Apply one alert event; None for a resolved alert without an open incident (nothing to add to)."""
    payload: dict[str, Any] = event.payload or {}
    fingerprint = str(payload.get("fingerprint") or "")[:100] or f"event-{event.id}"
    labels = payload.get("labels") or {}
    alertname = payload.get("alertname") or labels.get("alertname") or "alert"
    ticket = await repository.open_ticket_for_alert(session, scope, fingerprint)
    annotations = payload.get("annotations") or {}
    summary = str(annotations.get("summary") or annotations.get("description") or alertname)
    if event.type == "alert.resolved":
        if ticket is None:
            return None
        session.add(TimelineEntry(tenant_id=scope.tenant_id, ticket_id=ticket.id, kind="note", author=ACTOR,
                                  body=f"Alert {alertname} is resolved; propose resolving this incident.",
                                  data={"alert": "resolved", "fingerprint": fingerprint, "proposal": "resolved"},
                                  source_event_id=event.id, created_at=clock.now()))
        await session.flush()
        return ticket
    if ticket is not None:  # the same alert again: one incident, one more line on it
        session.add(TimelineEntry(tenant_id=scope.tenant_id, ticket_id=ticket.id, kind="note", author=ACTOR,
                                  body=f"Alert {alertname} fired again: {summary}"[:2000],
                                  data={"alert": "firing", "fingerprint": fingerprint},
                                  source_event_id=event.id, created_at=clock.now()))
        await session.flush()
        return ticket
    route = route_for(alertname, labels)
    body = schemas.TicketCreate(
        subject=f"{alertname}: {summary}"[:300], kind="incident", activity=route.activity,
        priority=priority_for(labels),
        description=str(annotations.get("description") or summary)[:20000], runbook_key=route.runbook)
    ticket = await service.create_ticket(session, scope, body, actor=ACTOR, source_event_id=event.id,
                                         requester_kind="system")
    session.add(TicketLink(tenant_id=scope.tenant_id, ticket_id=ticket.id, target_type="alert",
                           target_ref=fingerprint, created_at=clock.now()))
    await session.flush()
    return ticket


async def handle_new_alert_events(session: AsyncSession, now: dt.datetime, *, batch: int = 200,
                                  batches: int = 20) -> dict[str, int]:
    """Every alert event of the last `LOOKBACK` not handled yet, oldest first (all tenants: a scheduled job).

    A resolved alert without an open incident leaves no trace and is looked at again next time; reading in id
    order past it keeps such events from holding up new ones."""
    counts = {"events": 0, "opened": 0, "updated": 0}
    after = 0
    for _ in range(batches):
        events = await repository.unhandled_alert_events(session, AllTenants(), since=now - LOOKBACK, after=after,
                                                         limit=batch)
        for event in events:
            after = event.id
            scope = job_scope(event.tenant_id)
            # Ticket ids are shared by all tenants, so a new ticket is above this tenant's newest one too.
            before = await repository.highest_ticket_id(session, scope)
            ticket = await handle_alert_event(session, scope, event)
            if ticket is None:
                continue
            counts["events"] += 1
            counts["opened" if before is None or ticket.id > before else "updated"] += 1
        if len(events) < batch:
            break
    return counts
