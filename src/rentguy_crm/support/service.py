"""The desk: open tickets routed by the RACI, reply, note, assign, link, change status and priority, tick runbook
steps. Every change lands on the ticket's timeline and in the audit log; services never commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import job_scope
from rentguy_crm.crm.models import Contact, Deal, Lead
from rentguy_crm.errors import AppError, Conflict, NotFound, ValidationFailed
from rentguy_crm.kit import clock
from rentguy_crm.kit.pagination import Page, PageParams
from rentguy_crm.support import escalation_paths, repository, retro, runbooks, schemas
from rentguy_crm.support.dispatch import enqueue
from rentguy_crm.support.models import RunbookTick, Ticket, TicketLink, TimelineEntry
from rentguy_crm.support.runbook_actions import run_action
from rentguy_crm.support.sla import clock_for, support_settings
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.tenants.sections.support import SupportSettings

AUDITED = ["number", "kind", "subject", "activity", "priority", "status", "queue", "accountable_team",
           "assignee_user", "assignee_team", "escalated_to", "runbook_key", "structural_problem",
           "first_response_due_at", "resolution_due_at"]


def queue_of(ticket: Ticket) -> list[str]:
    return [team for team in ticket.queue.split(",") if team]


def view(ticket: Ticket) -> schemas.Ticket:
    fields = {name: getattr(ticket, name) for name in schemas.Ticket.model_fields if hasattr(ticket, name)}
    return schemas.Ticket.model_validate({**fields, "ref": escalation_paths.ticket_ref(ticket),
                                          "queue": queue_of(ticket), "vendor_refs": dict(ticket.vendor_refs or {})})


async def _settings(session: AsyncSession, scope: TenantScope) -> tuple[Tenant, SupportSettings]:
    tenant = await repository.tenant(session, scope)
    return tenant, support_settings(tenant.config)


def _entry(ticket: Ticket, kind: str, author: str, body: str, *, source_event_id: int | None = None,
           **data: Any) -> TimelineEntry:
    return TimelineEntry(tenant_id=ticket.tenant_id, ticket_id=ticket.id, kind=kind, author=author, body=body,
                         data=data, source_event_id=source_event_id, created_at=clock.now())


async def _add(session: AsyncSession, entry: TimelineEntry) -> TimelineEntry:
    session.add(entry)
    await session.flush()
    return entry


async def _audit(session: AsyncSession, ticket: Ticket, actor: str, action: str,
                 before: dict[str, Any] | None) -> None:
    await audit.record(session, actor=actor, action=f"support.ticket.{action}", entity_type="support_ticket",
                       entity_id=ticket.number, tenant_id=ticket.tenant_id, before=before,
                       after=audit.snapshot(ticket, AUDITED))


async def load(session: AsyncSession, scope: TenantScope, number: int) -> Ticket:
    ticket = await repository.get_ticket(session, scope, number)
    if ticket is None:
        raise NotFound(f"Ticket {number} was not found.")
    return ticket


# ---- opening -------------------------------------------------------------------------------------------------


def _notice(team_key: str, settings: SupportSettings, subject: str, text: str) -> dict[str, Any]:
    team = settings.teams[team_key]
    return {"team": team_key, "slack_channel": team.slack_channel, "email": team.email, "subject": subject,
            "text": text}


async def create_ticket(session: AsyncSession, scope: TenantScope, body: schemas.TicketCreate, *, actor: str,
                        source_event_id: int | None = None, requester_kind: str | None = None) -> Ticket:
    """Open a ticket: numbered per tenant, queued for the Responsible team(s) of its activity, Consulted teams
    asked, Informed teams told, SLA due times set, the priority's escalation queued. Raises ValidationFailed
    for a requester contact that is not this tenant's."""
    if body.runbook_key is not None:
        known_runbook(body.runbook_key)
    tenant, settings = await _settings(session, scope)
    if body.requester_contact_id is not None:
        contact = await repository.record_of(session, scope, Contact, body.requester_contact_id)
        if contact is None:
            raise ValidationFailed("requester_contact_id names no contact of this tenant.",
                                   errors=[{"field": "requester_contact_id", "message": "unknown contact"}])
        requester_email = contact.email
        kind = "contact"
    else:
        requester_email = body.requester_email
        kind = requester_kind or "staff"
    now = clock.now()
    row = settings.row(body.activity)
    sla = clock_for(settings, tenant.timezone, body.priority)
    ticket = Ticket(
        tenant_id=scope.tenant_id, kind=body.kind, subject=body.subject, description=body.description,
        requester_kind=kind, requester_contact_id=body.requester_contact_id, requester_email=requester_email,
        activity=body.activity, priority=body.priority, status="new",
        queue=f",{','.join(row.responsible)}," if row else "", accountable_team=row.accountable if row else None,
        runbook_key=body.runbook_key, structural_problem=False, sla_started_at=sla.start(now),
        first_response_due_at=sla.due(now, sla.first_response, dt.timedelta(0)),
        resolution_due_at=sla.due(now, sla.resolution, dt.timedelta(0)), paused_seconds=0, vendor_refs={},
        created_at=now, updated_at=now)
    for _attempt in range(5):  # two tickets opened at once may pick the same number: take the next one
        ticket.number = await repository.next_number(session, scope)
        try:
            async with session.begin_nested():
                session.add(ticket)
                await session.flush()
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("Could not number the ticket; try again.")
    ref = escalation_paths.ticket_ref(ticket)
    await _add(session, _entry(ticket, "change", actor, f"Opened {ref} ({ticket.priority}, {ticket.activity})",
                               source_event_id=source_event_id, field="status", to="new"))
    await _audit(session, ticket, actor, "created", None)
    if row is None:
        await _add(session, _entry(ticket, "note", "system:support",
                                   f"No RACI row for activity {ticket.activity} in support.raci of the tenant config: "
                                   "the ticket is in no team's queue."))
    else:
        await _route(session, settings, ticket, row.responsible, row.consulted, row.informed)
    await escalation_paths.on_open(session, tenant, settings, ticket)
    return ticket


async def _route(session: AsyncSession, settings: SupportSettings, ticket: Ticket, responsible: list[str],
                 consulted: list[str], informed: list[str]) -> None:
    ref = escalation_paths.ticket_ref(ticket)
    what = f"{ref} [{ticket.priority}] {ticket.subject}"
    await _add(session, _entry(ticket, "change", "system:support",
                               f"Queued for {', '.join(responsible)}; accountable: {ticket.accountable_team}",
                               field="queue", to=responsible, accountable=ticket.accountable_team))
    for team in responsible:
        await enqueue(session, ticket, "notify", f"notify:responsible:{team}", _notice(
            team, settings, f"Nieuw ticket {ref}", f"Nieuw ticket in jullie wachtrij: {what}"))
    if consulted:
        mentions = " ".join(f"@{team}" for team in consulted)
        await _add(session, _entry(ticket, "note", "system:support",
                                   f"{mentions}: jullie input is gevraagd (RACI: Consulted).", consulted=consulted))
        for team in consulted:
            await enqueue(session, ticket, "notify", f"notify:consulted:{team}", _notice(
                team, settings, f"Input gevraagd: {ref}", f"Jullie input is gevraagd bij {what}"))
    for team in informed:
        await enqueue(session, ticket, "notify", f"notify:informed:open:{team}", _notice(
            team, settings, f"Ter info: {ref} geopend", f"Ter info: geopend {what}"))


# ---- conversation -------------------------------------------------------------------------------------------


async def reply(session: AsyncSession, scope: TenantScope, number: int, body: schemas.Reply, *,
                actor: str) -> TimelineEntry:
    """A public reply. The first one stops the first-response clock; replying to a new ticket opens it."""
    ticket = await load(session, scope, number)
    _not_closed(ticket)
    before = audit.snapshot(ticket, AUDITED)
    entry = await _add(session, _entry(ticket, "reply", actor, body.body))
    if ticket.first_responded_at is None:
        ticket.first_responded_at = clock.now()
    if ticket.status == "new":
        await _set_status(session, ticket, "open", actor=actor, source="desk")
    ticket.updated_at = clock.now()
    await _audit(session, ticket, actor, "replied", before)
    return entry


async def note(session: AsyncSession, scope: TenantScope, number: int, body: schemas.Reply, *,
               actor: str) -> TimelineEntry:
    ticket = await load(session, scope, number)
    entry = await _add(session, _entry(ticket, "note", actor, body.body))
    await audit.record(session, actor=actor, action="support.ticket.noted", entity_type="support_ticket",
                       entity_id=ticket.number, tenant_id=ticket.tenant_id, after={"timeline_id": entry.id})
    return entry


def _not_closed(ticket: Ticket) -> None:
    if ticket.status == "closed":
        raise Conflict(f"Ticket {ticket.number} is closed; open a new ticket instead.")


async def assign(session: AsyncSession, scope: TenantScope, number: int, body: schemas.Assign, *,
                 actor: str) -> Ticket:
    ticket = await load(session, scope, number)
    _not_closed(ticket)
    _, settings = await _settings(session, scope)
    if body.team and settings.teams and body.team not in settings.teams:
        raise ValidationFailed(f"Team '{body.team}' is not one of {', '.join(sorted(settings.teams))}.",
                               errors=[{"field": "team", "message": "unknown team"}])
    before = audit.snapshot(ticket, AUDITED)
    ticket.assignee_user, ticket.assignee_team = body.user, body.team
    ticket.updated_at = clock.now()
    await _add(session, _entry(ticket, "change", actor, f"Assigned to {body.user or body.team}",
                               field="assignee", user=body.user, team=body.team))
    await _audit(session, ticket, actor, "assigned", before)
    return ticket


async def link(session: AsyncSession, scope: TenantScope, number: int, body: schemas.LinkCreate, *,
               actor: str) -> TicketLink:
    """Link a lead, deal, run (by id, this tenant's) or an alert (by fingerprint). Linking twice is refused."""
    ticket = await load(session, scope, number)
    if body.type in ("lead", "deal", "run"):
        await _check_target(session, scope, body.type, body.ref)
    if await repository.has_link(session, scope, ticket, body.type, body.ref):
        raise Conflict(f"Ticket {number} is already linked to {body.type} {body.ref}.")
    row = TicketLink(tenant_id=scope.tenant_id, ticket_id=ticket.id, target_type=body.type, target_ref=body.ref,
                     created_at=clock.now())
    session.add(row)
    await _add(session, _entry(ticket, "change", actor, f"Linked {body.type} {body.ref}", field="links",
                               type=body.type, ref=body.ref))
    await audit.record(session, actor=actor, action="support.ticket.linked", entity_type="support_ticket",
                       entity_id=ticket.number, tenant_id=ticket.tenant_id,
                       after={"type": body.type, "ref": body.ref})
    return row


async def _check_target(session: AsyncSession, scope: TenantScope, kind: str, ref: str) -> None:
    from rentguy_crm.automation.runs.models import AutomationRun

    model: Any = {"lead": Lead, "deal": Deal, "run": AutomationRun}[kind]
    found = await repository.record_of(session, scope, model, int(ref)) if ref.isdigit() else None
    if found is None:
        raise ValidationFailed(f"{kind} {ref} was not found.", errors=[{"field": "ref", "message": "not found"}])


# ---- status, priority -----------------------------------------------------------------------------------------


async def change_status(session: AsyncSession, scope: TenantScope, number: int, body: schemas.StatusChange, *,
                        actor: str, source: str = "desk") -> Ticket:
    """Move along TRANSITIONS (409 otherwise). Pending pauses the SLA clock; leaving pending resumes it with the
    due times moved by the paused working time. Closing tells the Informed teams and queues the retro."""
    ticket = await load(session, scope, number)
    if body.status == ticket.status:
        raise Conflict(f"Ticket {number} is already {ticket.status}.")
    if body.status not in schemas.TRANSITIONS[ticket.status]:
        allowed = ", ".join(sorted(schemas.TRANSITIONS[ticket.status])) or "none"
        raise Conflict(f"Ticket {number} cannot go from {ticket.status} to {body.status} (allowed: {allowed}).")
    before = audit.snapshot(ticket, AUDITED)
    if body.structural_problem is not None:
        ticket.structural_problem = body.structural_problem
    await _set_status(session, ticket, body.status, actor=actor, source=source, note=body.note)
    await _audit(session, ticket, actor, "status", before)
    return ticket


async def _set_status(session: AsyncSession, ticket: Ticket, status: str, *, actor: str, source: str,
                      note: str | None = None) -> None:
    scope = job_scope(ticket.tenant_id)
    tenant, settings = await _settings(session, scope)
    now = clock.now()
    previous = ticket.status
    sla = clock_for(settings, tenant.timezone, ticket.priority)
    if previous == "pending" and ticket.pending_since is not None:
        paused = sla.paused_between(ticket.pending_since, now)
        ticket.paused_seconds += int(paused.total_seconds())
        ticket.pending_since = None
        _retime(ticket, sla)
    if status == "pending":
        ticket.pending_since = now
    if status == "resolved":
        ticket.resolved_at = now
    elif status == "open" and previous == "resolved":
        ticket.resolved_at = None
    if status == "closed":
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    ticket.status = status
    ticket.updated_at = now
    entry = await _add(session, _entry(ticket, "change", actor, f"Status {previous} → {status}"
                                       + (f": {note}" if note else ""), field="status", from_=previous,
                                       to=status, source=source))
    await escalation_paths.on_status(session, ticket, entry.id, source=source)
    if status == "closed":
        row = settings.row(ticket.activity)
        ref = escalation_paths.ticket_ref(ticket)
        for team in row.informed if row else []:
            await enqueue(session, ticket, "notify", f"notify:informed:close:{team}", _notice(
                team, settings, f"Ter info: {ref} gesloten", f"Ter info: gesloten {ref} [{ticket.priority}] "
                f"{ticket.subject}"))
        await escalation_paths.on_close(session, tenant, settings, ticket,
                                        await retro.retro_document(session, scope, ticket))


def _retime(ticket: Ticket, sla: Any) -> None:
    paused = dt.timedelta(seconds=ticket.paused_seconds)
    ticket.first_response_due_at = sla.due(ticket.created_at, sla.first_response, paused)
    ticket.resolution_due_at = sla.due(ticket.created_at, sla.resolution, paused)


async def change_priority(session: AsyncSession, scope: TenantScope, number: int, body: schemas.PriorityChange, *,
                          actor: str) -> Ticket:
    """A new priority has new targets (due times recomputed from creation) and its own escalation path."""
    ticket = await load(session, scope, number)
    _not_closed(ticket)
    if body.priority == ticket.priority:
        raise Conflict(f"Ticket {number} is already {ticket.priority}.")
    tenant, settings = await _settings(session, scope)
    before = audit.snapshot(ticket, AUDITED)
    previous, ticket.priority = ticket.priority, body.priority
    _retime(ticket, clock_for(settings, tenant.timezone, ticket.priority))
    ticket.updated_at = clock.now()
    await _add(session, _entry(ticket, "change", actor, f"Priority {previous} → {ticket.priority}",
                               field="priority", from_=previous, to=ticket.priority))
    await escalation_paths.on_open(session, tenant, settings, ticket)
    await _audit(session, ticket, actor, "priority", before)
    return ticket


# ---- runbook checklist --------------------------------------------------------------------------------------


def known_runbook(key: str, field: str = "runbook_key") -> runbooks.Runbook:
    """The playbook runbook `key`; 422 naming the known keys otherwise."""
    try:
        return runbooks.load_runbook(key)
    except KeyError:
        known = ", ".join(runbooks.runbooks())
        raise ValidationFailed(f"There is no runbook {key}; the playbook's runbooks are {known}.",
                               errors=[{"field": field, "message": f"one of {known}"}]) from None


def runbook_step(key: str, number: int) -> runbooks.RunbookStep:
    """Step `number` of runbook `key`; 422 naming the range otherwise."""
    book = known_runbook(key)
    if not 1 <= number <= len(book.steps):
        raise ValidationFailed(f"Runbook {key} has steps 1 to {len(book.steps)}; there is no step {number}.",
                               errors=[{"field": "step", "message": f"1 to {len(book.steps)}"}])
    return book.steps[number - 1]


async def tick_step(session: AsyncSession, scope: TenantScope, number: int, body: schemas.RunbookTickCreate, *,
                    actor: str) -> RunbookTick:
    """Tick one step of a runbook on the ticket (who, when, what the action answered). Each step once."""
    step = runbook_step(body.runbook_key, body.step)
    ticket = await load(session, scope, number)
    if await repository.tick(session, scope, ticket, body.runbook_key, body.step) is not None:
        raise Conflict(f"Step {body.step} of runbook {body.runbook_key} is already ticked on ticket {number}.")
    output = body.output
    if step.action and not output:
        # The step's action carries it out; its answer (or why it could not run) lands on the timeline.
        try:
            output = await run_action(session, scope, step.action, {**step.params, "actor": actor})
        except AppError as exc:
            output = f"action {step.action} could not run: {exc.detail}"
    now = clock.now()
    row = RunbookTick(tenant_id=scope.tenant_id, ticket_id=ticket.id, runbook_key=body.runbook_key,
                      step_number=body.step, ticked_by=actor, ticked_at=now, output=output)
    session.add(row)
    text = f"Runbook {body.runbook_key} step {body.step} done" + (f":\n{output}" if output else "")
    await _add(session, _entry(ticket, "change", actor, text, field="runbook", runbook=body.runbook_key,
                               step=body.step))
    await audit.record(session, actor=actor, action="support.ticket.runbook_step", entity_type="support_ticket",
                       entity_id=ticket.number, tenant_id=ticket.tenant_id,
                       after={"runbook": body.runbook_key, "step": body.step})
    return row


# ---- reading ------------------------------------------------------------------------------------------------


async def list_tickets(session: AsyncSession, scope: TenantScope, *, status: str | None = None,
                       priority: str | None = None, team: str | None = None, activity: str | None = None,
                       kind: str | None = None, sort: str | None = None,
                       page: PageParams | None = None) -> Page[schemas.Ticket]:
    page = page or PageParams(limit=50, offset=0)
    if team is not None:
        _tenant, settings = await _settings(session, scope)
        if team not in settings.teams:
            raise ValidationFailed(f"Team '{team}' is not one of {', '.join(sorted(settings.teams))}.",
                                   errors=[{"field": "team", "message": "unknown team"}])
    rows, total = await repository.list_tickets(session, scope, status=status, priority=priority, team=team,
                                                activity=activity, kind=kind, sort=sort, page=page)
    return Page(items=[view(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


async def detail(session: AsyncSession, scope: TenantScope, number: int) -> schemas.TicketDetail:
    ticket = await load(session, scope, number)
    base = view(ticket).model_dump()
    return schemas.TicketDetail.model_validate({
        **base,
        "timeline": [schemas.TimelineItem.model_validate(e) for e in await repository.timeline(session, scope,
                                                                                                 ticket)],
        "links": [schemas.Link.model_validate(x) for x in await repository.links(session, scope, ticket)],
        "runbook_ticks": [schemas.Tick.model_validate(x) for x in await repository.ticks(session, scope, ticket)],
        "dispatches": [schemas.DispatchView.model_validate(x)
                       for x in await repository.dispatches(session, scope, ticket)],
        "sla_marks": [schemas.SlaMarkView.model_validate(x)
                      for x in await repository.sla_marks(session, scope, ticket)],
    })
