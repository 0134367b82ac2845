"""`crm tickets`: the support desk from the command line (list, show, create, reply, note, assign, status, link,
priority, tick, breaches, deliver). Same services as the API, audited as `cli:<user>` or `--by`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.db import one_off_session
from rentguy_crm.kit import clock
from rentguy_crm.kit.console import JsonOption, cli_actor, emit, fail, run_async, use_zone
from rentguy_crm.kit.pagination import PageParams
from rentguy_crm.support import dispatch, repository, schemas, service
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import TenantScope

app = typer.Typer(help="Support tickets and incidents (playbook sections 1-3).", no_args_is_help=True)

T = TypeVar("T")
COLUMNS = ["number", "kind", "priority", "status", "activity", "queue", "assignee", "first_response_due_at",
           "subject"]
TenantOption = typer.Option(..., "--tenant", help="Tenant slug or alias, e.g. mrdj.")
ByOption = typer.Option(None, "--by", help="Who does this (for the timeline and audit log); default cli:<user>.")


def _in_tenant(tenant: str, work: Callable[[AsyncSession, TenantScope], Awaitable[T]]) -> T:
    async def run() -> T:
        async with one_off_session() as session:
            row = await tenants.get(session, tenant)
            use_zone(row.timezone)
            return await work(session, TenantScope(row.id))

    return run_async(run)


def _body(model: type[T], **values: Any) -> T:
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})  # type: ignore[attr-defined]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors())
        raise fail(problems, code=2) from None


def _row(ticket: schemas.Ticket) -> dict[str, Any]:
    return {**ticket.model_dump(), "queue": ",".join(ticket.queue),
            "assignee": ticket.assignee_user or ticket.assignee_team or ""}


@app.command("list")
def list_tickets(
    tenant: str = TenantOption,
    status: str = typer.Option(None, "--status", help="new, open, pending, resolved, closed or active."),
    priority: str = typer.Option(None, "--priority", help="P1, P2 or P3."),
    team: str = typer.Option(None, "--team", help="In this team's queue, assigned or escalated to it."),
    limit: int = typer.Option(50, "--limit", min=1, max=200, help="How many (newest first)."),
    as_json: bool = JsonOption,
) -> None:
    """List a tenant's tickets, newest first."""
    if status and status not in (*schemas.TRANSITIONS, "active"):
        raise fail(f"--status must be one of {', '.join([*schemas.TRANSITIONS, 'active'])}, not {status!r}", code=2)
    if priority and priority not in ("P1", "P2", "P3"):
        raise fail(f"--priority must be P1, P2 or P3, not {priority!r}", code=2)
    page = _in_tenant(tenant, lambda s, scope: service.list_tickets(
        s, scope, status=status, priority=priority, team=team, page=PageParams(limit=limit)))
    emit([_row(t) for t in page.items], as_json=as_json, columns=COLUMNS, title=f"tickets ({page.total})")


@app.command("show")
def show(number: int = typer.Argument(..., help="Ticket number."), tenant: str = TenantOption,
         as_json: bool = JsonOption) -> None:
    """A ticket with its timeline, links, runbook ticks, vendor dispatches and SLA marks."""
    detail = _in_tenant(tenant, lambda s, scope: service.detail(s, scope, number))
    if as_json:
        emit(detail.model_dump(), as_json=True)
        return
    emit([_row(detail)], as_json=False, columns=COLUMNS, title=f"ticket {detail.ref}")
    emit([e.model_dump() for e in detail.timeline], as_json=False, columns=["created_at", "kind", "author", "body"],
         title="timeline")
    emit([d.model_dump() for d in detail.dispatches], as_json=False,
         columns=["id", "action", "status", "attempts", "next_attempt_at", "last_error"], title="dispatches")


@app.command("create")
def create(
    subject: str = typer.Option(..., "--subject", help="One line."),
    activity: str = typer.Option(..., "--activity", help="first_line_triage, lead_capture_issue, automation_failure, "
                                 "dashboard_metrics_incident, data_correction or security_compliance_question."),
    tenant: str = TenantOption,
    priority: str = typer.Option("P3", "--priority", help="P1 (system down), P2 (partial outage), P3 (question)."),
    description: str = typer.Option("", "--description", help="What happened."),
    incident: bool = typer.Option(False, "--incident", help="An incident rather than a question."),
    requester_email: str = typer.Option(None, "--requester-email", help="A staff requester's e-mail."),
    contact: int = typer.Option(None, "--contact", help="A CRM contact id as requester."),
    runbook: str = typer.Option(None, "--runbook", help="Runbook key to attach, e.g. 2.2."),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Open a ticket: routed to the Responsible team(s) of its activity and escalated by priority."""
    body = _body(schemas.TicketCreate, subject=subject, activity=activity, priority=priority,
                 description=description, kind="incident" if incident else "ticket",
                 requester_email=requester_email, requester_contact_id=contact, runbook_key=runbook)

    async def work(session: AsyncSession, scope: TenantScope) -> schemas.Ticket:
        return service.view(await service.create_ticket(session, scope, body, actor=cli_actor(by)))

    emit(_row(_in_tenant(tenant, work)), as_json=as_json, columns=COLUMNS, title="ticket opened")


@app.command("reply")
def reply(number: int = typer.Argument(..., help="Ticket number."),
          text: str = typer.Argument(..., help="The public reply."), tenant: str = TenantOption,
          by: str = ByOption, as_json: bool = JsonOption) -> None:
    """Add a public reply (the first one stops the first-response clock)."""
    body = _body(schemas.Reply, body=text)
    entry = _in_tenant(tenant, lambda s, scope: service.reply(s, scope, number, body, actor=cli_actor(by)))
    emit({"id": entry.id, "kind": entry.kind}, as_json=as_json, columns=["id", "kind"], title="reply added")


@app.command("note")
def note(number: int = typer.Argument(..., help="Ticket number."),
         text: str = typer.Argument(..., help="The internal note."), tenant: str = TenantOption,
         by: str = ByOption, as_json: bool = JsonOption) -> None:
    """Add an internal note."""
    body = _body(schemas.Reply, body=text)
    entry = _in_tenant(tenant, lambda s, scope: service.note(s, scope, number, body, actor=cli_actor(by)))
    emit({"id": entry.id, "kind": entry.kind}, as_json=as_json, columns=["id", "kind"], title="note added")


@app.command("assign")
def assign(number: int = typer.Argument(..., help="Ticket number."), tenant: str = TenantOption,
           user: str = typer.Option(None, "--user", help="A user's e-mail."),
           team: str = typer.Option(None, "--team", help="A team key from support.teams."),
           by: str = ByOption, as_json: bool = JsonOption) -> None:
    """Assign the ticket to a user or a team."""
    body = _body(schemas.Assign, user=user, team=team)
    ticket = _in_tenant(tenant, lambda s, scope: service.assign(s, scope, number, body, actor=cli_actor(by)))
    emit(_row(service.view(ticket)), as_json=as_json, columns=COLUMNS, title="assigned")


@app.command("status")
def status(number: int = typer.Argument(..., help="Ticket number."),
           new_status: str = typer.Argument(..., metavar="STATUS", help="open, pending, resolved or closed."),
           tenant: str = TenantOption,
           note_text: str = typer.Option(None, "--note", help="Why (lands on the timeline)."),
           structural: bool = typer.Option(None, "--structural-problem/--no-structural-problem",
                                           help="On close: file a Jira bug and tell customer success."),
           by: str = ByOption, as_json: bool = JsonOption) -> None:
    """Change the status (pending pauses the SLA clock; closing files the retro of a P1/P2 incident)."""
    body = _body(schemas.StatusChange, status=new_status, note=note_text, structural_problem=structural)
    ticket = _in_tenant(tenant, lambda s, scope: service.change_status(s, scope, number, body, actor=cli_actor(by)))
    emit(_row(service.view(ticket)), as_json=as_json, columns=COLUMNS, title="status changed")


@app.command("priority")
def priority(number: int = typer.Argument(..., help="Ticket number."),
             new_priority: str = typer.Argument(..., metavar="PRIORITY", help="P1, P2 or P3."),
             tenant: str = TenantOption, by: str = ByOption, as_json: bool = JsonOption) -> None:
    """Change the priority (new SLA targets and that priority's escalation path)."""
    body = _body(schemas.PriorityChange, priority=new_priority)
    ticket = _in_tenant(tenant, lambda s, scope: service.change_priority(s, scope, number, body, actor=cli_actor(by)))
    emit(_row(service.view(ticket)), as_json=as_json, columns=COLUMNS, title="priority changed")


@app.command("link")
def link(number: int = typer.Argument(..., help="Ticket number."),
         target_type: str = typer.Argument(..., metavar="TYPE", help="lead, deal, run or alert."),
         ref: str = typer.Argument(..., help="The id (lead, deal, run) or the alert's fingerprint."),
         tenant: str = TenantOption, by: str = ByOption, as_json: bool = JsonOption) -> None:
    """Link a lead, deal, run or alert to the ticket."""
    body = _body(schemas.LinkCreate, type=target_type, ref=ref)
    row = _in_tenant(tenant, lambda s, scope: service.link(s, scope, number, body, actor=cli_actor(by)))
    emit({"type": row.target_type, "ref": row.target_ref}, as_json=as_json, columns=["type", "ref"], title="linked")


@app.command("tick")
def tick(number: int = typer.Argument(..., help="Ticket number."),
         runbook: str = typer.Argument(..., help="Runbook key, e.g. 2.2."),
         step: int = typer.Argument(..., help="Step number."), tenant: str = TenantOption,
         output: str = typer.Option("", "--output", help="What the step showed (lands on the timeline)."),
         by: str = ByOption, as_json: bool = JsonOption) -> None:
    """Tick a runbook step on the ticket (who and when are recorded)."""
    body = _body(schemas.RunbookTickCreate, runbook_key=runbook, step=step, output=output)
    row = _in_tenant(tenant, lambda s, scope: service.tick_step(s, scope, number, body, actor=cli_actor(by)))
    emit({"runbook": row.runbook_key, "step": row.step_number, "by": row.ticked_by}, as_json=as_json,
         columns=["runbook", "step", "by"], title="step ticked")


@app.command("breaches")
def breaches(tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """SLA breaches per team and priority."""
    rows = _in_tenant(tenant, lambda s, scope: repository.breach_counts(s, scope))
    emit(rows, as_json=as_json, columns=["team", "priority", "target", "breaches"], title="SLA breaches")


@app.command("retry-dispatch")
def retry_dispatch(dispatch_id: int = typer.Argument(..., help="The dispatch id (see `crm tickets show`)."),
                   tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Queue a dead or skipped vendor call or notification again."""
    row = _in_tenant(tenant, lambda s, scope: dispatch.requeue(s, scope, dispatch_id))
    emit({"id": row.id, "action": row.action, "status": row.status}, as_json=as_json,
         columns=["id", "action", "status"], title="queued again")


@app.command("deliver")
def deliver(as_json: bool = JsonOption) -> None:
    """Deliver due vendor escalations and notifications now (workers do this every minute)."""

    async def work() -> dict[str, int]:
        async with one_off_session() as session:
            return await dispatch.deliver_due(session, clock.now())

    emit(run_async(work), as_json=as_json, columns=["done", "skipped", "retry", "dead"], title="delivered")
