"""What the vendors tell us back, applied to tickets: Opsgenie's alert actions and Freshdesk's status changes.
The inbound webhooks (`webhooks/opsgenie`, `webhooks/freshdesk`) authenticate the vendor and call these."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.errors import Conflict
from rentguy_crm.kit import clock
from rentguy_crm.support import escalation_paths, repository, schemas, service
from rentguy_crm.support.models import Ticket, TimelineEntry
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.webhooks import hooks

PAGER_ACTOR = "system:opsgenie"
HELPDESK_ACTOR = "system:freshdesk"


def _note(session: AsyncSession, ticket: Ticket, author: str, body: str, **data: object) -> None:
    session.add(TimelineEntry(tenant_id=ticket.tenant_id, ticket_id=ticket.id, kind="note", author=author, body=body,
                              data=dict(data), created_at=clock.now()))


async def apply_pager_update(session: AsyncSession, scope: TenantScope, *, alias: str, action: str) -> None:
    """Opsgenie action on the alert with this alias: `acknowledged` notes who-knows and opens a new ticket;
    `closed` resolves the ticket (closing, with its retro, stays a decision made in the desk). Unknown aliases
    and other actions are ignored (Opsgenie sends many)."""
    number = escalation_paths.number_from_alias(alias)
    ticket = await repository.get_ticket(session, scope, number) if number is not None else None
    if ticket is None or (ticket.vendor_refs or {}).get("pager_alias") not in (None, alias):
        return
    action = action.lower()
    if action in ("acknowledge", "acknowledged"):
        _note(session, ticket, PAGER_ACTOR, "Opsgenie: the alert was acknowledged by on-call.", pager="acknowledged")
        if ticket.status == "new":
            await _move(session, scope, ticket, "open", PAGER_ACTOR, "opsgenie")
    elif action in ("close", "closed"):
        _note(session, ticket, PAGER_ACTOR, "Opsgenie: the alert was closed.", pager="closed")
        if ticket.status in ("new", "open", "pending"):
            await _move(session, scope, ticket, "resolved", PAGER_ACTOR, "opsgenie")
    await session.flush()


async def apply_helpdesk_update(session: AsyncSession, scope: TenantScope, *, freshdesk_id: int, status: int) -> None:
    """Freshdesk status (2 open, 3 pending, 4 resolved, 5 closed) onto the ticket with that Freshdesk id. A change
    the ticket cannot make (e.g. anything after closed) becomes a note; it is never sent back to Freshdesk."""
    ticket = await repository.ticket_by_freshdesk_id(session, scope, freshdesk_id)
    if ticket is None:
        return
    target = escalation_paths.STATUS_FROM_FRESHDESK.get(status)
    if target is None or target == ticket.status:
        return
    try:
        await _move(session, scope, ticket, target, HELPDESK_ACTOR, "freshdesk")
    except Conflict as exc:
        _note(session, ticket, HELPDESK_ACTOR, f"Freshdesk reports status {target}; not applied: {exc.detail}",
              freshdesk_status=status)
    await session.flush()


async def _move(session: AsyncSession, scope: TenantScope, ticket: Ticket, status: str, actor: str,
                source: str) -> None:
    await service.change_status(session, scope, ticket.number, schemas.StatusChange(status=status),
                                actor=actor, source=source)


def install_webhook_handlers() -> None:
    """Register the handlers above with the inbound webhook doors (called by the app factory at start-up)."""
    hooks.register_pager_handler(apply_pager_update)
    hooks.register_helpdesk_handler(apply_helpdesk_update)
