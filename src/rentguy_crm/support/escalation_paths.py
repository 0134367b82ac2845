"""Playbook section 3 as dispatches: P1 pages engineering on-call (Opsgenie), P2 opens a Slack bridge with
operations and engineering, P3 is registered in Freshdesk; closing undoes them, and a closed P1/P2 incident gets a
Jira retro issue (2.1 step 4, 2.2 step 5), a structural problem a bug and a word to customer success.

Freshdesk codes (https://developers.freshdesk.com/api/#tickets): priority 1 low, 2 medium, 3 high, 4 urgent;
status 2 open, 3 pending, 4 resolved, 5 closed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import job_scope
from rentguy_crm.support import dispatch, repository
from rentguy_crm.support.models import Ticket
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.support import SupportSettings, SupportTeam

FRESHDESK_PRIORITY = {"P1": 4, "P2": 3, "P3": 2}
FRESHDESK_STATUS = {"new": 2, "open": 2, "pending": 3, "resolved": 4, "closed": 5}
STATUS_FROM_FRESHDESK = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}


def ticket_ref(ticket: Ticket) -> str:
    return f"SUP-{ticket.number}"


def pager_alias(tenant: Tenant, ticket: Ticket) -> str:
    """The Opsgenie alias (its dedupe key): unique across the tenants sharing one Opsgenie account."""
    return f"{tenant.slug}-{ticket_ref(ticket)}"


def number_from_alias(alias: str) -> int | None:
    tail = alias.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def runbook_url(settings: SupportSettings, key: str | None) -> str | None:
    template = settings.escalation.runbook_url
    return template.replace("{key}", key) if template and key else None


async def on_open(session: AsyncSession, tenant: Tenant, settings: SupportSettings, ticket: Ticket) -> None:
    """Queue the escalation of the ticket's priority (once per ticket and path)."""
    esc = settings.escalation
    ref = ticket_ref(ticket)
    if ticket.priority == "P1":
        responders = [{"name": esc.pager_schedule, "type": "schedule"}] if esc.pager_schedule else []
        await dispatch.enqueue(session, ticket, "pager.create", "pager.create", {
            "alias": pager_alias(tenant, ticket), "message": f"[{tenant.slug}] {ref} {ticket.subject}"[:130],
            "description": _summary(ticket, settings), "priority": "P1", "responders": responders,
            "schedule": esc.pager_schedule})
    elif ticket.priority == "P2":
        members = sorted({m for key in esc.bridge_teams for m in settings.teams.get(key, SupportTeam()).members})
        await dispatch.enqueue(session, ticket, "bridge.open", "bridge.open", {
            "name": f"inc-{tenant.slug}-{ticket.number}", "member_emails": members,
            "summary": _summary(ticket, settings), "runbook_url": runbook_url(settings, ticket.runbook_key)})
    else:
        await dispatch.enqueue(session, ticket, "helpdesk.create", "helpdesk.create", {
            "subject": f"{ref} {ticket.subject}", "description": ticket.description or ticket.subject,
            "email": ticket.requester_email or esc.helpdesk_fallback_email,
            "priority": FRESHDESK_PRIORITY[ticket.priority], "status": FRESHDESK_STATUS[ticket.status]})


def _summary(ticket: Ticket, settings: SupportSettings) -> str:
    runbook = f"; runbook {ticket.runbook_key}" if ticket.runbook_key else ""
    return (f"{ticket_ref(ticket)} ({ticket.priority}, {ticket.activity}): {ticket.subject}{runbook}. "
            f"Accountable: {ticket.accountable_team or '-'}.")


async def on_status(session: AsyncSession, ticket: Ticket, entry_id: int, *, source: str) -> None:
    """Keep Freshdesk in step with a status change made here (not with one Freshdesk itself sent)."""
    if source == "freshdesk":
        return
    if ticket.freshdesk_id is not None or await _has_helpdesk_ticket(session, ticket):
        await dispatch.enqueue(session, ticket, "helpdesk.update", f"helpdesk.update:{entry_id}",
                               {"status": FRESHDESK_STATUS[ticket.status]})


async def _has_helpdesk_ticket(session: AsyncSession, ticket: Ticket) -> bool:
    return await repository.has_dispatch(session, job_scope(ticket.tenant_id), ticket, "helpdesk.create",
                                         ("queued", "done"))


async def on_close(session: AsyncSession, tenant: Tenant, settings: SupportSettings, ticket: Ticket,
                   retro: dict[str, Any]) -> None:
    """Close the page, archive the bridge, file the retro (P1/P2 incidents) and the bug (structural problem)."""
    if (ticket.vendor_refs or {}).get("pager_alias") or await _queued(session, ticket, "pager.create"):
        await dispatch.enqueue(session, ticket, "pager.close", "pager.close",
                               {"note": f"{ticket_ref(ticket)} closed in the CRM support desk"})
    if (ticket.vendor_refs or {}).get("bridge_channel_id") or await _queued(session, ticket, "bridge.open"):
        await dispatch.enqueue(session, ticket, "bridge.archive", "bridge.archive", {})
    jira = settings.escalation.jira
    if ticket.kind == "incident" and ticket.priority in ("P1", "P2"):
        await dispatch.enqueue(session, ticket, "tracker.retro", "tracker.retro", {
            "project_key": jira.retro_project, "issue_type": jira.retro_issue_type,
            "summary": f"Retro {tenant.slug} {ticket_ref(ticket)}: {ticket.subject}"[:250],
            "description_adf": retro, "labels": [*jira.labels, "retro"]})
    if ticket.structural_problem:
        await dispatch.enqueue(session, ticket, "tracker.bug", "tracker.bug", {
            "project_key": jira.bug_project, "issue_type": jira.bug_issue_type,
            "summary": f"Structural problem {tenant.slug} {ticket_ref(ticket)}: {ticket.subject}"[:250],
            "description_adf": retro, "labels": [*jira.labels, "structural"]})
        success = settings.escalation.customer_success
        if success is not None:
            await dispatch.enqueue(session, ticket, "notify", "notify:customer_success", {
                "team": "customer_success", "slack_channel": success.slack_channel, "email": success.email,
                "subject": f"Structureel probleem {ticket_ref(ticket)}",
                "text": f"Structureel probleem bij {tenant.name}: {ticket_ref(ticket)} {ticket.subject} "
                        f"({ticket.priority}). Er is een bug in Jira aangemaakt."})


async def _queued(session: AsyncSession, ticket: Ticket, action: str) -> bool:
    return await repository.has_dispatch(session, job_scope(ticket.tenant_id), ticket, action, ("queued",))
