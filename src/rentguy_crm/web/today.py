"""Screen 1, Today (`/`): new leads, my open tasks, open tickets by priority with their SLA clocks, and the
automations (failure rate per workflow against the 2% line, dead runs, paused workflows). Each card loads as its
own fragment, so one that fails or is not allowed leaves the others standing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from rentguy_crm.auth import repository as users
from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.automation.runs import service as runs
from rentguy_crm.automation.runs.status import FAILURE_THRESHOLD, automation_health
from rentguy_crm.crm import repository as crm_records
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.crm import service as crm
from rentguy_crm.kit import clock
from rentguy_crm.kit.pagination import PageParams
from rentguy_crm.support import service as support
from rentguy_crm.web.access import require_page
from rentguy_crm.web.rendering import render

router = APIRouter(include_in_schema=False)
CrmReader = Annotated[Principal, Depends(require_page(Permission.CRM_READ))]
RunReader = Annotated[Principal, Depends(require_page(Permission.AUTOMATION_READ))]
TicketReader = Annotated[Principal, Depends(require_page(Permission.TICKETS_READ))]
CARD_SIZE = 10
PRIORITY_ORDER = {"P1": 0, "P2": 1, "P3": 2}


@router.get("/")
async def today(request: Request, principal: CrmReader) -> HTMLResponse:
    cards = [("new-leads", "/ui/today/new-leads", "sse:lead-captured")]
    cards.append(("my-tasks", "/ui/today/my-tasks", ""))
    if principal.can(Permission.TICKETS_READ):
        cards.append(("tickets", "/ui/today/tickets", "sse:ticket-changed"))
    if principal.can(Permission.AUTOMATION_READ):
        cards.append(("automations", "/ui/today/automations", "sse:run-finished"))
    return render(request, "today.html", {"active": "today", "cards": cards})


@router.get("/ui/today/new-leads")
async def new_leads(request: Request, principal: CrmReader, session: Session) -> HTMLResponse:
    page = await crm.list_leads(session, principal, crm_schemas.LeadFilters(status="new"), "-created_at",
                                PageParams(limit=CARD_SIZE, offset=0))
    people = await crm_records.contacts_by_ids(session, principal.scope, [lead.contact_id for lead in page.items])
    return render(request, "fragments/today_new_leads.html", {"page": page, "people": people})


@router.get("/ui/today/my-tasks")
async def my_tasks(request: Request, principal: CrmReader, session: Session) -> HTMLResponse:
    user = await users.get_user(session, principal.tenant_id, principal.user_id) if principal.user_id else None
    tasks = None
    if user is not None and user.email:
        tasks = await crm.list_activities(session, principal, crm_schemas.ActivityFilters(
            kind="task", status="open", owner=user.email), "due_at", PageParams(limit=CARD_SIZE, offset=0))
    return render(request, "fragments/today_my_tasks.html", {"tasks": tasks, "now": clock.now()})


@router.get("/ui/today/tickets")
async def open_tickets(request: Request, principal: TicketReader, session: Session) -> HTMLResponse:
    page = await support.list_tickets(session, principal.scope, status="active", sort="due",
                                      page=PageParams(limit=CARD_SIZE * 3, offset=0))
    tickets = sorted(page.items, key=lambda t: (PRIORITY_ORDER.get(t.priority, 9), t.number))[:CARD_SIZE]
    return render(request, "fragments/today_tickets.html", {"tickets": tickets, "total": page.total,
                                                            "now": clock.now()})


@router.get("/ui/today/automations")
async def automations(request: Request, principal: RunReader, session: Session) -> HTMLResponse:
    health = await automation_health(session, clock.now(), principal.scope)
    dead, dead_total = await runs.list_runs(session, principal.scope, status="dead", limit=CARD_SIZE)
    return render(request, "fragments/today_automations.html", {
        "workflows": health["workflows"], "line": FAILURE_THRESHOLD, "dead": dead, "dead_total": dead_total})
