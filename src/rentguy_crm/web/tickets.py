"""Screen 8, Tickets (`/tickets`): the desk's queues per team and priority with their SLA clocks in working time,
and one ticket (`/tickets/{number}`) with its RACI badges, runbook checklist, timeline of public replies and
internal notes, status changes and escalation paths. Every action goes through `support.service`, as the API's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.errors import AppError
from rentguy_crm.kit import clock
from rentguy_crm.kit.pagination import PageParams, page_params
from rentguy_crm.support import repository as desk_records
from rentguy_crm.support import runbooks
from rentguy_crm.support import schemas as desk_schemas
from rentguy_crm.support import service as desk
from rentguy_crm.support.sla import calendar_for, support_settings
from rentguy_crm.support.working_time import WorkingCalendar
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.tenants.sections.support import SupportSettings
from rentguy_crm.web import desk_view
from rentguy_crm.web.access import form_of, require_page
from rentguy_crm.web.rendering import render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.TICKETS_READ))]
Writer = Annotated[Principal, Depends(require_page(Permission.TICKETS_WRITE))]
Paging = Annotated[PageParams, Depends(page_params)]
Number = Annotated[int, Path(ge=1, le=2_000_000_000)]
TeamQuery = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
PriorityQuery = Annotated[str | None, Query(pattern=r"^P[123]$")]
StatusQuery = Annotated[str | None, Query(pattern=r"^(new|open|pending|resolved|closed|active)$")]
Change = Callable[[], Awaitable[None]]
PAGE_SIZE = 25


async def _desk(session: Session, scope: TenantScope) -> tuple[SupportSettings, WorkingCalendar]:
    tenant = await desk_records.tenant(session, scope)
    settings = support_settings(tenant.config)
    return settings, calendar_for(settings, tenant.timezone)


def _query(team: str | None, priority: str | None, status: str | None) -> dict[str, str]:
    values = {"team": team, "priority": priority, "status": status}
    return {name: value for name, value in values.items() if value}


@router.get("/tickets")
async def queues(request: Request, principal: Reader, session: Session, team: TeamQuery = None,
                 priority: PriorityQuery = None, status: StatusQuery = "active") -> HTMLResponse:
    settings, _calendar = await _desk(session, principal.scope)
    query = _query(team, priority, status)
    return render(request, "desk/queues.html", {
        "active": "tickets", "teams": sorted(settings.teams), "team": team, "priority": priority,
        "status": status, "list_url": "/ui/tickets/list" + (f"?{urlencode(query)}" if query else ""),
        **_new_ticket_choices(settings, principal)})


def _new_ticket_choices(settings: SupportSettings, principal: Principal) -> dict[str, object]:
    return {"can_write": principal.can(Permission.TICKETS_WRITE), "activities": sorted(settings.raci),
            "runbooks": [(book.key, book.title) for book in runbooks.runbooks().values()]}


@router.post("/ui/tickets")
async def open_ticket(request: Request, principal: Writer, session: Session) -> HTMLResponse:
    """Open a ticket as the API does (routed by the RACI, its escalation queued); then go to its page."""
    fields = await form_of(request)
    try:
        async with session.begin_nested():
            body = desk_view.form_model(desk_schemas.TicketCreate, {
                name: fields[name] for name in ("subject", "description", "activity", "priority", "runbook_key")
                if fields.get(name)})
            ticket = await desk.create_ticket(session, principal.scope, body, actor=principal.actor)
    except AppError as exc:
        settings, _calendar = await _desk(session, principal.scope)
        return render(request, "desk/fragments/new_ticket.html", {
            "problem": exc, "form": fields, **_new_ticket_choices(settings, principal)}, status=exc.status)
    return HTMLResponse("", headers={"HX-Redirect": f"/tickets/{ticket.number}"})


@router.get("/ui/tickets/list")
async def ticket_list(request: Request, principal: Reader, session: Session, paging: Paging,
                      team: TeamQuery = None, priority: PriorityQuery = None,
                      status: StatusQuery = None) -> HTMLResponse:
    page_size = min(paging.limit, PAGE_SIZE)
    page = await desk.list_tickets(session, principal.scope, status=status, priority=priority, team=team,
                                   sort="due", page=PageParams(limit=page_size, offset=paging.offset))
    _settings, calendar = await _desk(session, principal.scope)
    now = clock.now()
    query = _query(team, priority, status)
    return render(request, "desk/fragments/ticket_list.html", {
        "page": page, "clocks": {t.number: desk_view.sla_clock(t, calendar, now) for t in page.items},
        "query": query, "filtered": bool(set(query) - {"status"}),
        "previous_offset": max(page.offset - page_size, 0) if page.offset else None,
        "next_offset": page.offset + page_size if page.offset + page_size < page.total else None})


async def _detail(request: Request, session: Session, principal: Principal, number: int,
                  template: str = "desk/fragments/ticket_detail.html", notice: str | None = None,
                  problem: AppError | None = None) -> HTMLResponse:
    detail = await desk.detail(session, principal.scope, number)
    settings, calendar = await _desk(session, principal.scope)
    runbook, steps = desk_view.checklist(detail, principal.tenant_slug)
    return render(request, template, {
        "active": "tickets", "ticket": detail, "clock": desk_view.sla_clock(detail, calendar, clock.now()),
        "raci": desk_view.raci_of(detail, settings), "runbook": runbook, "steps": steps, "notice": notice,
        "problem": problem, "can_write": principal.can(Permission.TICKETS_WRITE),
        "status_actions": [(status, desk_view.STATUS_ACTIONS[status])
                           for status in sorted(desk_schemas.TRANSITIONS[detail.status])
                           if status in desk_view.STATUS_ACTIONS],
        "escalations": [(p, label) for p, label in desk_view.ESCALATIONS if p != detail.priority]},
        status=problem.status if problem else 200)


async def _act(request: Request, session: Session, principal: Principal, number: int, change: Change,
               notice: str) -> HTMLResponse:
    """Run one desk change and show the ticket again; a refused change (closed ticket, step already ticked, an
    empty reply) is undone (a savepoint) and shown above the ticket, which stays on screen."""
    try:
        async with session.begin_nested():
            await change()
    except AppError as exc:
        return await _detail(request, session, principal, number, problem=exc)
    return await _detail(request, session, principal, number, notice=notice)


@router.get("/tickets/{number}")
async def ticket_page(request: Request, number: Number, principal: Reader, session: Session) -> HTMLResponse:
    return await _detail(request, session, principal, number, "desk/ticket.html")


@router.get("/ui/tickets/{number}")
async def ticket_detail(request: Request, number: Number, principal: Reader, session: Session) -> HTMLResponse:
    return await _detail(request, session, principal, number)


@router.post("/ui/tickets/{number}/replies")
async def reply(request: Request, number: Number, principal: Writer, session: Session) -> HTMLResponse:
    fields = await form_of(request)

    async def change() -> None:
        body = desk_view.form_model(desk_schemas.Reply, {"body": fields.get("body", "")})
        await desk.reply(session, principal.scope, number, body, actor=principal.actor)

    return await _act(request, session, principal, number, change, "Reply sent.")


@router.post("/ui/tickets/{number}/notes")
async def note(request: Request, number: Number, principal: Writer, session: Session) -> HTMLResponse:
    fields = await form_of(request)

    async def change() -> None:
        body = desk_view.form_model(desk_schemas.Reply, {"body": fields.get("body", "")})
        await desk.note(session, principal.scope, number, body, actor=principal.actor)

    return await _act(request, session, principal, number, change, "Internal note added.")


@router.post("/ui/tickets/{number}/runbook")
async def tick(request: Request, number: Number, principal: Writer, session: Session) -> HTMLResponse:
    fields = await form_of(request)

    async def change() -> None:
        body = desk_view.form_model(desk_schemas.RunbookTickCreate, {
            "runbook_key": fields.get("runbook_key", ""), "step": fields.get("step", "")})
        await desk.tick_step(session, principal.scope, number, body, actor=principal.actor)

    return await _act(request, session, principal, number, change, "Runbook step done.")


@router.post("/ui/tickets/{number}/status")
async def change_status(request: Request, number: Number, principal: Writer, session: Session) -> HTMLResponse:
    fields = await form_of(request)

    async def change() -> None:
        body = desk_view.form_model(desk_schemas.StatusChange, {"status": fields.get("status", "")})
        await desk.change_status(session, principal.scope, number, body, actor=principal.actor)

    return await _act(request, session, principal, number, change, "Status changed.")


@router.post("/ui/tickets/{number}/priority")
async def escalate(request: Request, number: Number, principal: Writer, session: Session) -> HTMLResponse:
    fields = await form_of(request)

    async def change() -> None:
        body = desk_view.form_model(desk_schemas.PriorityChange, {"priority": fields.get("priority", "")})
        await desk.change_priority(session, principal.scope, number, body, actor=principal.actor)

    return await _act(request, session, principal, number, change, "Priority changed; its escalation is queued.")
