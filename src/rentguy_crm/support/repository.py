"""Every support query, scoped to one tenant (`TenantScope`): another tenant's ticket is simply not found."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.events.models import Event
from rentguy_crm.kit.pagination import PageParams, SortOrder, fetch_page
from rentguy_crm.support.models import Dispatch, RunbookTick, SlaMark, Ticket, TicketLink, TimelineEntry
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, TenantScope

TICKET_SORT = SortOrder({"number": Ticket.number, "created_at": Ticket.created_at, "priority": Ticket.priority,
                         "due": Ticket.first_response_due_at}, Ticket.id, default="-number")
OPEN_STATUSES = ("new", "open", "pending")


async def tenant(session: AsyncSession, scope: TenantScope) -> Tenant:
    row = await session.get(Tenant, scope.tenant_id)
    if row is None:
        raise LookupError(f"tenant {scope.tenant_id} does not exist")
    return row


async def record_of(session: AsyncSession, scope: TenantScope, model: Any, record_id: int) -> Any | None:
    """A row of another domain (contact, lead, deal, run) a ticket names, if it is this tenant's."""
    return await session.scalar(select(model).where(model.tenant_id == scope.tenant_id, model.id == record_id))


async def next_number(session: AsyncSession, scope: TenantScope) -> int:
    current = await session.scalar(select(func.max(Ticket.number)).where(Ticket.tenant_id == scope.tenant_id))
    return int(current or 0) + 1


async def get_ticket(session: AsyncSession, scope: TenantScope, number: int, *, lock: bool = False) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.tenant_id == scope.tenant_id, Ticket.number == number)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def ticket_by_id(session: AsyncSession, scope: TenantScope, ticket_id: int) -> Ticket | None:
    return (await session.scalars(select(Ticket).where(Ticket.tenant_id == scope.tenant_id,
                                                       Ticket.id == ticket_id))).first()


async def ticket_by_freshdesk_id(session: AsyncSession, scope: TenantScope, freshdesk_id: int) -> Ticket | None:
    return (await session.scalars(select(Ticket).where(Ticket.tenant_id == scope.tenant_id,
                                                       Ticket.freshdesk_id == freshdesk_id))).first()


async def open_ticket_for_alert(session: AsyncSession, scope: TenantScope, fingerprint: str) -> Ticket | None:
    """The not-yet-closed ticket an alert fingerprint is linked to (a closed one lets a new incident open)."""
    stmt = (select(Ticket).join(TicketLink, TicketLink.ticket_id == Ticket.id)
            .where(Ticket.tenant_id == scope.tenant_id, TicketLink.tenant_id == scope.tenant_id,
                   TicketLink.target_type == "alert", TicketLink.target_ref == fingerprint,
                   Ticket.status != "closed")
            .order_by(Ticket.id.desc()))
    return (await session.scalars(stmt)).first()


async def highest_ticket_id(session: AsyncSession, scope: TenantScope) -> int | None:
    """The newest ticket's id: a ticket with a higher id was opened after this was read."""
    return await session.scalar(select(func.max(Ticket.id)).where(Ticket.tenant_id == scope.tenant_id))


async def active_tickets(session: AsyncSession, scope: AllTenants, *, limit: int = 5000) -> list[Ticket]:
    """Tickets whose SLA clocks may still run, of every tenant (the periodic SLA check)."""
    return list((await session.scalars(select(Ticket).where(Ticket.status.in_(("new", "open", "resolved")))
                                       .order_by(Ticket.tenant_id, Ticket.id).limit(limit))).all())


async def unhandled_alert_events(session: AsyncSession, scope: AllTenants, *, since: dt.datetime, after: int,
                                 limit: int) -> list[Event]:
    """Alert events of every tenant from `since` with an id above `after` that no timeline entry came from yet,
    oldest first."""
    handled = select(TimelineEntry.id).where(TimelineEntry.source_event_id == Event.id).exists()
    return list((await session.scalars(
        select(Event).where(Event.type.in_(("alert.firing", "alert.resolved")),
                            Event.occurred_at >= since, Event.id > after, ~handled)
        .order_by(Event.id).limit(limit))).all())


async def list_tickets(session: AsyncSession, scope: TenantScope, *, status: str | None, priority: str | None,
                       team: str | None, activity: str | None, kind: str | None, sort: str | None,
                       page: PageParams) -> tuple[list[Ticket], int]:
    stmt = select(Ticket).where(Ticket.tenant_id == scope.tenant_id)
    if status == "active":
        stmt = stmt.where(Ticket.status.in_(OPEN_STATUSES))
    elif status:
        stmt = stmt.where(Ticket.status == status)
    for column, value in ((Ticket.priority, priority), (Ticket.activity, activity), (Ticket.kind, kind)):
        if value:
            stmt = stmt.where(column == value)
    if team:
        stmt = stmt.where(Ticket.queue.like(f"%,{team},%") | (Ticket.assignee_team == team)
                          | (Ticket.escalated_to == team))
    rows, total = await fetch_page(session, stmt, TICKET_SORT.order_by(sort), page)
    return [row[0] for row in rows], total


async def timeline(session: AsyncSession, scope: TenantScope, ticket: Ticket) -> list[TimelineEntry]:
    return list((await session.scalars(select(TimelineEntry).where(
        TimelineEntry.tenant_id == scope.tenant_id, TimelineEntry.ticket_id == ticket.id)
        .order_by(TimelineEntry.id))).all())


async def links(session: AsyncSession, scope: TenantScope, ticket: Ticket) -> list[TicketLink]:
    return list((await session.scalars(select(TicketLink).where(
        TicketLink.tenant_id == scope.tenant_id, TicketLink.ticket_id == ticket.id)
        .order_by(TicketLink.id))).all())


async def has_link(session: AsyncSession, scope: TenantScope, ticket: Ticket, target_type: str, ref: str) -> bool:
    return (await session.scalar(select(TicketLink.id).where(
        TicketLink.tenant_id == scope.tenant_id, TicketLink.ticket_id == ticket.id,
        TicketLink.target_type == target_type, TicketLink.target_ref == ref))) is not None


async def ticks(session: AsyncSession, scope: TenantScope, ticket: Ticket) -> list[RunbookTick]:
    return list((await session.scalars(select(RunbookTick).where(
        RunbookTick.tenant_id == scope.tenant_id, RunbookTick.ticket_id == ticket.id)
        .order_by(RunbookTick.runbook_key, RunbookTick.step_number))).all())


async def tick(session: AsyncSession, scope: TenantScope, ticket: Ticket, runbook_key: str,
               step_number: int) -> RunbookTick | None:
    return (await session.scalars(select(RunbookTick).where(
        RunbookTick.tenant_id == scope.tenant_id, RunbookTick.ticket_id == ticket.id,
        RunbookTick.runbook_key == runbook_key, RunbookTick.step_number == step_number))).first()


async def dispatches(session: AsyncSession, scope: TenantScope, ticket: Ticket) -> list[Dispatch]:
    return list((await session.scalars(select(Dispatch).where(
        Dispatch.tenant_id == scope.tenant_id, Dispatch.ticket_id == ticket.id).order_by(Dispatch.id))).all())


async def dispatch_exists(session: AsyncSession, scope: TenantScope, dedupe_key: str) -> bool:
    return (await session.scalar(select(Dispatch.id).where(Dispatch.tenant_id == scope.tenant_id,
                                                           Dispatch.dedupe_key == dedupe_key))) is not None


async def has_dispatch(session: AsyncSession, scope: TenantScope, ticket: Ticket, action: str,
                       statuses: tuple[str, ...]) -> bool:
    """Whether the ticket has a dispatch of `action` in one of `statuses`."""
    return (await session.scalar(select(Dispatch.id).where(
        Dispatch.tenant_id == scope.tenant_id, Dispatch.ticket_id == ticket.id, Dispatch.action == action,
        Dispatch.status.in_(statuses)).limit(1))) is not None


async def queued_dispatches(session: AsyncSession, scope: AllTenants, *, limit: int) -> list[Dispatch]:
    """Dispatches still to deliver, of every tenant, in the order they were written (the outbox job)."""
    return list((await session.scalars(select(Dispatch).where(Dispatch.status == "queued")
                                       .order_by(Dispatch.id).limit(limit))).all())


async def dispatch_by_id(session: AsyncSession, scope: TenantScope, dispatch_id: int) -> Dispatch | None:
    return (await session.scalars(select(Dispatch).where(Dispatch.tenant_id == scope.tenant_id,
                                                         Dispatch.id == dispatch_id))).first()


async def sla_marks(session: AsyncSession, scope: TenantScope, ticket: Ticket) -> list[SlaMark]:
    return list((await session.scalars(select(SlaMark).where(
        SlaMark.tenant_id == scope.tenant_id, SlaMark.ticket_id == ticket.id).order_by(SlaMark.id))).all())


async def breach_counts(session: AsyncSession, scope: TenantScope, *, since: dt.datetime | None = None
                        ) -> list[dict[str, Any]]:
    """Breaches per team and priority (what the reports read)."""
    stmt = (select(SlaMark.team, SlaMark.priority, SlaMark.target, func.count())
            .where(SlaMark.tenant_id == scope.tenant_id, SlaMark.level == "breach")
            .group_by(SlaMark.team, SlaMark.priority, SlaMark.target)
            .order_by(SlaMark.team, SlaMark.priority, SlaMark.target))
    if since is not None:
        stmt = stmt.where(SlaMark.at >= since)
    return [{"team": t, "priority": p, "target": g, "breaches": int(n)}
            for t, p, g, n in (await session.execute(stmt)).all()]


async def tickets_opened_between(session: AsyncSession, scope: TenantScope, start: dt.datetime,
                                 end: dt.datetime) -> list[Ticket]:
    """Tickets and incidents created in [start, end), oldest first (the reports' incident figures)."""
    return list((await session.scalars(select(Ticket).where(
        Ticket.tenant_id == scope.tenant_id, Ticket.created_at >= start, Ticket.created_at < end)
        .order_by(Ticket.created_at, Ticket.id))).all())


async def breached_ticket_ids(session: AsyncSession, scope: TenantScope, ticket_ids: list[int]) -> set[int]:
    """Which of these tickets have an SLA breach mark (either target)."""
    if not ticket_ids:
        return set()
    return set((await session.scalars(select(SlaMark.ticket_id).where(
        SlaMark.tenant_id == scope.tenant_id, SlaMark.level == "breach", SlaMark.ticket_id.in_(ticket_ids)))).all())


async def latest_timeline_id(session: AsyncSession, scope: TenantScope) -> int:
    """The newest timeline entry of the tenant (0 when none): where a live reader of ticket changes starts."""
    found = await session.scalar(select(func.max(TimelineEntry.id)).where(TimelineEntry.tenant_id == scope.tenant_id))
    return int(found or 0)


async def timeline_after(session: AsyncSession, scope: TenantScope, after_id: int,
                         limit: int = 100) -> list[tuple[int, int, int]]:
    """(entry id, ticket id, ticket number) of the tenant's timeline entries above `after_id`: tickets that changed."""
    rows = await session.execute(
        select(TimelineEntry.id, TimelineEntry.ticket_id, Ticket.number)
        .join(Ticket, Ticket.id == TimelineEntry.ticket_id)
        .where(TimelineEntry.tenant_id == scope.tenant_id, TimelineEntry.id > after_id)
        .order_by(TimelineEntry.id).limit(limit))
    return [(int(a), int(b), int(c)) for a, b, c in rows.all()]


async def tickets_about(session: AsyncSession, scope: TenantScope, contact_id: int, lead_ids: list[int],
                        deal_ids: list[int], limit: int = 50) -> list[Ticket]:
    """The tenant's tickets a person asked (requester) or that are linked to one of their leads or deals."""
    refs = [("lead", str(i)) for i in lead_ids] + [("deal", str(i)) for i in deal_ids]
    linked = select(TicketLink.ticket_id).where(TicketLink.tenant_id == scope.tenant_id, or_(
        *[(TicketLink.target_type == kind) & (TicketLink.target_ref == ref) for kind, ref in refs])) if refs else None
    condition = Ticket.requester_contact_id == contact_id
    if linked is not None:
        condition = or_(condition, Ticket.id.in_(linked))
    rows = await session.scalars(select(Ticket).where(Ticket.tenant_id == scope.tenant_id, condition)
                                 .order_by(Ticket.id.desc()).limit(limit))
    return list(rows)
