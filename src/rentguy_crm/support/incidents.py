"""Alerts become incidents. Each `alert.firing` event (written by the Alertmanager webhook,
`observability/alert_events.py`) opens an incident ticket, or adds to the open one with the same fingerprint;
`alert.resolved` adds a note proposing to resolve. Each event is handled once: its id is kept on the timeline
entry it produced (`source_event_id`, unique)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.events.models import Event
from rentguy_crm.kit import clock
from rentguy_crm.support import repository, schemas, service
from rentguy_crm.support.alert_routing import priority_for, route_for
from rentguy_crm.support.models import Ticket, TicketLink, TimelineEntry
from rentguy_crm.tenants.scope import TenantScope

ACTOR = "system:alertmanager"
LOOKBACK = dt.timedelta(days=7)


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


async def handle_new_alert_events(session: AsyncSession, now: dt.datetime, *, limit: int = 200) -> dict[str, int]:
    """Every alert event of the last week not handled yet, oldest first (all tenants: a scheduled job)."""
    handled = select(TimelineEntry.id).where(TimelineEntry.source_event_id == Event.id).exists()
    events = list((await session.scalars(
        select(Event).where(Event.type.in_(("alert.firing", "alert.resolved")), Event.occurred_at >= now - LOOKBACK,
                            ~handled).order_by(Event.id).limit(limit))).all())
    opened = updated = 0
    for event in events:
        before = await session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
        ticket = await handle_alert_event(session, TenantScope(event.tenant_id), event)
        if ticket is not None and (before is None or ticket.id > before):
            opened += 1
        elif ticket is not None:
            updated += 1
    return {"events": len(events), "opened": opened, "updated": updated}
