"""The periodic SLA check: at `warn_at` (75%) of a target the Responsible team(s) are warned; past the due time the
ticket escalates to the Accountable team and the breach is counted (`support_sla_marks`, per team and priority).
Tickets in `pending` are skipped: their clock is paused."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import job_scope
from rentguy_crm.support import escalation_paths, repository
from rentguy_crm.support.dispatch import enqueue
from rentguy_crm.support.models import SlaMark, Ticket, TimelineEntry
from rentguy_crm.support.service import queue_of
from rentguy_crm.support.sla import Clock, clock_for, support_settings
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants
from rentguy_crm.tenants.sections.support import SupportSettings

ACTOR = "system:sla"


async def _marked(session: AsyncSession, ticket: Ticket) -> set[tuple[str, str]]:
    return {(m.target, m.level) for m in await repository.sla_marks(session, job_scope(ticket.tenant_id), ticket)}


def _targets(ticket: Ticket, sla: Clock) -> list[tuple[str, dt.timedelta, dt.datetime | None]]:
    out: list[tuple[str, dt.timedelta, dt.datetime | None]] = []
    if ticket.first_responded_at is None:
        out.append(("first_response", sla.first_response, ticket.first_response_due_at))
    if ticket.status not in ("resolved", "closed"):
        out.append(("resolution", sla.resolution, ticket.resolution_due_at))
    return out


async def check_ticket(session: AsyncSession, tenant: Tenant, settings: SupportSettings, ticket: Ticket,
                       now: dt.datetime) -> list[str]:
    """Warn and breach one ticket as due; answers what was marked, e.g. ["first_response:warning"]."""
    if ticket.status in ("pending", "closed"):
        return []
    sla = clock_for(settings, tenant.timezone, ticket.priority)
    marked = await _marked(session, ticket)
    done: list[str] = []
    paused = dt.timedelta(seconds=ticket.paused_seconds)
    ref = escalation_paths.ticket_ref(ticket)
    for target, length, due in _targets(ticket, sla):
        if due is None:
            continue
        if now >= due and (target, "breach") not in marked:
            # One breach per ticket and target, counted against the first Responsible team.
            team = (queue_of(ticket) or [ticket.accountable_team or "unrouted"])[0]
            session.add(SlaMark(tenant_id=ticket.tenant_id, ticket_id=ticket.id, target=target, level="breach",
                                team=team, priority=ticket.priority, at=now))
            previous = ticket.escalated_to
            ticket.escalated_to = ticket.accountable_team
            session.add(TimelineEntry(tenant_id=ticket.tenant_id, ticket_id=ticket.id, kind="change", author=ACTOR,
                                      body=f"SLA {target} breached (due {due.isoformat(timespec='minutes')}); "
                                           f"escalated to {ticket.accountable_team or 'nobody (no RACI row)'}",
                                      data={"field": "escalated_to", "from_": previous, "to": ticket.escalated_to,
                                            "sla": target}, created_at=now))
            if ticket.accountable_team and ticket.accountable_team in settings.teams:
                member = settings.teams[ticket.accountable_team]
                await enqueue(session, ticket, "notify", f"notify:breach:{target}", {
                    "team": ticket.accountable_team, "slack_channel": member.slack_channel, "email": member.email,
                    "subject": f"SLA verlopen: {ref}",
                    "text": f"SLA {target} verlopen voor {ref} [{ticket.priority}] {ticket.subject}: escalatie naar "
                            f"jullie (Accountable)."})
            await audit.record(session, actor=ACTOR, action="support.ticket.sla_breached",
                               entity_type="support_ticket", entity_id=ticket.number, tenant_id=ticket.tenant_id,
                               after={"target": target, "escalated_to": ticket.escalated_to})
            done.append(f"{target}:breach")
        elif now < due and (target, "warning") not in marked and (target, "breach") not in marked:
            if sla.elapsed(ticket.created_at, now, paused) < length * settings.warn_at:
                continue
            session.add(SlaMark(tenant_id=ticket.tenant_id, ticket_id=ticket.id, target=target, level="warning",
                                team=(queue_of(ticket) or [ticket.accountable_team or "unrouted"])[0],
                                priority=ticket.priority, at=now))
            for team in queue_of(ticket):
                if team in settings.teams:
                    member = settings.teams[team]
                    await enqueue(session, ticket, "notify", f"notify:warning:{target}:{team}", {
                        "team": team, "slack_channel": member.slack_channel, "email": member.email,
                        "subject": f"SLA bijna verlopen: {ref}",
                        "text": f"{int(settings.warn_at * 100)}% van de {target}-tijd van {ref} [{ticket.priority}] "
                                f"is verstreken; uiterlijk {due.isoformat(timespec='minutes')}."})
            session.add(TimelineEntry(tenant_id=ticket.tenant_id, ticket_id=ticket.id, kind="note", author=ACTOR,
                                      body=f"SLA {target}: {int(settings.warn_at * 100)}% used; responsible team(s) "
                                           "warned", data={"sla": target, "level": "warning"}, created_at=now))
            done.append(f"{target}:warning")
    await session.flush()
    return done


async def check_all(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """Every active ticket of every tenant (a scheduled job)."""
    tickets = await repository.active_tickets(session, AllTenants())
    tenants: dict[int, tuple[Tenant, SupportSettings]] = {}
    marks = 0
    for ticket in tickets:
        if ticket.tenant_id not in tenants:
            tenant = await repository.tenant(session, job_scope(ticket.tenant_id))
            tenants[ticket.tenant_id] = (tenant, support_settings(tenant.config))
        tenant, settings = tenants[ticket.tenant_id]
        marks += len(await check_ticket(session, tenant, settings, ticket, now))
    return {"tickets": len(tickets), "marks": marks}
